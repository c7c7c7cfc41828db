/*
 * lapic: the local APIC itself; run it with 4 vCPUs.
 *
 *   1. the timer: calibrated one-shot against the PM timer, then periodic
 *      every 5 ms until 20 interrupts (at least 80 ms);
 *   2. a self-IPI (not checked in the ISR: KVM on a PVM host retires a
 *      vector before its EOI, see ioapic-hpet.c);
 *   3. CR8 and the TPR: each follows the other, and a self-IPI below the
 *      priority CR8 sets waits until CR8 is lowered;
 *   4. each AP brought up by INIT-SIPI-SIPI through ap-trampoline.S,
 *      reporting its APIC ID;
 *   5. a fixed IPI and an NMI IPI to each AP;
 *   6. LINT1 programmed as NMI on every CPU, then "lapic: lint1 armed": the
 *      VMM raises LINT1 on every vCPU and each must take one NMI.
 *
 * Built twice: lapic.bin drives the xAPIC page; lapic-x2apic.bin
 * (-DX2APIC) first switches every CPU to x2APIC mode and uses the MSRs,
 * SELF IPI register included.  All vCPUs enter main; the APs park with
 * interrupts off until their INIT.
 *
 * Success prints one line per step and "lapic: ok", and exits with 0x34
 * (status 105).  Otherwise it prints what went wrong and exits with 0x01.
 */
#include "hyve-guest.h"

#define CPUS          4
#define VEC_TIMER     0x40
#define VEC_SELF      0x50
#define VEC_IPI       0x61
#define NMI_VECTOR    2
#define TIMER_WANT    20
#define TIMER_MIN_MS  (TIMER_WANT * 5 * 8 / 10)
#define TRAMPOLINE    0x8000UL
#define AP_STACK_SIZE 0x4000
/* Every wait is an upper bound only: a loaded host may run a vCPU late. */
#define TIMEOUT_MS    10000

#define APIC_ID     0x020
#define APIC_TPR    0x080
#define APIC_EOI    0x0B0
#define APIC_SVR    0x0F0
#define APIC_ESR    0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVTT   0x320
#define APIC_LVT1   0x360
#define APIC_TMICT  0x380
#define APIC_TMCCT  0x390
#define APIC_TDCR   0x3E0

#define ICR_INIT        0x00500
#define ICR_STARTUP     0x00600
#define ICR_NMI         0x00400
#define ICR_ASSERT      0x04000
#define ICR_LEVEL       0x08000
#define ICR_SELF        0x40000
#define ICR_PENDING     0x01000
#define LVT_NMI         0x00400
#define LVT_MASKED      0x10000
#define LVT_PERIODIC    0x20000

static inline void cpuid(uint32_t leaf, uint32_t *ecx, uint32_t *edx)
{
    uint32_t eax = leaf, ebx;

    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(*ecx), "=d"(*edx) : "c"(0));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

#ifdef X2APIC
#define WHO "lapic-x2apic"

static uint32_t apic_read(uint32_t reg) { return (uint32_t)rdmsr(0x800 + (reg >> 4)); }
static void apic_write(uint32_t reg, uint32_t v) { wrmsr(0x800 + (reg >> 4), v); }
static uint32_t apic_id(void) { return apic_read(APIC_ID); }
static void apic_icr(uint32_t dest, uint32_t low) { wrmsr(0x800 + (APIC_ICR_LO >> 4), (uint64_t)dest << 32 | low); }
static void self_ipi(uint8_t vector) { wrmsr(0x83F, vector); }

/* Switches this CPU's APIC to x2APIC mode (xAPIC -> x2APIC, as the SDM allows). */
static void x2apic_on(void)
{
    wrmsr(0x1B, rdmsr(0x1B) | 1u << 11 | 1u << 10);
}
#else
#define WHO "lapic"

static uint32_t apic_read(uint32_t reg) { return lapic_read(reg); }
static void apic_write(uint32_t reg, uint32_t v) { lapic_write(reg, v); }
static uint32_t apic_id(void) { return lapic_read(APIC_ID) >> 24; }

static void apic_icr(uint32_t dest, uint32_t low)
{
    lapic_write(APIC_ICR_HI, dest << 24);
    lapic_write(APIC_ICR_LO, low);
    while (lapic_read(APIC_ICR_LO) & ICR_PENDING)
        ;
}

static void self_ipi(uint8_t vector) { apic_icr(0, ICR_SELF | vector); }
static void x2apic_on(void) {}
#endif

extern const uint8_t ap_trampoline[], ap_trampoline_end[], ap_params[];
extern void ap_long_entry(void);
void ap_main(void);

/* Read by ap_long_entry: the stack of the AP being started. */
volatile uint64_t ap_stack;
static uint8_t ap_stacks[CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));

static volatile uint32_t timer_ticks;
static volatile uint32_t self_ipis;
static volatile uint32_t started[CPUS];
static volatile uint32_t reported_id[CPUS];
static volatile uint32_t ipis[CPUS];
static volatile uint32_t nmis[CPUS];

static __attribute__((noreturn)) void fail(const char *what)
{
    puts(WHO ": ");
    puts(what);
    puts(" (esr ");
    apic_write(APIC_ESR, 0);
    put_hex(apic_read(APIC_ESR), 2);
    puts(")\n");
    debug_exit(0x01);
}

void irq_handler(uint64_t vector)
{
    uint32_t id = apic_id();

    if (id >= CPUS)
        irq_unexpected(vector);
    switch (vector) {
    case VEC_TIMER:
        timer_ticks++;
        break;
    case VEC_SELF:
        self_ipis++;
        break;
    case VEC_IPI:
        ipis[id]++;
        break;
    default:
        irq_unexpected(vector);
    }
    apic_write(APIC_EOI, 0);
}

/* NMIs take no EOI. */
void nmi_handler(void)
{
    uint32_t id = apic_id();

    if (id >= CPUS)
        irq_unexpected(NMI_VECTOR);
    nmis[id]++;
}

static void apic_setup(void)
{
    x2apic_on();
    apic_write(APIC_SVR, 0x1FF);
    apic_write(APIC_TPR, 0);
    apic_write(APIC_LVT1, LVT_NMI);
}

/* An AP, in long mode on its own stack after INIT-SIPI-SIPI. */
void ap_main(void)
{
    uint32_t id;

    idt_init();
    apic_setup();
    id = apic_id();
    if (id < CPUS) {
        reported_id[id] = id;
        started[id] = 1;
    }
    for (;;)
        __asm__ volatile("sti; hlt; cli" : : : "memory");
}

static uint32_t calibrate_ticks_per_10ms(void)
{
    uint32_t left;

    apic_write(APIC_TDCR, 0x3);                 /* divide by 16 */
    apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
    apic_write(APIC_TMICT, 0xFFFFFFFF);
    pm_delay_ms(10);
    left = apic_read(APIC_TMCCT);
    apic_write(APIC_TMICT, 0);
    if (left == 0 || left == 0xFFFFFFFF)
        fail("timer current count does not count down");
    return 0xFFFFFFFF - left;
}

static void timer_test(void)
{
    uint32_t per10 = calibrate_ticks_per_10ms(), start, ms;
    int ok;

    apic_write(APIC_LVTT, LVT_PERIODIC | VEC_TIMER);
    start = pm_timer();
    apic_write(APIC_TMICT, per10 / 2);
    ok = wait_count(&timer_ticks, TIMER_WANT, TIMEOUT_MS);
    ms = pm_ticks_to_ms(pm_elapsed(start));
    apic_write(APIC_TMICT, 0);
    if (!ok || ms < TIMER_MIN_MS) {
        puts(WHO ": ");
        put_dec(timer_ticks, 0);
        puts(" timer interrupts in ");
        put_dec(ms, 0);
        puts(" ms\n");
        fail("want 20 periodic timer interrupts in at least 80 ms");
    }
    puts(WHO ": 20 periodic timer interrupts\n");
}

static void self_ipi_test(void)
{
    self_ipi(VEC_SELF);
    if (!wait_count(&self_ipis, 1, TIMEOUT_MS))
        fail("self-IPI not taken");
    puts(WHO ": self-IPI taken\n");
}

static inline uint64_t read_cr8(void)
{
    uint64_t v;

    __asm__ volatile("mov %%cr8, %0" : "=r"(v));
    return v;
}

static inline void write_cr8(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr8" : : "r"(v) : "memory");
}

static void cr8_test(void)
{
    apic_write(APIC_TPR, 0x50);
    if (read_cr8() != 5)
        fail("CR8 does not follow a TPR write");
    write_cr8(0xF);
    if (apic_read(APIC_TPR) >> 4 != 0xF)
        fail("the TPR does not follow a CR8 write");
    self_ipi(VEC_SELF);
    pm_delay_ms(20);
    if (self_ipis != 1)
        fail("a self-IPI got past CR8 15");
    write_cr8(0);
    if (!wait_count(&self_ipis, 2, TIMEOUT_MS))
        fail("a self-IPI held back by CR8 was not taken when CR8 dropped");
    puts(WHO ": CR8 and TPR agree; CR8 held back a self-IPI until lowered\n");
}

static void start_ap(unsigned cpu)
{
    volatile uint8_t *page = (volatile uint8_t *)TRAMPOLINE;
    uint64_t size = (uint64_t)(ap_trampoline_end - ap_trampoline);
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr;
    volatile uint8_t *params;
    uint64_t cr3, cr4;

    for (uint64_t i = 0; i < size; i++)
        page[i] = ap_trampoline[i];
    params = page + (ap_params - ap_trampoline);
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    *(volatile uint16_t *)(params + 0) = gdtr.limit;
    *(volatile uint32_t *)(params + 2) = (uint32_t)gdtr.base;
    *(volatile uint32_t *)(params + 8) = (uint32_t)cr3;
    *(volatile uint32_t *)(params + 12) = (uint32_t)cr4;
    *(volatile uint32_t *)(params + 16) = (uint32_t)rdmsr(0xC0000080);
    *(volatile uint32_t *)(params + 20) = (uint32_t)(uintptr_t)ap_long_entry;
    ap_stack = (uint64_t)(uintptr_t)&ap_stacks[cpu][AP_STACK_SIZE];

    apic_icr(cpu, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
    pm_delay_ms(10);
    apic_icr(cpu, ICR_STARTUP | (TRAMPOLINE >> 12));
    pm_delay_ms(1);
    apic_icr(cpu, ICR_STARTUP | (TRAMPOLINE >> 12));
    if (!wait_count(&started[cpu], 1, TIMEOUT_MS)) {
        puts(WHO ": cpu ");
        put_dec(cpu, 0);
        putc('\n');
        fail("AP did not start after INIT-SIPI-SIPI");
    }
    puts(WHO ": cpu ");
    put_dec(cpu, 0);
    puts(" started by INIT-SIPI-SIPI, apic id ");
    put_dec(reported_id[cpu], 0);
    putc('\n');
}

int main(unsigned long vcpu)
{
    uint32_t ecx, edx;

    if (vcpu != 0)
        halt_forever();         /* until INIT */

    idt_init();
    pm_timer_require();
    cpuid(1, &ecx, &edx);
    if (!(edx & 1u << 9))
        fail("CPUID does not report an APIC");
#ifdef X2APIC
    if (!(ecx & 1u << 21))
        fail("CPUID does not report x2APIC");
#endif
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    apic_setup();
    puts(WHO ": bsp apic id ");
    put_dec(apic_id(), 0);
    putc('\n');
    sti();

    timer_test();
    self_ipi_test();
    cr8_test();

    for (unsigned cpu = 1; cpu < CPUS; cpu++) {
        if (started[cpu])
            fail("AP running before INIT");
        start_ap(cpu);
    }

    for (unsigned cpu = 1; cpu < CPUS; cpu++) {
        apic_icr(cpu, VEC_IPI | ICR_ASSERT);
        if (!wait_count(&ipis[cpu], 1, TIMEOUT_MS))
            fail("fixed IPI to an AP not taken");
        apic_icr(cpu, ICR_NMI | ICR_ASSERT);
        if (!wait_count(&nmis[cpu], 1, TIMEOUT_MS))
            fail("NMI IPI to an AP not taken");
    }
    puts(WHO ": fixed and NMI IPIs taken by every AP\n");

    puts(WHO ": lint1 armed\n");
    for (unsigned cpu = 0; cpu < CPUS; cpu++) {
        uint32_t want = cpu == 0 ? 1 : 2;
        if (!wait_count(&nmis[cpu], want, 20000))
            fail("LINT1 NMI not taken on every CPU");
    }
    puts(WHO ": LINT1 NMI on every CPU\n");
    puts(WHO ": ok\n");
    cli();
    return 0x34;
}
