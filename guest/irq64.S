/*
 * irq64: a 64-bit IDT for the interrupt tests (declared in hyve-guest.h).
 *
 *     void idt_init(void);               fills the IDT, loads IDTR
 *     void irq_handler(uint64_t vector); the program's, for vectors 32-255
 *
 * Every vector has a 16-byte entry stub; all 256 gates are interrupt gates
 * (IF is clear in the handler) on the 64-bit code selector.  A stub pushes
 * a zero in place of the error code where the CPU pushes none, then the
 * vector, so irq_common always sees
 *
 *     vector, error code, RIP, CS, RFLAGS, RSP, SS
 *
 * and saves only the caller-saved registers around the C call: the C code
 * is built with -mgeneral-regs-only, so no FPU/SSE state needs keeping.
 * The CPU aligns RSP to 16 before it pushes the frame (long mode), so after
 * the 7 + 9 pushes RSP is 16-byte aligned at the call, as the ABI wants.
 *
 * Vectors 0-31 are exceptions: they print
 *     exception 0xVV error 0x<16 digits> rip 0x<16 digits>
 * and exit with 0x01.  External interrupts must therefore use 32-255.  The
 * NMI (vector 2) is an exception too, unless the program defines
 *     void nmi_handler(void);
 * which it then calls instead, returning with iretq.
 */
#include "guest64.h"

    .set    CODE64, 0x18
    .set    NVEC, 256
    .set    STUB_SIZE, 16

    .code64
    .text
    .weak   nmi_handler

    .balign STUB_SIZE
irq_stubs:
    .set    vector, 0
    .rept   NVEC
    .balign STUB_SIZE
    /* Vectors where the CPU pushes an error code itself. */
    .if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30
    .else
    push    $0
    .endif
    push    $vector
    jmp     irq_common
    .set    vector, vector + 1
    .endr

irq_common:
    push    %rax
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    cld                             /* the ABI wants DF clear at calls */
    mov     72(%rsp), %rdi          /* vector */
    cmp     $2, %rdi
    jne     1f
    movabs  $nmi_handler, %rax      /* 0 when the program has none */
    test    %rax, %rax
    jz      exception
    call    *%rax
    jmp     2f
1:  cmp     $32, %rdi
    jb      exception
    call    irq_handler
2:
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rax
    add     $16, %rsp               /* vector and error code */
    iretq

/* Never returns, so it may clobber anything. */
exception:
    puts    msg_exception
    mov     72(%rsp), %rdx
    mov     $2, %ecx
    call    put_hex_digits
    puts    msg_error
    mov     80(%rsp), %rdx
    mov     $16, %ecx
    call    put_hex_digits
    puts    msg_rip
    mov     88(%rsp), %rdx
    mov     $16, %ecx
    call    put_hex_digits
    mov     $'\n', %al
    outb    %al, $0xE9
    mov     $0x01, %al
    outb    %al, $0xF4
    park_forever

/* Prints the low %ecx (1..16) hex digits of %rdx; clobbers rax, rcx, rsi. */
put_hex_digits:
    lea     hex_digits(%rip), %rsi
    shl     $2, %ecx
1:  sub     $4, %ecx
    mov     %rdx, %rax
    shr     %cl, %rax
    and     $0xF, %eax
    movzbl  (%rsi,%rax), %eax
    outb    %al, $0xE9
    test    %ecx, %ecx
    jnz     1b
    ret

/*
 * Gate: offset 15:0 | selector << 16, then offset 31:16 | P, DPL 0, type
 * 0xE (64-bit interrupt gate), then offset 63:32, then zero.
 */
    .globl  idt_init
idt_init:
    lea     idt(%rip), %rdi
    lea     irq_stubs(%rip), %rdx
    mov     $NVEC, %ecx
1:  movzwl  %dx, %eax
    or      $(CODE64 << 16), %eax
    mov     %eax, (%rdi)
    mov     %edx, %eax
    and     $0xFFFF0000, %eax
    or      $0x8E00, %eax
    mov     %eax, 4(%rdi)
    mov     %rdx, %rax
    shr     $32, %rax
    mov     %eax, 8(%rdi)
    movl    $0, 12(%rdi)
    add     $16, %rdi
    add     $STUB_SIZE, %rdx
    dec     %ecx
    jnz     1b
    lidt    idtr(%rip)
    ret

    .section .rodata
idtr:
    .word   NVEC * 16 - 1
    .quad   idt
msg_exception:
    .asciz  "exception 0x"
msg_error:
    .asciz  " error 0x"
msg_rip:
    .asciz  " rip 0x"
hex_digits:
    .ascii  "0123456789abcdef"

    .section .bss
    .balign 16
idt:
    .skip   NVEC * 16
