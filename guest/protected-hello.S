/*
 * protected-hello: 32-bit protected-mode guest (paging off).
 * Loaded and entered at 0x100000 with CS=0x08 and flat data segments;
 * prints a line on port 0xE9 and writes 0x22 to isa-debug-exit (0xF4),
 * i.e. process exit status (0x22<<1)|1 = 69.  Built both as a flat binary
 * and as an ELF32 executable.  Other vCPUs just halt.
 */
    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    cld
    test    %edi, %edi          /* EDI = vCPU id: only vCPU 0 talks */
    jnz     3f
    mov     $msg, %esi
1:  lodsb
    test    %al, %al
    jz      2f
    outb    %al, $0xE9
    jmp     1b
2:  mov     $0x22, %al
    outb    %al, $0xF4
3:  cli                         /* other vCPUs park here */
    hlt
    jmp     3b

    .section .rodata
msg:
    .asciz  "hello from protected mode\n"
