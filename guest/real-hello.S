/*
 * real-hello: 16-bit real-mode guest.
 * Loaded and entered at 0x8000 with CS=DS=ES=SS=0; prints a line on the
 * debug console (port 0xE9) and ends the VM through isa-debug-exit (0xF4)
 * with value 0x21, i.e. process exit status (0x21<<1)|1 = 67.  Other vCPUs
 * just halt.
 */
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    cld
    test    %di, %di            /* DI = vCPU id: only vCPU 0 talks */
    jnz     3f
    mov     $msg, %si           /* DS = 0, so the linear address fits in SI */
1:  lodsb
    test    %al, %al
    jz      2f
    outb    %al, $0xE9
    jmp     1b
2:  mov     $0x21, %al
    outb    %al, $0xF4
3:  hlt                         /* other vCPUs park here; vCPU 0 only
                                   if the VMM did not honour 0xF4 */
    jmp     3b

    .section .rodata
msg:
    .asciz  "hello from real mode\n"
