/*
 * poweroff: 64-bit guest; vCPU 0 prints "powering off", then writes
 * SLP_TYP 5 | SLP_EN ((5 << 10) | (1 << 13) = 0x3400) to PM1a_CNT (port
 * 0x404) as one 16-bit write.  Hyve should stop with status 1 (poweroff).
 * Every vCPU then halts with interrupts off, forever.
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    puts    msg
    mov     $0x404, %dx
    mov     $((5 << 10) | (1 << 13)), %ax
    outw    %ax, %dx
park:
    park_forever

    .section .rodata
msg:
    .asciz  "powering off\n"
