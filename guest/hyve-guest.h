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

#endif /* HYVE_GUEST_H */
