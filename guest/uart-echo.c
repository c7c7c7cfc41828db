/*
 * uart-echo: 64-bit guest for the 16550 on COM1 (0x3F8).  Prints
 * "uart: ready" through the transmitter, then echoes received bytes back
 * upper-cased until it reads '.', prints "uart: done" and exits with 0x50
 * (status 161).  Loopback is checked first: with MCR bit 4 set a byte
 * written to THR must come back through RBR and never reach the host.
 */
#include "hyve-guest.h"

#define COM1 0x3F8
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define MCR_LOOPBACK 0x10

static void uart_putc(char c)
{
    while (!(inb(COM1 + 5) & LSR_THR_EMPTY))
        ;
    outb(COM1, (uint8_t)c);
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

static char uart_getc(void)
{
    while (!(inb(COM1 + 5) & LSR_DATA_READY))
        ;
    return (char)inb(COM1);
}

int main(unsigned long vcpu)
{
    if (vcpu != 0)
        halt_forever();
    outb(COM1 + 3, 0x03);               /* 8N1, DLAB off */
    outb(COM1 + 2, 0x07);               /* FIFO on, both FIFOs reset */
    outb(COM1 + 4, MCR_LOOPBACK);
    uart_putc('L');
    if (uart_getc() != 'L') {
        puts("uart: loopback failed\n");
        debug_exit(0x01);
    }
    outb(COM1 + 4, 0x03);               /* DTR, RTS; loopback off */
    uart_puts("uart: ready\n");
    for (;;) {
        char c = uart_getc();
        if (c == '.')
            break;
        uart_putc(c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
    }
    uart_puts("uart: done\n");
    debug_exit(0x50);
}
