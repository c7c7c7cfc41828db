/*
 * unclaimed: checks that accesses nobody claims behave like an empty bus.
 * Port 0x9F0 and MMIO 0xD0000000 (above RAM, below 4 GiB) must read as all
 * ones at every width and swallow writes.  Success: "unclaimed ok", 0x25
 * (status 75).  Any mismatch is printed and ends with 0x01 (status 3).
 */
#include "hyve-guest.h"

#define PORT 0x9F0
#define MMIO 0xD0000000UL

static unsigned failures;

static void check(const char *what, uint64_t got, uint64_t want, unsigned digits)
{
    if (got == want)
        return;
    puts(what);
    puts(": got ");
    put_hex(got, digits);
    puts(", want ");
    put_hex(want, digits);
    putc('\n');
    failures++;
}

int main(unsigned long vcpu)
{
    if (vcpu != 0)
        halt_forever();

    check("inb", inb(PORT), 0xFF, 2);
    check("inw", inw(PORT), 0xFFFF, 4);
    check("inl", inl(PORT), 0xFFFFFFFF, 8);
    outb(PORT, 0x12);
    outw(PORT, 0x1234);
    outl(PORT, 0x12345678);
    check("inl after write", inl(PORT), 0xFFFFFFFF, 8);

    check("mmio8", mmio_read8(MMIO), 0xFF, 2);
    check("mmio16", mmio_read16(MMIO), 0xFFFF, 4);
    check("mmio32", mmio_read32(MMIO), 0xFFFFFFFF, 8);
    check("mmio64", mmio_read64(MMIO), ~0ULL, 16);
    mmio_write32(MMIO, 0x12345678);
    check("mmio32 after write", mmio_read32(MMIO), 0xFFFFFFFF, 8);

    if (failures != 0)
        debug_exit(0x01);
    puts("unclaimed ok\n");
    debug_exit(0x25);
}
