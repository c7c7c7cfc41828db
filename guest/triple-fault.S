/*
 * triple-fault: 64-bit guest that must end in a triple fault (the VMM sees
 * KVM_EXIT_SHUTDOWN).  vCPU 0 prints "faulting", loads an IDT whose limit is
 * 0 and executes ud2: delivering #UD finds no gate -> #GP, which finds no
 * gate either -> #DF, which fails too -> shutdown.  Nothing here ever writes
 * to the debug-exit port.
 */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    test    %rdi, %rdi
    jnz     park                /* only vCPU 0 faults */
    lea     msg(%rip), %rsi
1:  lodsb
    test    %al, %al
    jz      2f
    outb    %al, $0xE9
    jmp     1b
2:  lidt    empty_idt(%rip)
    ud2
park:                           /* not reached on vCPU 0 */
    cli
    hlt
    jmp     park

    .section .rodata
    .balign 8
empty_idt:                      /* 64-bit lidt operand: limit16, base64 */
    .word   0
    .quad   0
msg:
    .asciz  "faulting\n"
