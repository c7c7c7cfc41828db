/*
 * ap-trampoline: how an application processor woken by INIT-SIPI-SIPI gets
 * from real mode to the 64-bit C code of the program that woke it.
 *
 * ap_trampoline..ap_trampoline_end is position-independent 16-bit code that
 * the BSP copies to a page below 1 MiB (the start-up vector's page) after
 * filling in ap_params with its own GDTR, CR3, CR4, EFER and the address of
 * ap_long_entry.  The AP starts there with CS = vector << 8, IP = 0, loads
 * the BSP's GDT and paging, and far-jumps to the 64-bit code selector.
 * ap_long_entry (in the program proper) loads the data selectors and the
 * stack the BSP left in ap_stack and calls ap_main(); if it returns, the AP
 * halts for good.
 */
#include "guest64.h"

    .set    CODE64, 0x18
    .set    DATA, 0x10
    .set    MSR_EFER, 0xC0000080
    .set    CR0_PE_ET_PG, 0x80000011

    .section .rodata
    .code16
    .globl  ap_trampoline, ap_trampoline_end, ap_params
ap_trampoline:
    cli
    cld
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   (ap_gdtr - ap_trampoline)
    movl    (ap_cr4 - ap_trampoline), %eax
    mov     %eax, %cr4
    movl    (ap_cr3 - ap_trampoline), %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    movl    (ap_efer - ap_trampoline), %eax
    xor     %edx, %edx
    wrmsr
    mov     $CR0_PE_ET_PG, %eax
    mov     %eax, %cr0
    ljmpl   *(ap_entry - ap_trampoline)

    .balign 8
ap_params:
ap_gdtr:                        /* limit, 32-bit base (lgdt in 16-bit code) */
    .word   0
    .long   0
    .word   0
ap_cr3:
    .long   0
ap_cr4:
    .long   0
ap_efer:
    .long   0
ap_entry:                       /* offset, selector: a far pointer */
    .long   0
    .word   CODE64
ap_trampoline_end:

    .text
    .code64
    .globl  ap_long_entry
ap_long_entry:
    mov     $DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %ax, %fs
    mov     %ax, %gs
    mov     ap_stack(%rip), %rsp
    call    ap_main
    park_forever
