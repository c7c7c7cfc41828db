/*
 * hyve-guest.h: tiny freestanding helpers for 64-bit Hyve guest programs.
 *
 * Port/MMIO accessors are written as single instructions in inline asm so
 * that each access is exactly one I/O or MMIO exit of the stated width
 * (a plain volatile dereference would let the compiler pick the encoding).
 */
#ifndef HYVE_GUEST_H
#define HYVE_GUEST_H

#include <stdint.h>

#define HYVE_PORT_CONSOLE    0xE9   /* debug console: each byte is printed */
#define HYVE_PORT_DEBUG_EXIT 0xF4   /* isa-debug-exit: status (v<<1)|1 */
#define HYVE_PORT_RESET      0xCF9  /* write 0x6 to reset the machine */

/* ---- port I/O ----------------------------------------------------------- */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

/* ---- MMIO (addresses are guest-physical = virtual: identity mapped) ------ */

static inline uint8_t mmio_read8(uintptr_t addr)
{
    uint8_t v;
    __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint16_t mmio_read16(uintptr_t addr)
{
    uint16_t v;
    __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint64_t mmio_read64(uintptr_t addr)
{
    uint64_t v;
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write8(uintptr_t addr, uint8_t v)
{
    __asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(addr) : "memory");
}

static inline void mmio_write16(uintptr_t addr, uint16_t v)
{
    __asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
    __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline void mmio_write64(uintptr_t addr, uint64_t v)
{
    __asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

/* ---- console and exit --------------------------------------------------- */

static inline void putc(char c)
{
    outb(HYVE_PORT_CONSOLE, (uint8_t)c);
}

static inline void puts(const char *s)   /* no newline appended */
{
    while (*s)
        putc(*s++);
}

/* Prints "0x" and the low `digits` hex digits of v (1..16). */
static inline void put_hex(uint64_t v, unsigned digits)
{
    putc('0');
    putc('x');
    while (digits-- > 0)
        putc("0123456789abcdef"[(v >> (digits * 4)) & 0xF]);
}

__attribute__((noreturn)) static inline void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

/* Ends the VM with process exit status (v<<1)|1. */
__attribute__((noreturn)) static inline void debug_exit(uint8_t v)
{
    outb(HYVE_PORT_DEBUG_EXIT, v);
    halt_forever();     /* only if the VMM did not stop us */
}

/* Prints v in decimal, zero-padded to at least `width` digits (0 = none). */
static inline void put_dec(uint64_t v, unsigned width)
{
    char buf[20];
    unsigned n = 0;

    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width && n < sizeof(buf))
        buf[n++] = '0';
    while (n > 0)
        putc(buf[--n]);
}

/* ---- interrupts (irq64.S) ------------------------------------------------ */

/*
 * idt_init() builds a 256-entry IDT of 64-bit interrupt gates (IF is clear
 * inside a handler) and loads IDTR.  Vectors 32-255 call irq_handler(),
 * which the program defines, and return with iretq; exceptions 0-31 print
 * "exception 0xVV error 0x... rip 0x..." and exit with 0x01, except the
 * NMI when the program defines nmi_handler(): then that runs.  The entry
 * code saves the caller-saved registers only, so handlers are plain C.
 */
void idt_init(void);
void irq_handler(uint64_t vector);
void nmi_handler(void);

static inline void sti(void)
{
    __asm__ volatile("sti" : : : "memory");
}

static inline void cli(void)
{
    __asm__ volatile("cli" : : : "memory");
}

/* For irq_handler: a vector the program did not arm ends the test. */
__attribute__((noreturn)) static inline void irq_unexpected(uint64_t vector)
{
    puts("unexpected interrupt vector ");
    put_hex(vector, 2);
    putc('\n');
    debug_exit(0x01);
}

/* ---- ACPI PM timer: 32-bit, 3 579 545 Hz, the time base of the tests ----- */

#define PM_TMR_PORT 0x408
#define PM_TMR_HZ   3579545u
#define PM_TMR_TICKS_MS(ms) ((uint32_t)(((uint64_t)(ms) * PM_TMR_HZ + 999) / 1000))

static inline uint32_t pm_timer(void)
{
    return inl(PM_TMR_PORT);
}

/* Ticks since `start`; unsigned 32-bit subtraction handles the wrap. */
static inline uint32_t pm_elapsed(uint32_t start)
{
    return pm_timer() - start;
}

static inline uint32_t pm_ticks_to_ms(uint32_t ticks)
{
    return (uint32_t)((uint64_t)ticks * 1000 / PM_TMR_HZ);
}

static inline void pm_delay_ms(uint32_t ms)
{
    uint32_t start = pm_timer();

    while (pm_elapsed(start) < PM_TMR_TICKS_MS(ms))
        ;
}

/*
 * Every test times itself with the PM timer, so it must count: stop with
 * 0x01 if 1000 reads in a row (at least ~1 ms of VM exits) all agree.
 */
static inline void pm_timer_require(void)
{
    uint32_t first = pm_timer();

    for (unsigned i = 0; i < 1000; i++)
        if (pm_timer() != first)
            return;
    puts("pm timer: stuck at ");
    put_hex(first, 8);
    putc('\n');
    debug_exit(0x01);
}

/* Polls until *count reaches `want`: 1, or 0 if `ms` pass first. */
static inline int wait_count(volatile uint32_t *count, uint32_t want, uint32_t ms)
{
    uint32_t start = pm_timer();

    while (*count < want)
        if (pm_elapsed(start) >= PM_TMR_TICKS_MS(ms))
            return *count >= want;
    return 1;
}

/* ---- dual 8259A ---------------------------------------------------------- */

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1
#define PIC_ELCR1 0x4D0
#define PIC_ELCR2 0x4D1
#define PIC_EOI   0x20      /* OCW2: non-specific EOI */

/*
 * Initialises the pair: edge triggered, cascaded (slave on master IRQ 2),
 * 8086 mode, normal EOI, vectors base1+0..7 and base2+0..7, then the given
 * masks (bit set = IRQ masked).  The ELCR is set to all-edge too.
 */
static inline void pic_init(uint8_t base1, uint8_t base2, uint8_t mask1, uint8_t mask2)
{
    outb(PIC1_CMD, 0x11);       /* ICW1: edge, cascade, ICW4 follows */
    outb(PIC1_DATA, base1);     /* ICW2: vector base */
    outb(PIC1_DATA, 0x04);      /* ICW3: slave on IRQ 2 */
    outb(PIC1_DATA, 0x01);      /* ICW4: 8086 mode */
    outb(PIC2_CMD, 0x11);
    outb(PIC2_DATA, base2);
    outb(PIC2_DATA, 0x02);      /* ICW3: slave id 2 */
    outb(PIC2_DATA, 0x01);
    outb(PIC_ELCR1, 0x00);
    outb(PIC_ELCR2, 0x00);
    outb(PIC1_DATA, mask1);     /* OCW1 */
    outb(PIC2_DATA, mask2);
}

static inline uint8_t pic_irr(uint16_t cmd)
{
    outb(cmd, 0x0A);            /* OCW3: read IRR */
    return inb(cmd);
}

static inline uint8_t pic_isr(uint16_t cmd)
{
    outb(cmd, 0x0B);            /* OCW3: read ISR */
    return inb(cmd);
}

/* Prints "pic: irr 0x.. isr 0x.. imr 0x.. / ..." (master / slave). */
static inline void pic_dump(void)
{
    puts("pic: irr ");
    put_hex(pic_irr(PIC1_CMD), 2);
    putc('/');
    put_hex(pic_irr(PIC2_CMD), 2);
    puts(" isr ");
    put_hex(pic_isr(PIC1_CMD), 2);
    putc('/');
    put_hex(pic_isr(PIC2_CMD), 2);
    puts(" imr ");
    put_hex(inb(PIC1_DATA), 2);
    putc('/');
    put_hex(inb(PIC2_DATA), 2);
    putc('\n');
}

/* ---- local APIC (xAPIC, 0xFEE00000) -------------------------------------- */

#define LAPIC_BASE 0xFEE00000UL
#define LAPIC_ID   0x020
#define LAPIC_VER  0x030
#define LAPIC_TPR  0x080
#define LAPIC_EOI  0x0B0
#define LAPIC_SVR  0x0F0
#define LAPIC_ISR  0x100    /* 8 registers, 0x10 apart: vectors 32n..32n+31 */
#define LAPIC_IRR  0x200
#define LAPIC_LVT0 0x350

#define LAPIC_LVT_EXTINT 0x00700
#define LAPIC_LVT_MASKED 0x10000

static inline uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(LAPIC_BASE + reg, v);
}

static inline void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/*
 * Software-enables the APIC (SVR = 0x1FF: spurious vector 0xFF) first,
 * because LVT writes cannot unmask while it is disabled, then accepts all
 * priorities (TPR 0) and sets LVT0.
 */
static inline void lapic_enable(uint32_t lvt0)
{
    lapic_write(LAPIC_SVR, 0x1FF);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT0, lvt0);
}

/* Bit `vector` of the ISR or IRR bank at `base` (LAPIC_ISR, LAPIC_IRR). */
static inline int lapic_vector_bit(uint32_t base, uint8_t vector)
{
    return (lapic_read(base + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

/* ---- I/O APIC (0xFEC00000) ----------------------------------------------- */

#define IOAPIC_BASE  0xFEC00000UL
#define IOAPIC_VER   0x01
#define IOAPIC_RTE(pin) (0x10 + 2 * (pin))   /* low half; high half is +1 */

#define IOAPIC_RTE_PENDING    (1u << 12)  /* delivery status */
#define IOAPIC_RTE_ACTIVE_LOW (1u << 13)
#define IOAPIC_RTE_REMOTE_IRR (1u << 14)
#define IOAPIC_RTE_LEVEL      (1u << 15)
#define IOAPIC_RTE_MASKED     (1u << 16)

static inline uint32_t ioapic_read(uint32_t index)
{
    mmio_write32(IOAPIC_BASE + 0x00, index);
    return mmio_read32(IOAPIC_BASE + 0x10);
}

static inline void ioapic_write(uint32_t index, uint32_t v)
{
    mmio_write32(IOAPIC_BASE + 0x00, index);
    mmio_write32(IOAPIC_BASE + 0x10, v);
}

/* Physical destination APIC `dest`, fixed delivery; `low` last (it unmasks). */
static inline void ioapic_route(unsigned pin, uint32_t low, uint8_t dest)
{
    ioapic_write(IOAPIC_RTE(pin) + 1, (uint32_t)dest << 24);
    ioapic_write(IOAPIC_RTE(pin), low);
}

/* Number of pins (max redirection entry + 1). */
static inline unsigned ioapic_pins(void)
{
    return ((ioapic_read(IOAPIC_VER) >> 16) & 0xFF) + 1;
}

/* ---- HPET (0xFED00000); every access is 32 bits wide --------------------- */

#define HPET_BASE       0xFED00000UL
#define HPET_GCAP_ID    0x000   /* rev, timers-1 (8-12), vendor (16-31) */
#define HPET_PERIOD     0x004   /* main counter period in fs */
#define HPET_GEN_CONF   0x010   /* bit 0 enable, bit 1 legacy replacement */
#define HPET_GINTR_STA  0x020   /* level interrupt status, write 1 to clear */
#define HPET_COUNTER    0x0F0
#define HPET_TN_CONF(n)      (0x100 + 0x20 * (n))
#define HPET_TN_ROUTE_CAP(n) (0x104 + 0x20 * (n))  /* bit p: may route to pin p */
#define HPET_TN_CMP(n)       (0x108 + 0x20 * (n))
#define HPET_TN_FSB_DATA(n)  (0x110 + 0x20 * (n))
#define HPET_TN_FSB_ADDR(n)  (0x114 + 0x20 * (n))

#define HPET_TN_LEVEL    (1u << 1)
#define HPET_TN_INT_EN   (1u << 2)
#define HPET_TN_PERIODIC (1u << 3)
#define HPET_TN_PER_CAP  (1u << 4)
#define HPET_TN_VAL_SET  (1u << 6)
#define HPET_TN_ROUTE(p) ((uint32_t)(p) << 9)
#define HPET_TN_FSB_EN   (1u << 14)
#define HPET_TN_FSB_CAP  (1u << 15)

static inline uint32_t hpet_read(uint32_t reg)
{
    return mmio_read32(HPET_BASE + reg);
}

static inline void hpet_write(uint32_t reg, uint32_t v)
{
    mmio_write32(HPET_BASE + reg, v);
}

/*
 * Checks that timer `n` exists and has every capability bit in `caps`
 * (HPET_TN_PER_CAP, HPET_TN_FSB_CAP); prints what is missing, prefixed by
 * `who`, and exits with 0x01 otherwise.  Returns the main-counter ticks in
 * `ms` milliseconds.
 */
static inline uint32_t hpet_require(const char *who, unsigned n, uint32_t caps, uint32_t ms)
{
    uint32_t id = hpet_read(HPET_GCAP_ID);
    uint32_t period = hpet_read(HPET_PERIOD);
    uint32_t conf;

    /* The spec allows periods of 1..100 000 000 fs (at most 100 ns). */
    if (id == 0xFFFFFFFF || period == 0 || period > 100000000) {
        puts(who);
        puts(": no HPET (id ");
        put_hex(id, 8);
        puts(", period ");
        put_dec(period, 0);
        puts(" fs)\n");
        debug_exit(0x01);
    }
    if (((id >> 8) & 0x1F) < n) {
        puts(who);
        puts(": HPET has no timer ");
        put_dec(n, 0);
        putc('\n');
        debug_exit(0x01);
    }
    conf = hpet_read(HPET_TN_CONF(n));
    if ((conf & caps) != caps) {
        puts(who);
        puts(": HPET timer ");
        put_dec(n, 0);
        puts(" config ");
        put_hex(conf, 8);
        puts(" lacks ");
        put_hex(caps & ~conf, 8);
        putc('\n');
        debug_exit(0x01);
    }
    return (uint32_t)((uint64_t)ms * 1000000000000ULL / period);
}

/* Prints the HPET state: "hpet: conf .. sta .. counter .. timer n conf .. cmp ..". */
static inline void hpet_dump(unsigned n)
{
    puts("hpet: gen_conf ");
    put_hex(hpet_read(HPET_GEN_CONF), 8);
    puts(" gintr_sta ");
    put_hex(hpet_read(HPET_GINTR_STA), 8);
    puts(" counter ");
    put_hex(hpet_read(HPET_COUNTER), 8);
    puts(" timer ");
    put_dec(n, 0);
    puts(" conf ");
    put_hex(hpet_read(HPET_TN_CONF(n)), 8);
    puts(" cmp ");
    put_hex(hpet_read(HPET_TN_CMP(n)), 8);
    putc('\n');
}

#endif /* HYVE_GUEST_H */
