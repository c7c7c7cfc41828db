/*
 * hpet-fsb: HPET timer 1 delivering MSIs (FSB mode) to the local APIC.
 *
 * The 8259A pair, LINT0 and (from reset) every I/O APIC pin are masked.
 * HPET timer 1 is periodic every 10 ms, edge, FSB enabled with address
 * 0xFEE00000 (physical destination APIC 0) and data 0x41 (fixed delivery,
 * edge, vector 0x41).  The handler counts and EOIs the local APIC.  The 5
 * MSIs must take at least 40 ms (the 5th is due at 50 ms; fewer than 4
 * periods means extra MSIs or a wrong period; a loaded host may be late).  Success prints
 *     hpet-fsb: 5 MSIs
 * and exits with 0x32 (status 101).  Otherwise (2 s timeout included) it
 * prints the count, the time and the HPET state and exits with 0x01
 * (status 3).
 */
#include "hyve-guest.h"

#define VECTOR  0x41
#define TIMER   1
#define WANT    5
#define MIN_MS  ((WANT - 1) * 10)

static volatile uint32_t count;

void irq_handler(uint64_t vector)
{
    if (vector != VECTOR)
        irq_unexpected(vector);
    count++;
    lapic_eoi();
}

int main(unsigned long vcpu)
{
    uint32_t period, start, ms;
    int ok;

    if (vcpu != 0)
        halt_forever();

    idt_init();
    pm_timer_require();
    lapic_enable(LAPIC_LVT_EXTINT | LAPIC_LVT_MASKED);
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);

    period = hpet_require("hpet-fsb", TIMER, HPET_TN_PER_CAP | HPET_TN_FSB_CAP, 10);

    hpet_write(HPET_GEN_CONF, 0);
    hpet_write(HPET_COUNTER, 0);

    hpet_write(HPET_TN_FSB_DATA(TIMER), VECTOR);
    hpet_write(HPET_TN_FSB_ADDR(TIMER), (uint32_t)LAPIC_BASE);
    /* Comparator written twice: see ioapic-hpet.c. */
    hpet_write(HPET_TN_CONF(TIMER), HPET_TN_FSB_EN | HPET_TN_INT_EN | HPET_TN_PERIODIC |
                                    HPET_TN_VAL_SET);
    hpet_write(HPET_TN_CMP(TIMER), period);
    hpet_write(HPET_TN_CMP(TIMER), period);

    sti();
    start = pm_timer();
    hpet_write(HPET_GEN_CONF, 1);
    ok = wait_count(&count, WANT, 2000);
    ms = pm_ticks_to_ms(pm_elapsed(start));
    cli();

    if (ok && ms >= MIN_MS) {
        puts("hpet-fsb: 5 MSIs\n");
        debug_exit(0x32);
    }
    puts("hpet-fsb: ");
    put_dec(count, 0);
    puts(" MSIs in ");
    put_dec(ms, 0);
    puts(" ms, want 5 in at least 40 ms\n");
    hpet_dump(TIMER);
    puts("hpet: fsb addr ");
    put_hex(hpet_read(HPET_TN_FSB_ADDR(TIMER)), 8);
    puts(" data ");
    put_hex(hpet_read(HPET_TN_FSB_DATA(TIMER)), 8);
    puts(" lapic: irr ");
    put_dec(lapic_vector_bit(LAPIC_IRR, VECTOR), 0);
    puts(" isr ");
    put_dec(lapic_vector_bit(LAPIC_ISR, VECTOR), 0);
    putc('\n');
    debug_exit(0x01);
}
