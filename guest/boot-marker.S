/*
 * boot-marker: 64-bit guest for the start-up benchmark.  Its first act is a
 * write of 0x01 to the boot-timer port 0x80, so that `hyve --boot-timer`
 * reports the time from its start to (about) the first KVM_RUN; then vCPU 0
 * exits with 0x26 (status 77).
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov     $0x01, %al
    outb    %al, $0x80
    test    %rdi, %rdi
    jnz     park
    mov     $0x26, %al
    outb    %al, $0xF4
park:
    park_forever
