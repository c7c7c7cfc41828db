/*
 * spin: 64-bit guest; vCPU 0 prints "spinning", then every vCPU loops
 * forever without exiting, so only a kick from the VMM can stop it.
 */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     spin
    lea     msg(%rip), %rsi
1:  lodsb
    test    %al, %al
    jz      spin
    outb    %al, $0xE9
    jmp     1b
spin:
    pause
    jmp     spin

    .section .rodata
msg:
    .asciz  "spinning\n"
