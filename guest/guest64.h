/*
 * guest64.h: assembler macros shared by the 64-bit guest programs.
 */
#ifndef GUEST64_H
#define GUEST64_H

/* Prints the NUL-terminated string at \msg on the debug console; clobbers rax and rsi. */
.macro puts msg
    lea     \msg(%rip), %rsi
.Lputs_next\@:
    lodsb
    test    %al, %al
    jz      .Lputs_done\@
    outb    %al, $0xE9
    jmp     .Lputs_next\@
.Lputs_done\@:
.endm

/* Stops this vCPU for good: HLT with interrupts off, again if anything wakes it. */
.macro park_forever
.Lpark\@:
    cli
    hlt
    jmp     .Lpark\@
.endm

#endif
