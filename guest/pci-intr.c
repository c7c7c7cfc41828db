/*
 * pci-intr: PCI bus 0, its two configuration mechanisms and the three ways
 * a PCI function's interrupt reaches the CPU, all through "pci-testdev".
 *
 * pci-testdev is the bus 0 function with base class 0xFF.  Its BAR0 (32-bit
 * MMIO, 4 KiB) has: +0x00 write raises its interrupt (MSI-X vector 0 if
 * MSI-X is enabled, else MSI if enabled, else INTx asserted), +0x04 write
 * deasserts INTx, +0x08 reads the number of interrupts raised, +0x0C is a
 * scratch register.  BAR1 is 16 bytes of I/O, BAR2 the MSI-X table; it has
 * an MSI (64-bit, per-vector masking) and an MSI-X capability and uses INTA.
 *
 * Steps, one line each:
 *  1. Reads every vendor/device dword of bus 0 (slots 0-31, functions 0-7)
 *     through configuration mechanism #1 (0xCF8/0xCFC) and through ECAM
 *     (0xE0000000); the two must agree everywhere (all ones where nothing
 *     is), and a function above 0 needs a function 0.  Prints
 *         pci: testdev at 00:SS.F; N functions, same ids through conf1 and ECAM
 *  2. With memory and I/O decode off, sizes BAR0 (all ones must read back
 *     as 0xFFFFF000: 4 KiB, 32-bit, non-prefetchable memory) and restores
 *     it; BAR0 must be 4 KiB aligned in 0xC0000000-0xDFFFFFFF.  Then turns
 *     on I/O, memory and bus-master, INTx enabled, writing the command
 *     register through ECAM and reading it back through conf1, and checks
 *     that two values round-trip through the scratch register.  Prints
 *         pci: BAR0 0xc0000000 size 4096, scratch ok
 *  3. MSI: walks the capability list, programs the MSI capability with
 *     address 0xFEE00000 (physical, APIC 0) and data 0x50 (fixed, edge),
 *     vector 0 unmasked, MSI-X off, then enables it (8259A and LINT0
 *     masked).  Prints "pci: MSI received" and disables MSI again.
 *  4. INTx through the I/O APIC: the MP table (floating pointer "_MP_" in
 *     0xF0000-0xFFFFF, "PCMP" table) must route PCI bus 0 source IRQ
 *     slot << 2 | 0 (INTA) to a pin >= 16 of the I/O APIC at 0xFEC00000,
 *     active low and level (or conforming, which is the same on PCI).  That
 *     pin gets vector 0x51, level, active low, physical destination 0; the
 *     8259A stays fully masked.  The handler deasserts INTx through BAR0+4,
 *     then EOIs the local APIC.  After the EOI the pin's remote IRR must be
 *     clear.  Prints "pci: INTx on I/O APIC pin N" and masks the pin.
 *  5. INTx through the 8259A: the Interrupt Line register gives ISA IRQ n
 *     (3-7, 9-12, 14 or 15); the pair is remapped to 0x20/0x28 without
 *     touching the ELCR, which must already make IRQ n level; IRQ n (and
 *     IRQ 2 for the slave) is unmasked and LINT0 is ExtINT.  The handler
 *     deasserts INTx, then EOIs the slave (n >= 8) and the master.  Prints
 *     "pci: INTx on 8259A IRQ n".
 *  6. Prints "pci: ok" and exits with 0x40 (status 129).
 *
 * In steps 3-5 nothing may arrive in the 5 ms before the raise (a stale or
 * stuck line), the interrupt must come within 1 s, the device's count must
 * go up by exactly one, and no second delivery may follow within 10 ms,
 * with one exception for the I/O APIC (see ioapic-hpet.c): if the first
 * delivery finds its vector already retired from the local APIC's ISR, the
 * host reported the EOI while INTx was still asserted and the I/O APIC
 * rightly delivered once more.
 *
 * Any mismatch prints what was found (and the interrupt state) and exits
 * with 0x01 (status 3).
 */
#include "hyve-guest.h"

/* ---- configuration space ------------------------------------------------- */

#define PCI_CONF1_ADDR   0xCF8
#define PCI_CONF1_DATA   0xCFC
#define PCI_CONF1_ENABLE 0x80000000u
#define PCI_ECAM_BASE    0xE0000000UL

#define PCI_ID          0x00    /* vendor (15:0), device (31:16) */
#define PCI_COMMAND     0x04
#define PCI_STATUS      0x06
#define PCI_CLASS_BASE  0x0B
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0        0x10
#define PCI_CAP_PTR     0x34
#define PCI_INTR_LINE   0x3C
#define PCI_INTR_PIN    0x3D

#define PCI_CMD_IO           0x0001
#define PCI_CMD_MEMORY       0x0002
#define PCI_CMD_MASTER       0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_CAP_MSI  0x05
#define PCI_CAP_MSIX 0x11

/* MSI capability with 64-bit addresses and per-vector masking. */
#define MSI_CTRL        0x02
#define MSI_ADDR_LO     0x04
#define MSI_ADDR_HI     0x08
#define MSI_DATA        0x0C
#define MSI_MASK        0x10
#define MSI_PENDING     0x14
#define MSI_CTRL_ENABLE 0x0001
#define MSI_CTRL_MME    0x0070  /* multiple message enable */
#define MSI_CTRL_64BIT  0x0080
#define MSI_CTRL_PVM    0x0100  /* per-vector masking */

#define MSIX_CTRL        0x02
#define MSIX_CTRL_ENABLE 0x8000

/* ---- pci-testdev ---------------------------------------------------------- */

#define TESTDEV_CLASS 0xFF
#define TD_RAISE      0x00
#define TD_LOWER      0x04
#define TD_COUNT      0x08
#define TD_SCRATCH    0x0C
#define TD_BAR0_PROBE 0xFFFFF000u   /* all ones read back: 4 KiB, 32-bit memory */
#define TD_BAR0_SIZE  0x1000u

#define MMIO32_START 0xC0000000u
#define MMIO32_END   0xE0000000u    /* exclusive: ECAM starts here */

/* ---- interrupts ------------------------------------------------------------ */

#define VEC_MSI    0x50
#define VEC_IOAPIC 0x51
#define VEC_PIC1   0x20
#define VEC_PIC2   0x28
#define MSI_ADDR   0xFEE00000u      /* physical destination APIC 0 */

#define WAIT_MS   1000  /* for the interrupt */
#define QUIET_MS  5     /* armed, before the raise: nothing may come */
#define SETTLE_MS 10    /* after it: no second delivery may come */

/* ISA IRQs a PIRQ link may be routed to: 3-7, 9-12, 14, 15. */
#define PIRQ_IRQS 0xDEF8u

/* ---- MP table ------------------------------------------------------------- */

#define MP_SEARCH_START 0xF0000UL
#define MP_SEARCH_END   0x100000UL
#define MP_TABLE_LIMIT  0x100000000UL   /* the identity map ends at 4 GiB */
#define MP_ENTRIES      44          /* first entry's offset in the config table */
#define MP_PROCESSOR    0
#define MP_BUS          1
#define MP_IOAPIC       2
#define MP_IOINT        3
#define MP_LOCALINT     4
#define MP_INT_VECTORED 0           /* I/O interrupt type INT */
#define MP_MAX_CANDIDATES 8

enum mode { MODE_NONE, MODE_MSI, MODE_IOAPIC, MODE_PIC };

static volatile enum mode mode;
static volatile uint32_t deliveries;
static volatile uint32_t first_retired;    /* I/O APIC: first one already out of the ISR */
static volatile uint32_t spurious;         /* 8259A IRQ 7 / 15 with nothing in service */
static uintptr_t bar0;
static unsigned testdev;                   /* devfn: slot << 3 | function */
static unsigned msi_cap, msix_cap;
static unsigned ioapic_pin;
static unsigned isa_irq;
static uint8_t pic_vector;

/* Prints the low `digits` hex digits of v without "0x". */
static void put_hex_digits(uint64_t v, unsigned digits)
{
    while (digits-- > 0)
        putc("0123456789abcdef"[(v >> (digits * 4)) & 0xF]);
}

/* Prints "00:SS.F" for bus 0. */
static void put_bdf(unsigned devfn)
{
    puts("00:");
    put_hex_digits(devfn >> 3, 2);
    putc('.');
    put_hex_digits(devfn & 7, 1);
}

/* ---- configuration access: conf1 by default, ECAM where named ------------- */

static void conf1_select(unsigned devfn, unsigned reg)
{
    outl(PCI_CONF1_ADDR, PCI_CONF1_ENABLE | devfn << 8 | (reg & 0xFC));
}

static uint32_t cfg_read32(unsigned devfn, unsigned reg)
{
    conf1_select(devfn, reg);
    return inl(PCI_CONF1_DATA);
}

static uint16_t cfg_read16(unsigned devfn, unsigned reg)
{
    conf1_select(devfn, reg);
    return inw(PCI_CONF1_DATA + (reg & 2));
}

static uint8_t cfg_read8(unsigned devfn, unsigned reg)
{
    conf1_select(devfn, reg);
    return inb(PCI_CONF1_DATA + (reg & 3));
}

static void cfg_write32(unsigned devfn, unsigned reg, uint32_t v)
{
    conf1_select(devfn, reg);
    outl(PCI_CONF1_DATA, v);
}

static void cfg_write16(unsigned devfn, unsigned reg, uint16_t v)
{
    conf1_select(devfn, reg);
    outw(PCI_CONF1_DATA + (reg & 2), v);
}

static uintptr_t ecam(unsigned devfn, unsigned reg)
{
    return PCI_ECAM_BASE + ((uintptr_t)devfn << 12) + reg;     /* bus 0 */
}

/* ---- failure reports -------------------------------------------------------- */

static void dump_lapic(uint8_t vector)
{
    puts("lapic: vector ");
    put_hex(vector, 2);
    puts(" irr ");
    put_dec(lapic_vector_bit(LAPIC_IRR, vector), 0);
    puts(" isr ");
    put_dec(lapic_vector_bit(LAPIC_ISR, vector), 0);
    puts(" svr ");
    put_hex(lapic_read(LAPIC_SVR), 8);
    puts(" lvt0 ");
    put_hex(lapic_read(LAPIC_LVT0), 8);
    putc('\n');
}

/* The device's state and that of the controller `m` uses; then exits. */
__attribute__((noreturn)) static void fail_dump(enum mode m)
{
    puts("pci: command ");
    put_hex(cfg_read16(testdev, PCI_COMMAND), 4);
    puts(" status ");
    put_hex(cfg_read16(testdev, PCI_STATUS), 4);
    puts(" count ");
    put_dec(mmio_read32(bar0 + TD_COUNT), 0);
    if (mode != MODE_NONE) {                /* inside raise_and_wait */
        puts(" deliveries ");
        put_dec(deliveries, 0);
    }
    putc('\n');
    switch (m) {
    case MODE_MSI:
        puts("pci: msi control ");
        put_hex(cfg_read16(testdev, msi_cap + MSI_CTRL), 4);
        puts(" address ");
        put_hex((uint64_t)cfg_read32(testdev, msi_cap + MSI_ADDR_HI) << 32 |
                cfg_read32(testdev, msi_cap + MSI_ADDR_LO), 16);
        puts(" data ");
        put_hex(cfg_read16(testdev, msi_cap + MSI_DATA), 4);
        puts(" mask ");
        put_hex(cfg_read32(testdev, msi_cap + MSI_MASK), 8);
        puts(" pending ");
        put_hex(cfg_read32(testdev, msi_cap + MSI_PENDING), 8);
        if (msix_cap != 0) {
            puts(" msi-x control ");
            put_hex(cfg_read16(testdev, msix_cap + MSIX_CTRL), 4);
        }
        putc('\n');
        dump_lapic(VEC_MSI);
        break;
    case MODE_IOAPIC:
        puts("ioapic: rte ");
        put_dec(ioapic_pin, 0);
        putc(' ');
        put_hex(ioapic_read(IOAPIC_RTE(ioapic_pin) + 1), 8);
        putc(':');
        put_hex_digits(ioapic_read(IOAPIC_RTE(ioapic_pin)), 8);
        puts(" first delivery retired early ");
        put_dec(first_retired, 0);
        putc('\n');
        dump_lapic(VEC_IOAPIC);
        break;
    case MODE_PIC:
        pic_dump();
        puts("pic: elcr ");
        put_hex(inb(PIC_ELCR1), 2);
        putc('/');
        put_hex(inb(PIC_ELCR2), 2);
        puts(" spurious ");
        put_dec(spurious, 0);
        putc('\n');
        dump_lapic(pic_vector);
        break;
    case MODE_NONE:
        break;
    }
    debug_exit(0x01);
}

/* ---- interrupt handler ---------------------------------------------------- */

void irq_handler(uint64_t vector)
{
    switch (mode) {
    case MODE_MSI:
        if (vector != VEC_MSI)
            break;
        deliveries++;
        lapic_eoi();
        return;
    case MODE_IOAPIC:
        if (vector != VEC_IOAPIC)
            break;
        /* The ISR read is the first exit after the injection (ioapic-hpet.c). */
        if (deliveries == 0 && !lapic_vector_bit(LAPIC_ISR, VEC_IOAPIC))
            first_retired = 1;
        deliveries++;
        mmio_write32(bar0 + TD_LOWER, 1);   /* line low before the EOI */
        lapic_eoi();
        return;
    case MODE_PIC:
        /* IRQ 7 / IRQ 15 with nothing in service is the 8259A's spurious one. */
        if (vector == VEC_PIC1 + 7 && !(pic_isr(PIC1_CMD) & 0x80)) {
            spurious++;
            return;
        }
        if (vector == VEC_PIC2 + 7 && !(pic_isr(PIC2_CMD) & 0x80)) {
            spurious++;
            outb(PIC1_CMD, PIC_EOI);        /* the cascade's */
            return;
        }
        if (vector != pic_vector)
            break;
        deliveries++;
        mmio_write32(bar0 + TD_LOWER, 1);
        if (isa_irq >= 8)
            outb(PIC2_CMD, PIC_EOI);
        outb(PIC1_CMD, PIC_EOI);
        return;
    case MODE_NONE:
        break;
    }
    irq_unexpected(vector);
}

/*
 * Arms `m`, checks that nothing arrives for QUIET_MS, raises the device's
 * interrupt and waits for it; then checks the device's count went up by one
 * and that no unexcused second delivery came within SETTLE_MS.
 */
static void raise_and_wait(enum mode m, const char *what)
{
    uint32_t before, after, ms;
    uint32_t start;
    int ok;

    deliveries = 0;
    first_retired = 0;
    spurious = 0;
    before = mmio_read32(bar0 + TD_COUNT);
    mode = m;
    sti();
    pm_delay_ms(QUIET_MS);
    if (deliveries != 0) {
        cli();
        puts("pci: ");
        puts(what);
        puts(": interrupt before the device raised it\n");
        fail_dump(m);
    }
    start = pm_timer();
    mmio_write32(bar0 + TD_RAISE, 1);
    ok = wait_count(&deliveries, 1, WAIT_MS);
    ms = pm_ticks_to_ms(pm_elapsed(start));
    if (ok)
        pm_delay_ms(SETTLE_MS);
    cli();
    after = mmio_read32(bar0 + TD_COUNT);

    if (!ok) {
        puts("pci: ");
        puts(what);
        puts(": no interrupt in ");
        put_dec(ms, 0);
        puts(" ms\n");
        fail_dump(m);
    }
    if (after - before != 1) {
        puts("pci: ");
        puts(what);
        puts(": device count went from ");
        put_dec(before, 0);
        puts(" to ");
        put_dec(after, 0);
        puts(", want one more\n");
        fail_dump(m);
    }
    if (deliveries > 1 + first_retired) {
        puts("pci: ");
        puts(what);
        puts(": ");
        put_dec(deliveries, 0);
        puts(" deliveries for one raise\n");
        fail_dump(m);
    }
    mode = MODE_NONE;
}

/* ---- step 1: bus 0 through conf1 and ECAM --------------------------------- */

static void step_scan(void)
{
    unsigned functions = 0, found = 0;

    for (unsigned slot = 0; slot < 32; slot++) {
        int has_f0 = 0;

        for (unsigned func = 0; func < 8; func++) {
            unsigned devfn = slot << 3 | func;
            uint32_t id = cfg_read32(devfn, PCI_ID);
            uint32_t id_ecam = mmio_read32(ecam(devfn, PCI_ID));

            if (id != id_ecam) {
                puts("pci: ");
                put_bdf(devfn);
                puts(" vendor/device ");
                put_hex(id, 8);
                puts(" through conf1, ");
                put_hex(id_ecam, 8);
                puts(" through ECAM\n");
                debug_exit(0x01);
            }
            if ((id & 0xFFFF) == 0xFFFF)
                continue;
            if (func == 0)
                has_f0 = 1;
            else if (!has_f0) {
                puts("pci: ");
                put_bdf(devfn);
                puts(" answers but function 0 of its slot does not\n");
                debug_exit(0x01);
            }
            functions++;
            if (!found && cfg_read8(devfn, PCI_CLASS_BASE) == TESTDEV_CLASS) {
                found = 1;
                testdev = devfn;
            }
        }
    }
    if (!found) {
        puts("pci: no function with class 0xff among the ");
        put_dec(functions, 0);
        puts(" on bus 0\n");
        debug_exit(0x01);
    }
    if ((cfg_read8(testdev, PCI_HEADER_TYPE) & 0x7F) != 0) {
        puts("pci: testdev header type ");
        put_hex(cfg_read8(testdev, PCI_HEADER_TYPE), 2);
        puts(", want 0\n");
        debug_exit(0x01);
    }
    puts("pci: testdev at ");
    put_bdf(testdev);
    puts("; ");
    put_dec(functions, 0);
    puts(functions == 1 ? " function" : " functions");
    puts(", same ids through conf1 and ECAM\n");
}

/* ---- step 2: BAR0 size, decode, scratch ------------------------------------ */

static void check_scratch(uint32_t v)
{
    uint32_t got;

    mmio_write32(bar0 + TD_SCRATCH, v);
    got = mmio_read32(bar0 + TD_SCRATCH);
    if (got == v)
        return;
    puts("pci: scratch register reads ");
    put_hex(got, 8);
    puts(" after writing ");
    put_hex(v, 8);
    putc('\n');
    fail_dump(MODE_NONE);
}

static void step_bar0(void)
{
    uint16_t cmd = cfg_read16(testdev, PCI_COMMAND), want_cmd, got_cmd;
    uint32_t saved, probe, back;

    /* Decode off while the BAR briefly holds all ones, as an OS would. */
    cfg_write16(testdev, PCI_COMMAND, cmd & ~(PCI_CMD_IO | PCI_CMD_MEMORY));
    saved = cfg_read32(testdev, PCI_BAR0);
    cfg_write32(testdev, PCI_BAR0, 0xFFFFFFFF);
    probe = cfg_read32(testdev, PCI_BAR0);
    cfg_write32(testdev, PCI_BAR0, saved);
    back = cfg_read32(testdev, PCI_BAR0);

    if (probe != TD_BAR0_PROBE) {
        puts("pci: BAR0 reads ");
        put_hex(probe, 8);
        puts(" after writing all ones, want 0xfffff000 (4 KiB, 32-bit memory)\n");
        debug_exit(0x01);
    }
    if (back != saved) {
        puts("pci: BAR0 reads ");
        put_hex(back, 8);
        puts(" after restoring ");
        put_hex(saved, 8);
        putc('\n');
        debug_exit(0x01);
    }
    if ((saved & (TD_BAR0_SIZE - 1)) != 0 || saved < MMIO32_START || saved >= MMIO32_END) {
        puts("pci: BAR0 ");
        put_hex(saved, 8);
        puts(" is not a 4 KiB-aligned memory BAR in 0xc0000000-0xdfffffff\n");
        debug_exit(0x01);
    }
    bar0 = saved;

    want_cmd = (uint16_t)((cmd | PCI_CMD_IO | PCI_CMD_MEMORY | PCI_CMD_MASTER) &
                          ~PCI_CMD_INTX_DISABLE);
    mmio_write16(ecam(testdev, PCI_COMMAND), want_cmd);
    got_cmd = cfg_read16(testdev, PCI_COMMAND);
    if ((got_cmd & (PCI_CMD_IO | PCI_CMD_MEMORY | PCI_CMD_INTX_DISABLE)) !=
        (PCI_CMD_IO | PCI_CMD_MEMORY)) {
        puts("pci: command register reads ");
        put_hex(got_cmd, 4);
        puts(" through conf1 after writing ");
        put_hex(want_cmd, 4);
        puts(" through ECAM\n");
        debug_exit(0x01);
    }

    check_scratch(0x12345678);
    check_scratch(0xEDCBA987);
    puts("pci: BAR0 ");
    put_hex(bar0, 8);
    puts(" size ");
    put_dec(TD_BAR0_SIZE, 0);
    puts(", scratch ok\n");
}

/* ---- step 3: MSI ------------------------------------------------------------ */

static void find_capabilities(void)
{
    uint16_t status = cfg_read16(testdev, PCI_STATUS);
    unsigned ptr, n;

    if (!(status & PCI_STATUS_CAP_LIST)) {
        puts("pci: status ");
        put_hex(status, 4);
        puts(" has no capability list\n");
        debug_exit(0x01);
    }
    /* At most 48 dword-aligned capabilities fit in 0x40-0xFF. */
    ptr = cfg_read8(testdev, PCI_CAP_PTR) & 0xFC;
    for (n = 0; ptr != 0; n++) {
        uint8_t id;

        if (ptr < 0x40 || n == 48) {
            puts("pci: capability list broken: pointer ");
            put_hex(ptr, 2);
            puts(" after ");
            put_dec(n, 0);
            puts(" capabilities\n");
            debug_exit(0x01);
        }
        id = cfg_read8(testdev, ptr);
        if (id == PCI_CAP_MSI && msi_cap == 0)
            msi_cap = ptr;
        if (id == PCI_CAP_MSIX && msix_cap == 0)
            msix_cap = ptr;
        ptr = cfg_read8(testdev, ptr + 1) & 0xFC;
    }
}

static void step_msi(void)
{
    uint16_t ctrl;
    uint32_t lo, hi, data;

    find_capabilities();
    if (msi_cap == 0) {
        puts("pci: no MSI capability (id 0x05)\n");
        debug_exit(0x01);
    }
    ctrl = cfg_read16(testdev, msi_cap + MSI_CTRL);
    if ((ctrl & (MSI_CTRL_64BIT | MSI_CTRL_PVM)) != (MSI_CTRL_64BIT | MSI_CTRL_PVM)) {
        puts("pci: MSI capability at ");
        put_hex(msi_cap, 2);
        puts(" has control ");
        put_hex(ctrl, 4);
        puts(", want 64-bit with per-vector masking\n");
        debug_exit(0x01);
    }
    /* MSI-X would win over MSI. */
    if (msix_cap != 0) {
        uint16_t xctrl = cfg_read16(testdev, msix_cap + MSIX_CTRL);

        if (xctrl & MSIX_CTRL_ENABLE)
            cfg_write16(testdev, msix_cap + MSIX_CTRL, xctrl & ~MSIX_CTRL_ENABLE);
    }

    ctrl &= ~(MSI_CTRL_ENABLE | MSI_CTRL_MME);  /* one vector */
    cfg_write16(testdev, msi_cap + MSI_CTRL, ctrl);
    cfg_write32(testdev, msi_cap + MSI_ADDR_LO, MSI_ADDR);
    cfg_write32(testdev, msi_cap + MSI_ADDR_HI, 0);
    cfg_write16(testdev, msi_cap + MSI_DATA, VEC_MSI);     /* fixed, edge */
    cfg_write32(testdev, msi_cap + MSI_MASK, 0);
    cfg_write16(testdev, msi_cap + MSI_CTRL, ctrl | MSI_CTRL_ENABLE);

    lo = cfg_read32(testdev, msi_cap + MSI_ADDR_LO);
    hi = cfg_read32(testdev, msi_cap + MSI_ADDR_HI);
    data = cfg_read16(testdev, msi_cap + MSI_DATA);
    if (lo != MSI_ADDR || hi != 0 || data != VEC_MSI ||
        (cfg_read32(testdev, msi_cap + MSI_MASK) & 1) ||
        !(cfg_read16(testdev, msi_cap + MSI_CTRL) & MSI_CTRL_ENABLE)) {
        puts("pci: MSI capability did not take address 0x00000000fee00000, data 0x0050, "
             "vector 0 unmasked, enable\n");
        fail_dump(MODE_MSI);
    }

    lapic_enable(LAPIC_LVT_EXTINT | LAPIC_LVT_MASKED);
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    raise_and_wait(MODE_MSI, "MSI");

    cfg_write16(testdev, msi_cap + MSI_CTRL, ctrl);
    if (cfg_read16(testdev, msi_cap + MSI_CTRL) & MSI_CTRL_ENABLE) {
        puts("pci: MSI enable does not clear\n");
        fail_dump(MODE_MSI);
    }
    puts("pci: MSI received\n");
}

/* ---- step 4: INTx through the I/O APIC, pin from the MP table -------------- */

static uint8_t ram8(uintptr_t a)
{
    return *(const volatile uint8_t *)a;
}

static uint16_t ram16(uintptr_t a)
{
    return (uint16_t)(ram8(a) | ram8(a + 1) << 8);
}

static uint32_t ram32(uintptr_t a)
{
    return ram16(a) | (uint32_t)ram16(a + 2) << 16;
}

static int ram_is(uintptr_t a, const char *s)
{
    for (; *s; s++, a++)
        if (ram8(a) != (uint8_t)*s)
            return 0;
    return 1;
}

static uint8_t ram_sum(uintptr_t a, unsigned len)
{
    uint8_t sum = 0;

    while (len-- > 0)
        sum += ram8(a++);
    return sum;
}

__attribute__((noreturn)) static void mp_fail(const char *why, uint64_t v, unsigned digits)
{
    puts("pci: MP table: ");
    puts(why);
    if (digits != 0)
        put_hex(v, digits);
    putc('\n');
    debug_exit(0x01);
}

/* The floating pointer's configuration table; checked, never 0. */
static uintptr_t mp_config_table(void)
{
    uintptr_t fp, table;
    unsigned len;

    for (fp = MP_SEARCH_START; fp < MP_SEARCH_END; fp += 16)
        if (ram_is(fp, "_MP_") && ram8(fp + 8) == 1 && ram_sum(fp, 16) == 0)
            break;
    if (fp == MP_SEARCH_END)
        mp_fail("no \"_MP_\" floating pointer in 0xf0000-0xfffff", 0, 0);
    table = ram32(fp + 4);
    if (table == 0 || ram8(fp + 11) != 0)
        mp_fail("default configuration, no table; feature byte 1 ", ram8(fp + 11), 2);
    if (!ram_is(table, "PCMP"))
        mp_fail("no \"PCMP\" table at ", table, 8);
    len = ram16(table + 4);
    if (len < MP_ENTRIES || table + len > MP_TABLE_LIMIT)
        mp_fail("bad base table length ", len, 4);
    if (ram_sum(table, len) != 0)
        mp_fail("bad checksum in the table at ", table, 8);
    return table;
}

/*
 * The I/O APIC pin for `slot`'s INTA: the I/O interrupt entry (type INT) from
 * bus id 0, which must be the PCI bus, source IRQ slot << 2 | 0, to the I/O
 * APIC at 0xFEC00000 (or to all I/O APICs), active low and level.
 */
static unsigned mp_intx_pin(unsigned slot)
{
    uintptr_t table = mp_config_table();
    unsigned len = ram16(table + 4), count = ram16(table + 34);
    unsigned off = MP_ENTRIES, ncand = 0;
    uintptr_t cand[MP_MAX_CANDIDATES];
    int pci0 = 0, ioapic_id = -1;
    uint8_t src_irq = (uint8_t)(slot << 2);     /* INTA = 0 */

    for (unsigned i = 0; i < count; i++) {
        uintptr_t e = table + off;
        uint8_t type = off < len ? ram8(e) : 0xFF;
        unsigned size = type == MP_PROCESSOR ? 20 : type <= MP_LOCALINT ? 8 : 0;

        if (size == 0 || off + size > len)
            mp_fail("entries overrun the table or have an unknown type at offset ", off, 4);
        if (type == MP_BUS && ram8(e + 1) == 0 && ram_is(e + 2, "PCI   "))
            pci0 = 1;
        if (type == MP_IOAPIC && (ram8(e + 3) & 1) && ram32(e + 4) == IOAPIC_BASE)
            ioapic_id = ram8(e + 1);
        if (type == MP_IOINT && ram8(e + 1) == MP_INT_VECTORED && ram8(e + 4) == 0 &&
            ram8(e + 5) == src_irq && ncand < MP_MAX_CANDIDATES)
            cand[ncand++] = e;
        off += size;
    }
    if (!pci0)
        mp_fail("bus 0 is not \"PCI   \"", 0, 0);
    if (ioapic_id < 0)
        mp_fail("no enabled I/O APIC at 0xfec00000", 0, 0);
    if (ncand == 0)
        mp_fail("no I/O interrupt entry for bus 0 source IRQ ", src_irq, 2);

    for (unsigned i = 0; i < ncand; i++) {
        uintptr_t e = cand[i];
        uint8_t dest = ram8(e + 6);
        uint16_t flags = ram16(e + 2);
        unsigned polarity = flags & 3, trigger = (flags >> 2) & 3;

        if (dest != ioapic_id && dest != 0xFF)
            continue;
        /* 0 = conforms to the bus, which for PCI is active low, level. */
        if ((polarity != 0 && polarity != 3) || (trigger != 0 && trigger != 3))
            mp_fail("INTA entry is not active low, level: flags ", flags, 4);
        return ram8(e + 7);
    }
    mp_fail("INTA entries go to other I/O APICs than id ", (unsigned)ioapic_id, 2);
}

static void step_ioapic(void)
{
    unsigned pins;
    uint8_t intr_pin = cfg_read8(testdev, PCI_INTR_PIN);
    uint32_t rte = VEC_IOAPIC | IOAPIC_RTE_LEVEL | IOAPIC_RTE_ACTIVE_LOW;

    if (intr_pin != 1) {
        puts("pci: Interrupt Pin register reads ");
        put_hex(intr_pin, 2);
        puts(", want 0x01 (INTA)\n");
        debug_exit(0x01);
    }
    ioapic_pin = mp_intx_pin(testdev >> 3);
    pins = ioapic_pins();
    if (ioapic_pin < 16 || ioapic_pin >= pins) {
        puts("pci: MP table routes INTA to I/O APIC pin ");
        put_dec(ioapic_pin, 0);
        puts(", want 16..");
        put_dec(pins - 1, 0);
        putc('\n');
        debug_exit(0x01);
    }

    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    if (inb(PIC1_DATA) != 0xFF || inb(PIC2_DATA) != 0xFF) {
        puts("pci: the 8259A does not stay masked\n");
        pic_dump();
        fail_dump(MODE_NONE);
    }
    lapic_write(LAPIC_LVT0, LAPIC_LVT_EXTINT | LAPIC_LVT_MASKED);
    ioapic_route(ioapic_pin, rte, 0);
    raise_and_wait(MODE_IOAPIC, "INTx on I/O APIC");

    if (ioapic_read(IOAPIC_RTE(ioapic_pin)) & IOAPIC_RTE_REMOTE_IRR) {
        puts("pci: I/O APIC pin remote IRR still set after the EOI\n");
        fail_dump(MODE_IOAPIC);
    }
    ioapic_write(IOAPIC_RTE(ioapic_pin), rte | IOAPIC_RTE_MASKED);
    puts("pci: INTx on I/O APIC pin ");
    put_dec(ioapic_pin, 0);
    putc('\n');
}

/* ---- step 5: INTx through the 8259A ----------------------------------------- */

/* pic_init() without its ELCR writes: the platform set the ELCR. */
static void pic_remap(uint8_t mask1, uint8_t mask2)
{
    outb(PIC1_CMD, 0x11);       /* ICW1: cascade, ICW4 follows */
    outb(PIC1_DATA, VEC_PIC1);  /* ICW2 */
    outb(PIC1_DATA, 0x04);      /* ICW3: slave on IRQ 2 */
    outb(PIC1_DATA, 0x01);      /* ICW4: 8086 mode */
    outb(PIC2_CMD, 0x11);
    outb(PIC2_DATA, VEC_PIC2);
    outb(PIC2_DATA, 0x02);      /* ICW3: slave id 2 */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, mask1);     /* OCW1 */
    outb(PIC2_DATA, mask2);
}

static void step_pic(void)
{
    uint16_t mask = 0xFFFF, elcr;

    isa_irq = cfg_read8(testdev, PCI_INTR_LINE);
    if (isa_irq > 15 || !(PIRQ_IRQS & (1u << isa_irq))) {
        puts("pci: Interrupt Line register reads ");
        put_dec(isa_irq, 0);
        puts(", want 3-7, 9-12, 14 or 15\n");
        debug_exit(0x01);
    }
    pic_vector = (uint8_t)(isa_irq < 8 ? VEC_PIC1 + isa_irq : VEC_PIC2 + isa_irq - 8);
    mask &= (uint16_t)~(1u << isa_irq);
    if (isa_irq >= 8)
        mask &= (uint16_t)~(1u << 2);

    lapic_write(LAPIC_LVT0, LAPIC_LVT_EXTINT | LAPIC_LVT_MASKED);
    pic_remap((uint8_t)mask, (uint8_t)(mask >> 8));
    elcr = (uint16_t)(inb(PIC_ELCR1) | inb(PIC_ELCR2) << 8);
    if (!(elcr & (1u << isa_irq))) {
        puts("pci: ELCR ");
        put_hex(elcr, 4);
        puts(" leaves IRQ ");
        put_dec(isa_irq, 0);
        puts(" edge triggered\n");
        fail_dump(MODE_PIC);
    }
    lapic_write(LAPIC_LVT0, LAPIC_LVT_EXTINT);
    raise_and_wait(MODE_PIC, "INTx on 8259A");

    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    puts("pci: INTx on 8259A IRQ ");
    put_dec(isa_irq, 0);
    putc('\n');
    if (spurious != 0) {
        puts("pci: ");
        put_dec(spurious, 0);
        puts(" spurious IRQ 7/15 on the way\n");
    }
}

int main(unsigned long vcpu)
{
    if (vcpu != 0)
        halt_forever();

    idt_init();
    pm_timer_require();

    step_scan();
    step_bar0();
    step_msi();
    step_ioapic();
    step_pic();
    puts("pci: ok\n");
    debug_exit(0x40);
}
