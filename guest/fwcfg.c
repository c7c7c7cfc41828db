/*
 * fwcfg: reads QEMU's fw_cfg as firmware does and prints what it finds.
 *
 * Through the ports (selector 0x510, data 0x511): the signature, the ID, the
 * CPU count, the RAM size and the file directory; then, through the DMA
 * interface (0x514/0x518), the content of every file under "opt/" and the
 * e820 map, and one DMA read aimed outside RAM, which must come back with the
 * error bit.  Without fw_cfg it prints "no fw_cfg".  Ends with 0x27
 * (status 79); a failed check ends with 0x01 (status 3).
 */
#include "hyve-guest.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA     0x511
#define FW_CFG_DMA_HIGH 0x514
#define FW_CFG_DMA_LOW  0x518

#define KEY_SIGNATURE 0x00
#define KEY_ID        0x01
#define KEY_RAM_SIZE  0x03
#define KEY_NB_CPUS   0x05
#define KEY_FILE_DIR  0x19

#define DMA_ERROR  0x01
#define DMA_READ   0x02
#define DMA_SELECT 0x08

/* Outside RAM for any memory size the tests use: the PCI hole. */
#define NOT_RAM 0xD0000000UL

struct dma_access {
    uint32_t control;
    uint32_t length;
    uint64_t address;
} __attribute__((packed));

static struct dma_access access __attribute__((aligned(16)));
static uint8_t buffer[4096];

static void select_item(uint16_t key)
{
    outw(FW_CFG_SELECTOR, key);
}

static void read_bytes(void *to, unsigned n)
{
    uint8_t *p = to;
    while (n-- > 0)
        *p++ = inb(FW_CFG_DATA);
}

static uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }

/* Reads `length` bytes of item `key` into `to` by DMA; returns the control word. */
static uint32_t dma_read(uint16_t key, void *to, uint32_t length)
{
    uint64_t address = (uintptr_t)&access;

    access.control = be32(((uint32_t)key << 16) | DMA_SELECT | DMA_READ);
    access.length = be32(length);
    access.address = __builtin_bswap64((uintptr_t)to);
    outl(FW_CFG_DMA_HIGH, be32((uint32_t)(address >> 32)));
    outl(FW_CFG_DMA_LOW, be32((uint32_t)address));
    return be32(access.control);
}

static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

int main(unsigned long vcpu)
{
    char signature[4];
    uint32_t id, count;
    uint16_t cpus;
    uint64_t ram;

    if (vcpu != 0)
        halt_forever();

    select_item(KEY_SIGNATURE);
    read_bytes(signature, 4);
    if (signature[0] != 'Q' || signature[1] != 'E' || signature[2] != 'M' || signature[3] != 'U') {
        puts("no fw_cfg\n");
        debug_exit(0x27);
    }
    select_item(KEY_ID);
    read_bytes(&id, 4);
    select_item(KEY_NB_CPUS);
    read_bytes(&cpus, 2);
    select_item(KEY_RAM_SIZE);
    read_bytes(&ram, 8);
    puts("id ");
    put_hex(id, 1);
    puts(" cpus ");
    put_dec(cpus, 0);
    puts(" ram ");
    put_hex(ram, 8);
    putc('\n');

    select_item(KEY_FILE_DIR);
    read_bytes(&count, 4);
    count = be32(count);
    for (uint32_t i = 0; i < count; i++) {
        struct {
            uint32_t size;
            uint16_t select;
            uint16_t reserved;
            char name[56];
        } __attribute__((packed)) file;
        uint16_t key;
        uint32_t size;

        /* The directory stays selected: DMA below reads files by selector. */
        select_item(KEY_FILE_DIR);
        read_bytes(buffer, 4 + i * sizeof(file));
        read_bytes(&file, sizeof(file));
        size = be32(file.size);
        key = (uint16_t)((file.select >> 8) | (file.select << 8));
        puts("file ");
        puts(file.name);
        putc(' ');
        put_dec(size, 0);
        if (starts_with(file.name, "opt/") && size <= sizeof(buffer)) {
            uint32_t control = dma_read(key, buffer, size);
            if (control != 0) {
                puts(" dma control ");
                put_hex(control, 8);
                putc('\n');
                debug_exit(0x01);
            }
            puts(": ");
            for (uint32_t j = 0; j < size; j++)
                putc(buffer[j] >= 0x20 && buffer[j] < 0x7F ? (char)buffer[j] : '.');
        }
        putc('\n');
        if (starts_with(file.name, "etc/e820") && size <= sizeof(buffer)) {
            if (dma_read(key, buffer, size) != 0)
                debug_exit(0x01);
            for (uint32_t j = 0; j + 20 <= size; j += 20) {
                uint64_t base = *(uint64_t *)&buffer[j];
                uint64_t length = *(uint64_t *)&buffer[j + 8];
                uint32_t type = *(uint32_t *)&buffer[j + 16];
                puts("e820 ");
                put_hex(base, 9);
                putc(' ');
                put_hex(length, 9);
                putc(' ');
                put_dec(type, 0);
                putc('\n');
            }
        }
    }

    if ((dma_read(KEY_SIGNATURE, (void *)NOT_RAM, 4) & DMA_ERROR) == 0) {
        puts("dma outside RAM did not fail\n");
        debug_exit(0x01);
    }
    puts("fw_cfg ok\n");
    debug_exit(0x27);
}
