/*
 * start64: entry stub shared by the 64-bit C guest programs.
 *
 * The VMM enters here in long mode with paging on, a stack already set up
 * (RSP = 0xA0000 - vcpu*0x4000, 16-byte aligned) and RDI = vCPU id, which
 * is exactly main's first argument under the SysV ABI:
 *
 *     int main(unsigned long vcpu);
 *
 * Every vCPU runs main; programs branch on the id.  If main returns, its
 * value is written to isa-debug-exit (0xF4).
 */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    cld                         /* the ABI wants DF clear at calls */
    xor     %ebp, %ebp          /* terminate frame-pointer chains */
    call    main                /* RSP is 16-aligned here, as the ABI wants */
    outb    %al, $0xF4
1:  cli
    hlt
    jmp     1b
