/*
 * triple-fault: 64-bit guest that must end in a triple fault (the VMM sees
 * KVM_EXIT_SHUTDOWN).  vCPU 0 prints "faulting", loads an IDT whose limit is
 * 0 and executes ud2: delivering #UD finds no gate -> #GP, which finds no
 * gate either -> #DF, which fails too -> shutdown.  Nothing here ever writes
 * to the debug-exit port.
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park                /* only vCPU 0 faults */
    puts    msg
    lidt    empty_idt(%rip)
    ud2
park:                           /* not reached on vCPU 0 */
    park_forever

    .section .rodata
    .balign 8
empty_idt:                      /* 64-bit lidt operand: limit16, base64 */
    .word   0
    .quad   0
msg:
    .asciz  "faulting\n"
