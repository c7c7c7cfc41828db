/*
 * spin: 64-bit guest; vCPU 0 prints "spinning", then every vCPU loops
 * forever without exiting, so only a kick from the VMM can stop it.
 */
#include "guest64.h"

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     spin
    puts    msg
spin:
    pause
    jmp     spin

    .section .rodata
msg:
    .asciz  "spinning\n"
