/*
 * halt: 64-bit guest; vCPU 0 prints "halting", then every vCPU halts with
 * interrupts off, forever (HLT again if anything ever wakes it).
 */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park
    lea     msg(%rip), %rsi
1:  lodsb
    test    %al, %al
    jz      park
    outb    %al, $0xE9
    jmp     1b
park:
    cli
    hlt
    jmp     park

    .section .rodata
msg:
    .asciz  "halting\n"
