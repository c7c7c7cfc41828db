/*
 * pic-pit: 8254 channel 0 through the 8259A pair and LINT0 (ExtINT).
 *
 * Remaps the PICs to vectors 0x20 (master) and 0x28 (slave), masks all but
 * IRQ 0, runs PIT channel 0 in mode 2 with divisor 1193 (~1000.15 Hz) and
 * counts IRQ 0 for 300 ms of PM-timer time.  Prints
 *     pit: N interrupts in 300 ms
 * and exits with 0x30 (status 97) if N is in 30..360, else says what is wrong
 * and exits with 0x01 (status 3).
 *
 * Only the upper bound is a rate check: a vCPU thread that a loaded host keeps
 * off the CPU for whole milliseconds sees several ticks merge in the IRR, as
 * edge interrupts do on hardware, so fewer than 300 only says the host was
 * busy.  The PIT's rate itself is pinned by its unit tests on a manual clock.
 */
#include "hyve-guest.h"

#define PIT_CH0      0x40
#define PIT_MODE     0x43
#define PIT_DIVISOR  1193
#define MEASURE_MS   300
#define MIN_TICKS    30
#define MAX_TICKS    360
#define VEC_MASTER   0x20
#define VEC_SLAVE    0x28

static volatile uint32_t ticks;
static volatile uint32_t spurious;

void irq_handler(uint64_t vector)
{
    if (vector == VEC_MASTER) {
        ticks++;
        outb(PIC1_CMD, PIC_EOI);
        return;
    }
    /* IRQ 7 with nothing in service is the 8259A's spurious interrupt: no EOI. */
    if (vector == VEC_MASTER + 7 && !(pic_isr(PIC1_CMD) & 0x80)) {
        spurious++;
        return;
    }
    irq_unexpected(vector);
}

int main(unsigned long vcpu)
{
    uint32_t start, n0, n;

    if (vcpu != 0)
        halt_forever();

    idt_init();
    pm_timer_require();
    lapic_enable(LAPIC_LVT_EXTINT);
    pic_init(VEC_MASTER, VEC_SLAVE, 0xFE, 0xFF);

    outb(PIT_MODE, 0x34);       /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(PIT_CH0, PIT_DIVISOR & 0xFF);
    outb(PIT_CH0, PIT_DIVISOR >> 8);

    sti();
    start = pm_timer();
    n0 = ticks;
    while (pm_elapsed(start) < PM_TMR_TICKS_MS(MEASURE_MS))
        ;
    n = ticks - n0;
    cli();

    puts("pit: ");
    put_dec(n, 0);
    puts(" interrupts in 300 ms\n");
    if (spurious != 0) {
        puts("pit: ");
        put_dec(spurious, 0);
        puts(" spurious IRQ 7\n");
    }
    if (n >= MIN_TICKS && n <= MAX_TICKS)
        debug_exit(0x30);

    puts(n < MIN_TICKS ? "pit: too few, want 30..360\n" : "pit: too many, want 30..360\n");
    pic_dump();
    puts("lapic: svr ");
    put_hex(lapic_read(LAPIC_SVR), 8);
    puts(" lvt0 ");
    put_hex(lapic_read(LAPIC_LVT0), 8);
    putc('\n');
    debug_exit(0x01);
}
