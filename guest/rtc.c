/*
 * rtc: MC146818 date/time and periodic interrupt.
 *
 * Reads the date and time (waiting for UIP clear, reading twice until two
 * reads agree, BCD or binary per register B, 12 h converted to 24 h,
 * century from CMOS 0x32) and prints
 *     rtc: YYYY-MM-DD HH:MM:SS
 * Then sets register A to 0x26 (32.768 kHz time base, rate 6 = 1024 Hz),
 * enables only PIE in register B and counts IRQ 8; the handler reads
 * register C, which must show IRQF and PF, and EOIs.  The 20 interrupts
 * must take at least 14 ms (19.5 ms at 1024 Hz; the first may come at once;
 * a loaded host may be late).
 * Success prints
 *     rtc: 20 periodic interrupts
 * and exits with 0x33 (status 103).  A bad date/time, a register C without
 * IRQF|PF, a time out of range or 2 s without 20 interrupts print what
 * happened and exit with 0x01 (status 3).
 *
 * Built twice: rtc.bin routes IRQ 8 through the 8259A slave (IRQ 0 of the
 * slave, vector 0x28; master IRQ 2 unmasked for the cascade; LINT0 ExtINT;
 * EOI to slave then master).  rtc-ioapic.bin (-DRTC_VIA_IOAPIC) masks the
 * 8259A and LINT0 and uses I/O APIC pin 8 instead (edge, active high,
 * vector 0x38, local APIC EOI).
 */
#include "hyve-guest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define RTC_A      0x0A
#define RTC_B      0x0B
#define RTC_C      0x0C
#define RTC_A_UIP  0x80
#define RTC_B_PIE  0x40
#define RTC_B_AIE  0x20
#define RTC_B_UIE  0x10
#define RTC_B_DM   0x04     /* 1: binary, 0: BCD */
#define RTC_B_24H  0x02
#define RTC_C_IRQF 0x80
#define RTC_C_PF   0x40

#define WANT   20
#define MIN_MS 14

#ifdef RTC_VIA_IOAPIC
#define VECTOR 0x38
#define PIN    8
#else
#define VECTOR 0x28         /* slave base 0x28 + IRQ 8 - 8 */
#endif

/* Seconds, minutes, hours, day of month, month, year, century. */
static const uint8_t time_regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };
enum { SEC, MIN, HOUR, DAY, MON, YEAR, CENT };

static volatile uint32_t count;
static volatile uint32_t bad_c;        /* interrupts whose C lacked IRQF|PF */
static volatile uint8_t last_bad_c;

static uint8_t cmos_read(uint8_t index)
{
    outb(CMOS_INDEX, index);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t index, uint8_t v)
{
    outb(CMOS_INDEX, index);
    outb(CMOS_DATA, v);
}

static void count_periodic(void)
{
    uint8_t c = cmos_read(RTC_C);

    if ((c & (RTC_C_IRQF | RTC_C_PF)) != (RTC_C_IRQF | RTC_C_PF)) {
        bad_c++;
        last_bad_c = c;
    }
    count++;
}

void irq_handler(uint64_t vector)
{
#ifdef RTC_VIA_IOAPIC
    if (vector != VECTOR)
        irq_unexpected(vector);
    count_periodic();
    lapic_eoi();
#else
    if (vector == VECTOR) {
        count_periodic();
        outb(PIC2_CMD, PIC_EOI);
        outb(PIC1_CMD, PIC_EOI);
        return;
    }
    /* Spurious IRQ 7 / IRQ 15 (nothing in service): no EOI, except the
       master's for the cascade in the slave's case. */
    if (vector == 0x27 && !(pic_isr(PIC1_CMD) & 0x80))
        return;
    if (vector == 0x2F && !(pic_isr(PIC2_CMD) & 0x80)) {
        outb(PIC1_CMD, PIC_EOI);
        return;
    }
    irq_unexpected(vector);
#endif
}

/* Waits for "no update in progress"; exits if it stays set for 1.1 s. */
static void wait_uip_clear(void)
{
    uint32_t start = pm_timer();

    while (cmos_read(RTC_A) & RTC_A_UIP) {
        if (pm_elapsed(start) >= PM_TMR_TICKS_MS(1100)) {
            puts("rtc: UIP stuck, register A ");
            put_hex(cmos_read(RTC_A), 2);
            putc('\n');
            debug_exit(0x01);
        }
    }
}

static void read_time(uint8_t v[7])
{
    for (unsigned i = 0; i < 7; i++)
        v[i] = cmos_read(time_regs[i]);
}

/* Decodes one register; returns 0xFF for a bad BCD digit. */
static unsigned decode(uint8_t v, int binary)
{
    if (binary)
        return v;
    if ((v & 0x0F) > 9 || (v >> 4) > 9)
        return 0xFF;
    return (v >> 4) * 10 + (v & 0x0F);
}

static void print_date_time(void)
{
    uint8_t raw[7], again[7];
    unsigned t[7];
    uint8_t b;
    int binary, same = 0, pm;

    for (unsigned tries = 0; tries < 10 && !same; tries++) {
        wait_uip_clear();
        read_time(raw);
        wait_uip_clear();
        read_time(again);
        same = 1;
        for (unsigned i = 0; i < 7; i++)
            if (raw[i] != again[i])
                same = 0;
    }
    b = cmos_read(RTC_B);
    binary = (b & RTC_B_DM) != 0;
    pm = !(b & RTC_B_24H) && (raw[HOUR] & 0x80);
    for (unsigned i = 0; i < 7; i++)
        t[i] = decode(i == HOUR && !(b & RTC_B_24H) ? raw[i] & 0x7F : raw[i], binary);
    if (!(b & RTC_B_24H))       /* 12 AM is 00, 12 PM is 12; 0 or >12 is bad */
        t[HOUR] = t[HOUR] >= 1 && t[HOUR] <= 12 ? t[HOUR] % 12 + (pm ? 12 : 0) : 0xFF;

    if (!same || t[SEC] > 59 || t[MIN] > 59 || t[HOUR] > 23 || t[DAY] < 1 || t[DAY] > 31 ||
        t[MON] < 1 || t[MON] > 12 || t[YEAR] > 99 || t[CENT] > 99) {
        puts(same ? "rtc: bad date/time, registers" : "rtc: reads never agreed, registers");
        for (unsigned i = 0; i < 7; i++) {
            putc(' ');
            put_hex(raw[i], 2);
        }
        puts(" B ");
        put_hex(b, 2);
        putc('\n');
        debug_exit(0x01);
    }

    puts("rtc: ");
    put_dec(t[CENT] * 100 + t[YEAR], 4);
    putc('-');
    put_dec(t[MON], 2);
    putc('-');
    put_dec(t[DAY], 2);
    putc(' ');
    put_dec(t[HOUR], 2);
    putc(':');
    put_dec(t[MIN], 2);
    putc(':');
    put_dec(t[SEC], 2);
    putc('\n');
}

int main(unsigned long vcpu)
{
    uint32_t start, ms;
    int ok;

    if (vcpu != 0)
        halt_forever();

    idt_init();
    pm_timer_require();
    print_date_time();

#ifdef RTC_VIA_IOAPIC
    lapic_enable(LAPIC_LVT_EXTINT | LAPIC_LVT_MASKED);
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    ioapic_route(PIN, VECTOR, 0);           /* edge, active high, unmasked */
#else
    lapic_enable(LAPIC_LVT_EXTINT);
    pic_init(0x20, 0x28, 0xFB, 0xFE);       /* master: IRQ 2; slave: IRQ 8 */
#endif

    /*
     * Clear stale flags before PIE goes on, never after: the handler
     * insists on IRQF|PF.  Nothing interrupts before PIE is on, and the
     * handler's use of the CMOS index cannot upset main after that: the
     * PIE write is main's last CMOS access until cli().
     */
    cmos_write(RTC_A, 0x26);
    cmos_read(RTC_C);
    sti();
    start = pm_timer();
    cmos_write(RTC_B, (cmos_read(RTC_B) & ~(RTC_B_AIE | RTC_B_UIE)) | RTC_B_PIE);
    ok = wait_count(&count, WANT, 2000);
    ms = pm_ticks_to_ms(pm_elapsed(start));
    cli();

    if (ok && bad_c == 0 && ms >= MIN_MS) {
        puts("rtc: 20 periodic interrupts\n");
        debug_exit(0x33);
    }
    if (!ok || ms < MIN_MS) {
        puts("rtc: ");
        put_dec(count, 0);
        puts(" periodic interrupts in ");
        put_dec(ms, 0);
        puts(" ms, want 20 in at least 14 ms\n");
    }
    if (bad_c != 0) {
        puts("rtc: ");
        put_dec(bad_c, 0);
        puts(" of them without IRQF|PF in register C, last ");
        put_hex(last_bad_c, 2);
        putc('\n');
    }
    puts("rtc: A ");
    put_hex(cmos_read(RTC_A), 2);
    puts(" B ");
    put_hex(cmos_read(RTC_B), 2);
    puts(" C ");
    put_hex(cmos_read(RTC_C), 2);
    putc('\n');
#ifdef RTC_VIA_IOAPIC
    puts("ioapic: rte 8 ");
    put_hex(ioapic_read(IOAPIC_RTE(PIN)), 8);
    putc('\n');
#else
    pic_dump();
#endif
    debug_exit(0x01);
}
