/*
 * control-target: a long-mode guest for hyvectl and the control API to inspect and steer from
 * outside while it waits for them.
 *
 * vCPU 0 loads the IDT of irq64.S (an exception prints "exception 0xVV error 0x... rip 0x..."
 * and exits with 0x01, status 3), sets up its local APIC as firmware leaves it (LINT0 ExtINT,
 * LINT1 NMI), maps the page `target` a second time at ALIAS through page tables of its own
 * (PML4 entry 256, then a PDPT, a PD and a PT: a 4 KiB page), checks the alias by writing
 * through it, and prints
 *
 *     alias 0xffff800000203000 -> 0x<guest-physical address of target>
 *     loop 0x<start> 0x<end>
 *     ready
 *
 * Then it waits in the loop [start, end) with RAX = 0 until something outside sets RAX, prints
 *     rax 0x<value>
 * and waits there again for good.  Waiting is HLT with interrupts on, woken 100 times a second
 * by the local APIC timer, so that a test VM costs the host next to nothing; control-spin (the
 * same program built with CONTROL_TARGET_SPIN) spins instead.  Any other interrupt prints
 *     irq 0xVV
 * and is acknowledged.  Other vCPUs halt with interrupts off.
 */
#include "hyve-guest.h"

#define ALIAS             0xffff800000203000ull
#define TIMER_VECTOR      0x30
#define LAPIC_LVT1        0x360
#define LAPIC_LVT_NMI     0x00400
#define LAPIC_TIMER       0x320
#define LAPIC_TIMER_INIT  0x380
#define LAPIC_TIMER_DIV   0x3E0
#define LAPIC_PERIODIC    (1u << 17)
#define LAPIC_DIVIDE_1    0xB
/* 10 ms at KVM's 1 GHz APIC bus. */
#define TIMER_COUNT       10000000u

static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static volatile uint64_t target[512] __attribute__((aligned(4096)));

void irq_handler(uint64_t vector)
{
    if (vector != TIMER_VECTOR) {
        puts("irq ");
        put_hex(vector, 2);
        putc('\n');
    }
    lapic_eoi();
}

/* Waits while RAX is 0 and returns it; spin_start..spin_end bound the loop. */
uint64_t spin_until_rax(void);
extern char spin_start[], spin_end[];
__asm__(
    "    .text\n"
    "    .globl spin_until_rax, spin_start, spin_end\n"
    "spin_until_rax:\n"
    "    xor %eax, %eax\n"
    "spin_start:\n"
#ifdef CONTROL_TARGET_SPIN
    "    pause\n"
#else
    "    sti\n"
    "    hlt\n"
    "    cli\n"
#endif
    "    test %rax, %rax\n"
    "    jz spin_start\n"
    "spin_end:\n"
    "    ret\n");

static void map_alias(void)
{
    uint64_t cr3;
    uint64_t *pml4;

    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xFFFull);
    pt[(ALIAS >> 12) & 511] = (uintptr_t)target | 3;
    pd[(ALIAS >> 21) & 511] = (uintptr_t)pt | 3;
    pdpt[(ALIAS >> 30) & 511] = (uintptr_t)pd | 3;
    pml4[(ALIAS >> 39) & 511] = (uintptr_t)pdpt | 3;
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

#ifndef CONTROL_TARGET_SPIN
static void start_timer(void)
{
    lapic_write(LAPIC_TIMER_DIV, LAPIC_DIVIDE_1);
    lapic_write(LAPIC_TIMER, TIMER_VECTOR | LAPIC_PERIODIC);
    lapic_write(LAPIC_TIMER_INIT, TIMER_COUNT);
}
#endif

int main(unsigned long vcpu)
{
    uint64_t rax;

    if (vcpu != 0)
        halt_forever();
    idt_init();
    lapic_enable(LAPIC_LVT_EXTINT);
    lapic_write(LAPIC_LVT1, LAPIC_LVT_NMI);
    map_alias();
    *(volatile uint64_t *)ALIAS = 0x5a5a5a5a5a5a5a5aull;
    if (target[0] != 0x5a5a5a5a5a5a5a5aull) {
        puts("alias does not reach its page\n");
        return 0x01;
    }
    puts("alias ");
    put_hex(ALIAS, 16);
    puts(" -> ");
    put_hex((uintptr_t)target, 16);
    puts("\nloop ");
    put_hex((uintptr_t)spin_start, 16);
    putc(' ');
    put_hex((uintptr_t)spin_end, 16);
    puts("\nready\n");
#ifndef CONTROL_TARGET_SPIN
    start_timer();
#endif
    rax = spin_until_rax();
    puts("rax ");
    put_hex(rax, 16);
    putc('\n');
    for (;;)
        spin_until_rax();
}
