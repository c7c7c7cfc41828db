/*
 * multiboot-hello: a multiboot v1 "kernel" (a.out kludge, loaded at
 * 1 MiB).  Checks the loader's magic in EAX, prints the command line from
 * the multiboot information EBX points to, and exits with 0x60 (status
 * 193); a wrong magic or no command line exits with 0x01.  Only the BSP
 * enters it: the other vCPUs must wait for INIT/SIPI.
 */
#define MB_MAGIC        0x1BADB002
#define MB_FLAGS        0x00010000      /* bit 16: the address fields below are valid */
#define MB_LOADER_MAGIC 0x2BADB002
#define MBI_CMDLINE     (1 << 2)

    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    jmp     entry

    .balign 4
header:
    .long   MB_MAGIC
    .long   MB_FLAGS
    .long   -(MB_MAGIC + MB_FLAGS)
    .long   header                  /* header_addr */
    .long   _start                  /* load_addr */
    .long   0                       /* load_end_addr: the whole file */
    .long   0                       /* bss_end_addr: no bss */
    .long   entry                   /* entry_addr */

entry:
    cmp     $MB_LOADER_MAGIC, %eax
    jne     bad
    testl   $MBI_CMDLINE, (%ebx)
    jz      bad
    mov     16(%ebx), %esi          /* cmdline */
1:  lodsb
    test    %al, %al
    jz      2f
    outb    %al, $0xE9
    jmp     1b
2:  mov     $'\n', %al
    outb    %al, $0xE9
    mov     $0x60, %al
    outb    %al, $0xF4
bad:
    mov     $0x01, %al
    outb    %al, $0xF4
3:  cli
    hlt
    jmp     3b
