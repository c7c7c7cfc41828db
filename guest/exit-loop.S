/*
 * exit-loop: 64-bit guest for the exit-latency benchmark.  vCPU 0 does
 * EXIT_LOOP_N byte writes to the unclaimed port 0x9F1 (one VM exit each),
 * then exits with 0x26 (status 77).  Built as exit-loop-small (N=1000) and
 * exit-loop-large (N=100000); the benchmark takes the slope between them,
 * which cancels VMM start-up and teardown.  With EXIT_LOOP_MMIO defined
 * (exit-loop-mmio-small, exit-loop-mmio-large) the writes go to MMIO
 * instead: pc-testdev's scratch memory at 0xFF000000, which no memory slot
 * backs.
 */
#ifndef EXIT_LOOP_N
#error "build with -DEXIT_LOOP_N=<count>"
#endif
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    mov     $EXIT_LOOP_N, %ecx
    xor     %eax, %eax
#ifdef EXIT_LOOP_MMIO
    mov     $0xFF000000, %edx
1:  movb    %al, (%rdx)
#else
    mov     $0x9F1, %edx
1:  outb    %al, %dx
#endif
    dec     %ecx
    jnz     1b
    mov     $0x26, %al
    outb    %al, $0xF4
park:
    park_forever
