import Testing
import KVM
@testable import VMM

private typealias Memory = DecodedInstruction.MemoryOperand

/// One row of the decoder's encoding table.
private struct Encoding: CustomStringConvertible, Sendable {
    let bytes: [UInt8]
    let mode: InstructionMode
    let length: Int
    let mnemonic: String
    var operation: Operation?
    var operandSize: Int?
    var addressSize: Int?
    var memory: Memory?
    var immediate: UInt64?

    var description: String { "\(DecodedInstruction.hex(bytes)) in \(mode) mode" }
}

private let rax = 0, rcx = 1, rdx = 2, rbx = 3, rsp = 4, rbp = 5, rsi = 6, rdi = 7
private let r8 = 8, r12 = 12, r13 = 13, r15 = 15

/// ModRM and SIB addressing in 16-, 32- and 64-bit forms (Intel SDM vol. 2 tables 2-1 to 2-3).
private let addressingForms: [Encoding] = [
    // 16-bit: the eight base/index pairs, disp16 alone, disp8 and disp16.
    Encoding(bytes: [0x8B, 0x00], mode: .real, length: 2, mnemonic: "mov", operandSize: 2, addressSize: 2,
             memory: Memory(segment: .ds, base: rbx, index: rsi)),
    Encoding(bytes: [0x8B, 0x01], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ds, base: rbx, index: rdi)),
    Encoding(bytes: [0x8B, 0x02], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ss, base: rbp, index: rsi)),
    Encoding(bytes: [0x8B, 0x03], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ss, base: rbp, index: rdi)),
    Encoding(bytes: [0x8B, 0x04], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ds, base: rsi)),
    Encoding(bytes: [0x8B, 0x05], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ds, base: rdi)),
    Encoding(bytes: [0x8B, 0x06, 0x34, 0x12], mode: .real, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, displacement: 0x1234)),
    Encoding(bytes: [0x8B, 0x07], mode: .real, length: 2, mnemonic: "mov", memory: Memory(segment: .ds, base: rbx)),
    Encoding(bytes: [0x8B, 0x46, 0xFE], mode: .real, length: 3, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rbp, displacement: -2)),
    Encoding(bytes: [0x8B, 0x87, 0x00, 0x80], mode: .protected16, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, base: rbx, displacement: -0x8000)),
    // 67 in 32-bit code selects 16-bit addressing, 66 a 16-bit operand.
    Encoding(bytes: [0x67, 0x66, 0x8B, 0x00], mode: .protected32, length: 4, mnemonic: "mov", operandSize: 2,
             addressSize: 2, memory: Memory(segment: .ds, base: rbx, index: rsi)),
    // 32-bit: register indirect, SIB with scale, no index, no base, EBP base on SS, disp32 alone.
    Encoding(bytes: [0x8B, 0x03], mode: .protected32, length: 2, mnemonic: "mov", operandSize: 4, addressSize: 4,
             memory: Memory(segment: .ds, base: rbx)),
    Encoding(bytes: [0x8B, 0x44, 0x8B, 0x10], mode: .protected32, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, base: rbx, index: rcx, scale: 4, displacement: 0x10)),
    Encoding(bytes: [0x8B, 0x04, 0x24], mode: .protected32, length: 3, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rsp)),
    Encoding(bytes: [0x8B, 0x04, 0xCD, 0x78, 0x56, 0x34, 0x12], mode: .protected32, length: 7, mnemonic: "mov",
             memory: Memory(segment: .ds, index: rcx, scale: 8, displacement: 0x1234_5678)),
    Encoding(bytes: [0x8B, 0x45, 0x08], mode: .protected32, length: 3, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rbp, displacement: 8)),
    Encoding(bytes: [0x8B, 0x05, 0x00, 0x00, 0x00, 0x80], mode: .protected32, length: 6, mnemonic: "mov",
             memory: Memory(segment: .ds, displacement: -0x8000_0000)),
    Encoding(bytes: [0x8B, 0x84, 0x24, 0x00, 0x01, 0x00, 0x00], mode: .protected32, length: 7, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rsp, displacement: 0x100)),
    // 64-bit: RIP-relative (also under 67), REX.B/X bases and indexes, R12 needs a SIB, R13 a displacement.
    Encoding(bytes: [0x48, 0x8B, 0x05, 0x10, 0x00, 0x00, 0x00], mode: .long64, length: 7, mnemonic: "mov",
             operandSize: 8, addressSize: 8, memory: Memory(segment: .ds, displacement: 0x10, ripRelative: true)),
    Encoding(bytes: [0x67, 0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF], mode: .long64, length: 7, mnemonic: "mov",
             operandSize: 4, addressSize: 4, memory: Memory(segment: .ds, displacement: -0x10, ripRelative: true)),
    Encoding(bytes: [0x8B, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00], mode: .long64, length: 7, mnemonic: "mov",
             memory: Memory(segment: .ds, displacement: 0x1000)),
    Encoding(bytes: [0x4B, 0x8B, 0x04, 0x3C], mode: .long64, length: 4, mnemonic: "mov", operandSize: 8,
             memory: Memory(segment: .ds, base: r12, index: r15)),
    Encoding(bytes: [0x41, 0x8B, 0x45, 0x00], mode: .long64, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, base: r13)),
    Encoding(bytes: [0x42, 0x8B, 0x04, 0xE5, 0x00, 0x00, 0x00, 0x00], mode: .long64, length: 8, mnemonic: "mov",
             memory: Memory(segment: .ds, index: r12, scale: 8)),
    Encoding(bytes: [0x41, 0x8B, 0x04, 0x24], mode: .long64, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, base: r12)),
    Encoding(bytes: [0x8B, 0x64, 0x24, 0xF8], mode: .long64, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rsp, displacement: -8)),
    Encoding(bytes: [0x4C, 0x8B, 0x43, 0x7F], mode: .long64, length: 4, mnemonic: "mov", operandSize: 8,
             memory: Memory(segment: .ds, base: rbx, displacement: 0x7F)),
]

/// Prefix combinations bhyve accepts, and how they combine.
private let prefixForms: [Encoding] = [
    Encoding(bytes: [0x64, 0x8B, 0x00], mode: .long64, length: 3, mnemonic: "mov", memory: Memory(segment: .fs, base: rax)),
    Encoding(bytes: [0x65, 0x48, 0x8B, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00], mode: .long64, length: 9, mnemonic: "mov",
             operandSize: 8, memory: Memory(segment: .gs, displacement: 0x28)),
    // 64-bit mode ignores CS, DS, ES and SS overrides.
    Encoding(bytes: [0x2E, 0x8B, 0x45, 0x00], mode: .long64, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ss, base: rbp)),
    Encoding(bytes: [0x26, 0x8B, 0x00], mode: .protected32, length: 3, mnemonic: "mov", memory: Memory(segment: .es, base: rax)),
    Encoding(bytes: [0x36, 0x8B, 0x00], mode: .protected32, length: 3, mnemonic: "mov", memory: Memory(segment: .ss, base: rax)),
    Encoding(bytes: [0x3E, 0x8B, 0x45, 0x00], mode: .protected32, length: 4, mnemonic: "mov",
             memory: Memory(segment: .ds, base: rbp)),
    Encoding(bytes: [0x2E, 0x8B, 0x00], mode: .real, length: 3, mnemonic: "mov", memory: Memory(segment: .cs, base: rbx, index: rsi)),
    // 66 and REX.W: REX.W wins.
    Encoding(bytes: [0x66, 0x48, 0x89, 0x08], mode: .long64, length: 4, mnemonic: "mov", operandSize: 8),
    Encoding(bytes: [0x66, 0x89, 0x08], mode: .long64, length: 3, mnemonic: "mov", operandSize: 2),
    Encoding(bytes: [0x66, 0x89, 0x08], mode: .real, length: 3, mnemonic: "mov", operandSize: 4),
    // A REX prefix followed by a legacy prefix is ignored.
    Encoding(bytes: [0x48, 0x66, 0x89, 0x08], mode: .long64, length: 4, mnemonic: "mov", operandSize: 2),
    Encoding(bytes: [0xF0, 0x48, 0x0F, 0xC7, 0x0E], mode: .long64, length: 5, mnemonic: "cmpxchg16b", operation: .cmpxchg16b,
             memory: Memory(segment: .ds, base: rsi)),
    Encoding(bytes: [0x0F, 0xC7, 0x0E], mode: .protected32, length: 3, mnemonic: "cmpxchg8b", operation: .cmpxchg8b),
    Encoding(bytes: [0xF3, 0x48, 0xA5], mode: .long64, length: 3, mnemonic: "movs", operation: .movs, operandSize: 8),
    Encoding(bytes: [0xF2, 0xF3, 0xAA], mode: .long64, length: 3, mnemonic: "stos", operation: .stos, operandSize: 1),
    Encoding(bytes: [0x67, 0xF3, 0xA4], mode: .long64, length: 3, mnemonic: "movs", operation: .movs, operandSize: 1,
             addressSize: 4),
    Encoding(bytes: [0xF3, 0x0F, 0xB8, 0xC3], mode: .long64, length: 4, mnemonic: "popcnt", operation: .popcnt, operandSize: 4),
    Encoding(bytes: [0x0F, 0xB8, 0xC0], mode: .protected32, length: 3, mnemonic: "jmpe"),
    Encoding(bytes: [0xF3, 0x90], mode: .long64, length: 2, mnemonic: "pause", operation: .nop),
    Encoding(bytes: [0x41, 0x90], mode: .long64, length: 2, mnemonic: "xchg", operation: .xchg),
]

/// Immediates, moffs and the opcode-dependent parts of an instruction's length.
private let immediateForms: [Encoding] = [
    Encoding(bytes: [0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8], mode: .long64, length: 10, mnemonic: "mov", operation: .mov,
             operandSize: 8, immediate: 0x0807_0605_0403_0201),
    Encoding(bytes: [0xB8, 1, 2, 3, 4], mode: .long64, length: 5, mnemonic: "mov", operandSize: 4, immediate: 0x0403_0201),
    Encoding(bytes: [0x66, 0xB8, 1, 2], mode: .long64, length: 4, mnemonic: "mov", operandSize: 2, immediate: 0x0201),
    Encoding(bytes: [0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0xFF], mode: .long64, length: 7, mnemonic: "mov",
             operandSize: 8, immediate: 0xFFFF_FFFF),
    Encoding(bytes: [0x66, 0x81, 0x38, 0x34, 0x12], mode: .long64, length: 5, mnemonic: "cmp", operation: .cmp,
             operandSize: 2, immediate: 0x1234),
    Encoding(bytes: [0x83, 0x48, 0x04, 0x80], mode: .long64, length: 4, mnemonic: "or", operation: .or, immediate: 0x80),
    Encoding(bytes: [0x80, 0x20, 0x0F], mode: .long64, length: 3, mnemonic: "and", operation: .and, operandSize: 1),
    Encoding(bytes: [0xF6, 0x00, 0x01], mode: .long64, length: 3, mnemonic: "test", operation: .test, operandSize: 1),
    Encoding(bytes: [0xF7, 0x18], mode: .long64, length: 2, mnemonic: "neg", operation: .neg),
    Encoding(bytes: [0xF7, 0x00, 1, 0, 0, 0], mode: .long64, length: 6, mnemonic: "test", immediate: 1),
    Encoding(bytes: [0x48, 0xA1, 8, 7, 6, 5, 4, 3, 2, 1], mode: .long64, length: 10, mnemonic: "mov", operandSize: 8,
             memory: Memory(segment: .ds, displacement: 0x0102_0304_0506_0708)),
    Encoding(bytes: [0x67, 0xA3, 4, 3, 2, 1], mode: .long64, length: 6, mnemonic: "mov", addressSize: 4,
             memory: Memory(segment: .ds, displacement: 0x0102_0304)),
    Encoding(bytes: [0xA0, 0x34, 0x12], mode: .real, length: 3, mnemonic: "mov", operandSize: 1,
             memory: Memory(segment: .ds, displacement: 0x1234)),
    Encoding(bytes: [0xC8, 0x10, 0x00, 0x01], mode: .long64, length: 4, mnemonic: "enter", immediate: 0x01_0010),
    Encoding(bytes: [0x9A, 1, 2, 3, 4, 5, 6], mode: .protected32, length: 7, mnemonic: "callf"),
    Encoding(bytes: [0x66, 0x9A, 1, 2, 3, 4], mode: .protected32, length: 6, mnemonic: "callf"),
    Encoding(bytes: [0x0F, 0xBA, 0x20, 0x05], mode: .long64, length: 4, mnemonic: "bt", operation: .bt, immediate: 5),
    Encoding(bytes: [0x0F, 0x84, 0, 0, 0, 0], mode: .long64, length: 6, mnemonic: "je"),
    Encoding(bytes: [0x66, 0x0F, 0x84, 0, 0], mode: .protected32, length: 5, mnemonic: "je"),
    Encoding(bytes: [0x0F, 0x0F, 0xC1, 0xB4], mode: .protected32, length: 4, mnemonic: "3dnow"),
    Encoding(bytes: [0x66, 0x0F, 0x3A, 0x0F, 0xC1, 0x08], mode: .long64, length: 6, mnemonic: "0f3a.0f"),
    Encoding(bytes: [0xCD, 0x80], mode: .protected32, length: 2, mnemonic: "int", operation: .int, immediate: 0x80),
    Encoding(bytes: [0x6A, 0xFF], mode: .long64, length: 2, mnemonic: "push", operation: .push, operandSize: 8),
    Encoding(bytes: [0x66, 0x68, 0x34, 0x12], mode: .long64, length: 4, mnemonic: "push", operandSize: 2),
    Encoding(bytes: [0xFF, 0x30], mode: .long64, length: 2, mnemonic: "push", operation: .push, operandSize: 8),
    Encoding(bytes: [0x8F, 0x00], mode: .protected32, length: 2, mnemonic: "pop", operation: .pop, operandSize: 4),
]

/// The instructions this kind of host's KVM leaves to the VMM, and VEX.
private let systemForms: [Encoding] = [
    Encoding(bytes: [0xCC], mode: .long64, length: 1, mnemonic: "int3", operation: .int3),
    Encoding(bytes: [0xCF], mode: .protected32, length: 1, mnemonic: "iret", operation: .iret, operandSize: 4),
    Encoding(bytes: [0x48, 0xCF], mode: .long64, length: 2, mnemonic: "iret", operation: .iret, operandSize: 8),
    Encoding(bytes: [0x0F, 0x0B], mode: .long64, length: 2, mnemonic: "ud2", operation: .ud2),
    Encoding(bytes: [0x0F, 0xB9, 0x04, 0x24], mode: .long64, length: 4, mnemonic: "ud1", operation: .ud1),
    Encoding(bytes: [0x0F, 0xFF, 0xC0], mode: .long64, length: 3, mnemonic: "ud0", operation: .ud0),
    Encoding(bytes: [0x9B], mode: .long64, length: 1, mnemonic: "fwait", operation: .fwait),
    Encoding(bytes: [0x0F, 0x01, 0xCA], mode: .long64, length: 3, mnemonic: "clac", operation: .clac),
    Encoding(bytes: [0x0F, 0x01, 0xCB], mode: .long64, length: 3, mnemonic: "stac", operation: .stac),
    Encoding(bytes: [0x0F, 0x01, 0xD0], mode: .long64, length: 3, mnemonic: "xgetbv", operation: .xgetbv),
    Encoding(bytes: [0x0F, 0x01, 0xD1], mode: .long64, length: 3, mnemonic: "xsetbv", operation: .xsetbv),
    Encoding(bytes: [0x0F, 0x01, 0xF8], mode: .long64, length: 3, mnemonic: "swapgs"),
    Encoding(bytes: [0x0F, 0x01, 0x38], mode: .long64, length: 3, mnemonic: "invlpg"),
    Encoding(bytes: [0x0F, 0x38, 0xF0, 0x06], mode: .long64, length: 4, mnemonic: "movbe", operation: .movbe, operandSize: 4),
    Encoding(bytes: [0x66, 0x0F, 0x38, 0xF1, 0x06], mode: .long64, length: 5, mnemonic: "movbe", operandSize: 2),
    Encoding(bytes: [0xF2, 0x0F, 0x38, 0xF1, 0xC1], mode: .long64, length: 5, mnemonic: "crc32"),
    Encoding(bytes: [0x66, 0x0F, 0x38, 0x82, 0x06], mode: .long64, length: 5, mnemonic: "invpcid", operation: .invpcid),
    Encoding(bytes: [0x66, 0x0F, 0xAE, 0x36], mode: .long64, length: 4, mnemonic: "clwb", operation: .clwb),
    Encoding(bytes: [0x66, 0x0F, 0xAE, 0x3E], mode: .long64, length: 4, mnemonic: "clflushopt", operation: .clflushopt),
    Encoding(bytes: [0x0F, 0xAE, 0x3E], mode: .long64, length: 3, mnemonic: "clflush", operation: .clflush),
    Encoding(bytes: [0x0F, 0xAE, 0xF8], mode: .long64, length: 3, mnemonic: "sfence", operation: .sfence),
    Encoding(bytes: [0xF3, 0x48, 0x0F, 0xAE, 0xC0], mode: .long64, length: 5, mnemonic: "rdfsbase"),
    Encoding(bytes: [0x0F, 0xAE, 0x06], mode: .long64, length: 3, mnemonic: "fxsave", operation: .fxsave),
    Encoding(bytes: [0x48, 0x0F, 0xAE, 0x0E], mode: .long64, length: 4, mnemonic: "fxrstor", operation: .fxrstor),
    Encoding(bytes: [0x0F, 0xAE, 0x26], mode: .long64, length: 3, mnemonic: "xsave", operation: .xsave),
    Encoding(bytes: [0x0F, 0xAE, 0x2E], mode: .long64, length: 3, mnemonic: "xrstor", operation: .xrstor),
    Encoding(bytes: [0x0F, 0xAE, 0x36], mode: .long64, length: 3, mnemonic: "xsaveopt", operation: .xsaveopt),
    Encoding(bytes: [0x48, 0x0F, 0xC7, 0x26], mode: .long64, length: 4, mnemonic: "xsavec", operation: .xsavec),
    Encoding(bytes: [0x0F, 0xC7, 0x2E], mode: .long64, length: 3, mnemonic: "xsaves", operation: .xsaves),
    Encoding(bytes: [0x0F, 0xC7, 0x1E], mode: .long64, length: 3, mnemonic: "xrstors", operation: .xrstors),
    Encoding(bytes: [0x48, 0x0F, 0xC7, 0xF0], mode: .long64, length: 4, mnemonic: "rdrand"),
    Encoding(bytes: [0x0F, 0x05], mode: .long64, length: 2, mnemonic: "syscall"),
    Encoding(bytes: [0x0F, 0x01, 0xF9], mode: .long64, length: 3, mnemonic: "rdtscp", operation: .rdtscp),
    Encoding(bytes: [0xF2, 0x48, 0x0F, 0x38, 0xF1, 0xC1], mode: .long64, length: 6, mnemonic: "crc32", operation: .crc32,
             operandSize: 8),
    Encoding(bytes: [0x0F, 0xAE, 0x55, 0xFC], mode: .long64, length: 4, mnemonic: "ldmxcsr", operation: .ldmxcsr),
    Encoding(bytes: [0x0F, 0xAE, 0x1C, 0x24], mode: .long64, length: 4, mnemonic: "stmxcsr", operation: .stmxcsr),
    Encoding(bytes: [0xDF, 0xE0], mode: .long64, length: 2, mnemonic: "fnstsw", operation: .fnstsw),
    Encoding(bytes: [0xD9, 0x7D, 0xFE], mode: .long64, length: 3, mnemonic: "fnstcw", operation: .fnstcw),
    Encoding(bytes: [0xD9, 0x6D, 0xFE], mode: .long64, length: 3, mnemonic: "fldcw", operation: .fldcw),
    Encoding(bytes: [0xDB, 0xE2], mode: .long64, length: 2, mnemonic: "fnclex", operation: .fnclex),
    Encoding(bytes: [0xDB, 0xE3], mode: .long64, length: 2, mnemonic: "fninit"),
    Encoding(bytes: [0xD8, 0xC1], mode: .long64, length: 2, mnemonic: "x87"),
    Encoding(bytes: [0x0F, 0x1F, 0x44, 0x00, 0x00], mode: .long64, length: 5, mnemonic: "nop", operation: .nop),
    Encoding(bytes: [0xF3, 0x0F, 0x1E, 0xFA], mode: .long64, length: 4, mnemonic: "endbr64", operation: .nop),
    // VEX: BEXTR eax, [rsi], ebx (three-byte), VZEROUPPER and a VEX.0F3A form with imm8 (two- and three-byte).
    Encoding(bytes: [0xC4, 0xE2, 0x60, 0xF7, 0x06], mode: .long64, length: 5, mnemonic: "bextr", operation: .bextr,
             memory: Memory(segment: .ds, base: rsi)),
    Encoding(bytes: [0xC4, 0xE2, 0x60, 0xF7, 0x06], mode: .protected32, length: 5, mnemonic: "bextr", operation: .bextr),
    Encoding(bytes: [0xC5, 0xF8, 0x77], mode: .long64, length: 3, mnemonic: "vzeroupper"),
    Encoding(bytes: [0xC5, 0xFE, 0x6F, 0x36], mode: .long64, length: 4, mnemonic: "vmovdqu"),
    Encoding(bytes: [0x66, 0x0F, 0x6F, 0x10], mode: .long64, length: 4, mnemonic: "movdqa"),
    Encoding(bytes: [0x66, 0x0F, 0xEF, 0xC0], mode: .long64, length: 4, mnemonic: "pxor"),
    Encoding(bytes: [0xC4, 0xE3, 0x7D, 0x18, 0xC1, 0x01], mode: .long64, length: 6, mnemonic: "vex.0f3a.18"),
    Encoding(bytes: [0x62, 0xF1, 0x7C, 0x48, 0x10, 0x06], mode: .long64, length: 6, mnemonic: "evex.1.10",
             memory: Memory(segment: .ds, base: rsi)),
    Encoding(bytes: [0x62, 0xD1, 0x7C, 0x48, 0x10, 0x44, 0x24, 0x01], mode: .long64, length: 8, mnemonic: "evex.1.10",
             memory: Memory(segment: .ds, base: r12, displacement: 1)),
    Encoding(bytes: [0x62, 0xF3, 0x7D, 0x48, 0x25, 0xC1, 0x96], mode: .long64, length: 7, mnemonic: "evex.3.25",
             immediate: 0x96),
    // Outside 64-bit mode C4/C5 with a memory ModRM are LES/LDS, and always in real mode.
    Encoding(bytes: [0xC5, 0x06], mode: .protected32, length: 2, mnemonic: "lds"),
    Encoding(bytes: [0xC4, 0xE2, 0x60], mode: .real, length: 2, mnemonic: "les"),
    Encoding(bytes: [0x62, 0x06], mode: .protected32, length: 2, mnemonic: "bound"),
    Encoding(bytes: [0x63, 0xC8], mode: .protected32, length: 2, mnemonic: "arpl"),
    Encoding(bytes: [0x48, 0x63, 0xC8], mode: .long64, length: 3, mnemonic: "movsxd", operation: .movsxd, operandSize: 8),
]

@Suite struct InstructionDecoderTests {
    @Test(arguments: addressingForms + prefixForms + immediateForms + systemForms)
    fileprivate func decodesLengthMnemonicSizesAndOperands(_ row: Encoding) throws {
        // Trailing bytes must not change the decoding.
        let decoded = try InstructionDecoder.decode(row.bytes + [0x90, 0x90], mode: row.mode)
        #expect(decoded.length == row.length)
        #expect(decoded.bytes == Array(row.bytes.prefix(row.length)))
        #expect(decoded.mnemonic == row.mnemonic)
        if let operation = row.operation { #expect(decoded.operation == operation) }
        if let operandSize = row.operandSize { #expect(decoded.operandSize == operandSize) }
        if let addressSize = row.addressSize { #expect(decoded.addressSize == addressSize) }
        if let memory = row.memory { #expect(decoded.memory == memory) }
        if let immediate = row.immediate { #expect(decoded.immediate == immediate) }
    }

    @Test func everyModRMFormHasTheLengthOfItsDisplacement() throws {
        // In 32-bit addressing: mod 0 → none (disp32 for r/m 5, SIB base 5), mod 1 → 1, mod 2 → 4, mod 3 → none.
        for modRM in 0...255 {
            let mod = modRM >> 6
            let rm = modRM & 7
            let sib: UInt8 = 0x25
            var expected = 2
            if mod != 3 && rm == 4 { expected += 1 }
            if mod == 1 { expected += 1 }
            if mod == 2 || (mod == 0 && rm == 5) || (mod == 0 && rm == 4 && sib & 7 == 5) { expected += 4 }
            let bytes: [UInt8] = [0x8B, UInt8(modRM), sib, 0, 0, 0, 0, 0]
            for mode in [InstructionMode.protected32, .long64] {
                #expect(try InstructionDecoder.decode(bytes, mode: mode).length == expected, "ModRM \(modRM) in \(mode)")
            }
            // 16-bit addressing: mod 1 → 1, mod 2 → 2, mod 0 r/m 6 → 2.
            let expected16 = 2 + (mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 6) ? 2 : 0)
            #expect(try InstructionDecoder.decode(bytes, mode: .real).length == expected16, "ModRM \(modRM) in real mode")
        }
    }

    @Test func eachOneByteOpcodeDecodesInEveryModeOrIsRejectedAsInvalidIn64BitMode() throws {
        let invalidIn64: Set<UInt8> = [0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60, 0x61,
                                       0x82, 0x9A, 0xCE, 0xD4, 0xD5, 0xD6, 0xEA]
        let prefixes: Set<UInt8> = [0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x0F]
        for opcode in 0...255 as ClosedRange<UInt8> where !prefixes.contains(opcode) {
            let bytes: [UInt8] = [opcode, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            for mode in [InstructionMode.real, .protected16, .protected32] {
                #expect(throws: Never.self, "\(opcode) in \(mode)") { try InstructionDecoder.decode(bytes, mode: mode) }
            }
            if (0x40...0x4F).contains(opcode) { continue }
            if invalidIn64.contains(opcode) {
                #expect(throws: DecodeError.self) { try InstructionDecoder.decode(bytes, mode: .long64) }
            } else if opcode != 0x62 && opcode != 0xC4 && opcode != 0xC5 {
                #expect(throws: Never.self, "\(opcode) in 64-bit mode") { try InstructionDecoder.decode(bytes, mode: .long64) }
            }
        }
    }

    @Test func anInstructionLongerThanFifteenBytesIsRejected() {
        let bytes = [UInt8](repeating: 0x66, count: 14) + [0x89, 0x08]
        #expect(throws: DecodeError.tooLong) { try InstructionDecoder.decode(bytes, mode: .long64) }
    }

    @Test func bytesEndingInsideTheInstructionAreReportedAsTruncated() {
        #expect(throws: DecodeError.truncated(available: 3)) {
            try InstructionDecoder.decode([0x48, 0x8B, 0x05], mode: .long64)
        }
        #expect(throws: DecodeError.truncated(available: 0)) { try InstructionDecoder.decode([], mode: .long64) }
    }

    @Test func encodingsThatDoNotExistIn64BitModeNameWhatTheyWouldBe() {
        #expect(throws: DecodeError.invalid(mnemonic: "push")) { try InstructionDecoder.decode([0x06], mode: .long64) }
        #expect(throws: DecodeError.invalid(mnemonic: "into")) { try InstructionDecoder.decode([0xCE], mode: .long64) }
        #expect(throws: DecodeError.invalid(mnemonic: "vex")) {
            try InstructionDecoder.decode([0x66, 0xC5, 0xF8, 0x77], mode: .long64)
        }
    }

    @Test func theModeFollowsEFERCR0CSAndRFLAGS() {
        var special = SpecialRegisters()
        #expect(InstructionMode(special, rflags: 2) == .real)
        special.cr0 = 1
        #expect(InstructionMode(special, rflags: 2) == .protected16)
        #expect(InstructionMode(special, rflags: 2 | RFLAGS.virtual8086) == .real)
        special.cs.defaultBig = true
        #expect(InstructionMode(special, rflags: 2) == .protected32)
        special.efer = 1 << 10
        #expect(InstructionMode(special, rflags: 2) == .protected32)
        special.cs.long = true
        special.cs.defaultBig = false
        #expect(InstructionMode(special, rflags: 2) == .long64)
    }
}
