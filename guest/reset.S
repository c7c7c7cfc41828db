/*
 * reset: 64-bit guest exercising the 0xCF9 reset control.
 *
 * The boot counter lives at 0x600, in the scratch area that survives a
 * reset (the program image itself is re-loaded, so it cannot hold state).
 * RAM is zero at power-on, so the first boot sees 0.
 *   boot 1: print "boot", counter = 1, write 0x6 to 0xCF9 (reset)
 *   boot 2: print "boot", exit with 0x24 (status 73)
 *   counter anything else: exit with 0x01 (status 3)
 * Only vCPU 0 acts; the others park in HLT.
 */
#include "guest64.h"

    .code64
    .set    BOOT_COUNT, 0x600

    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    puts    msg
    mov     BOOT_COUNT, %eax    /* absolute address (identity mapped) */
    cmp     $1, %eax
    je      second
    ja      bad
    movl    $1, BOOT_COUNT
    mov     $0xCF9, %dx
    mov     $0x6, %al
    outb    %al, %dx
    jmp     park                /* the reset takes effect at the exit */
second:
    mov     $0x24, %al
    outb    %al, $0xF4
    jmp     park
bad:
    mov     $0x01, %al
    outb    %al, $0xF4
park:
    park_forever

    .section .rodata
msg:
    .asciz  "boot\n"
