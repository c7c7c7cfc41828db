/*
 * halt: 64-bit guest; vCPU 0 prints "halting", then every vCPU halts with
 * interrupts off, forever (HLT again if anything ever wakes it).
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    puts    msg
park:
    park_forever

    .section .rodata
msg:
    .asciz  "halting\n"
