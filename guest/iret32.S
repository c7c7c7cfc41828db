/*
 * iret32: software interrupts and IRET in 32-bit protected mode (paging
 * off), which this kind of host's KVM does not emulate at CPL 0.
 *
 * Entered at 0x100000 with CS=0x08 and flat data segments (Hyve's GDT).
 * Builds an IDT of 32-bit interrupt gates for vectors 3 and 0x80, then:
 *   INT 0x80   the handler counts and returns with IRET;
 *   INT3       the handler records the return EIP (the instruction after
 *              the INT3) and returns with IRET;
 *   IRET       a hand-made frame returns to a label with EFLAGS.CF set.
 * Prints "iret32: ok" and exits with 0x51 (status 163), or prints what
 * failed and exits with 0x01.
 */
    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    cld
    test    %edi, %edi          /* only vCPU 0 runs the test */
    jnz     park
    mov     $idt, %edi
    mov     $bp_handler, %eax
    mov     $3, %ecx
    call    set_gate
    mov     $int80_handler, %eax
    mov     $0x80, %ecx
    call    set_gate
    lidt    idtr

    int     $0x80
    cmpl    $1, int80_count
    jne     fail_int80

    int3
after_int3:
    cmpl    $after_int3, bp_eip
    jne     fail_int3

    pushfl
    orl     $1, (%esp)          /* CF set in the EFLAGS IRET loads */
    pushl   $0x08
    pushl   $after_iret
    iret
    hlt                         /* IRET must not fall through */
after_iret:
    jnc     fail_iret

    mov     $msg_ok, %esi
    mov     $0x51, %bl
    jmp     finish
fail_int80:
    mov     $msg_int80, %esi
    jmp     failed
fail_int3:
    mov     $msg_int3, %esi
    jmp     failed
fail_iret:
    mov     $msg_iret, %esi
failed:
    mov     $0x01, %bl
finish:
    lodsb
    test    %al, %al
    jz      1f
    outb    %al, $0xE9
    jmp     finish
1:  mov     %bl, %al
    outb    %al, $0xF4
park:
    cli
    hlt
    jmp     park

/* EAX = handler, ECX = vector: a present DPL-0 32-bit interrupt gate on CS 0x08. */
set_gate:
    mov     %ax, (%edi,%ecx,8)
    movw    $0x08, 2(%edi,%ecx,8)
    movw    $0x8E00, 4(%edi,%ecx,8)
    shr     $16, %eax
    mov     %ax, 6(%edi,%ecx,8)
    ret

int80_handler:
    incl    int80_count
    iret

bp_handler:
    push    %eax
    mov     4(%esp), %eax       /* the EIP the CPU pushed */
    mov     %eax, bp_eip
    pop     %eax
    iret

    .section .rodata
idtr:
    .word   256 * 8 - 1
    .long   idt
msg_ok:
    .asciz  "iret32: ok\n"
msg_int80:
    .asciz  "iret32: INT 0x80 handler did not run\n"
msg_int3:
    .asciz  "iret32: #BP handler saw the wrong return EIP\n"
msg_iret:
    .asciz  "iret32: IRET did not load EFLAGS\n"

    .section .data
    .balign 8
idt:
    .skip   256 * 8
int80_count:
    .long   0
bp_eip:
    .long   0
