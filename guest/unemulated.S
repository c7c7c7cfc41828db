/*
 * unemulated: 64-bit guest; vCPU 0 prints "monitor", then runs MONITOR at
 * CPL 0, an instruction that neither this kind of host's KVM nor Hyve
 * emulates: the VM must stop with one diagnostic line naming it.  Should
 * it run, the program exits with 0x01.
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    puts    msg
    .globl  unemulated
unemulated:
    lea     msg(%rip), %rax
    xor     %ecx, %ecx
    xor     %edx, %edx
    monitor
    mov     $0x01, %al
    outb    %al, $0xF4
park:
    park_forever

    .section .rodata
msg:
    .asciz  "monitor\n"
