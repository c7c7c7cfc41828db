/// What the decoder needs to know about each opcode to find an instruction's end, and the
/// mnemonics it names instructions by when it cannot emulate them.
enum OpcodeTable {
    /// How many immediate bytes follow the ModRM/SIB/displacement.
    enum Immediate {
        case none
        case byte
        case word
        /// 2 bytes with a 16-bit operand size, 4 otherwise (imm32 is sign-extended for 64-bit operands).
        case wordOrDoubleword
        /// The full operand size: MOV r, imm (B8–BF), the one instruction with an imm64.
        case operandSized
        /// ENTER: imm16 then imm8.
        case wordThenByte
        /// A far pointer: offset of the operand size, then a 16-bit selector.
        case farPointer
        /// A moffs of the address size (A0–A3).
        case addressSized
    }

    /// Whether a primary-map opcode has a ModRM byte; one row of 16 opcodes per string.
    static let primaryModRM = bitmap([
        "1111000011110000", "1111000011110000", "1111000011110000", "1111000011110000",
        "0000000000000000", "0000000000000000", "0011000001010000", "0000000000000000",
        "1111111111111111", "0000000000000000", "0000000000000000", "0000000000000000",
        "1100111100000000", "1111000011111111", "0000000000000000", "0000001100000011",
    ])

    /// Whether a 0F-map opcode has a ModRM byte (0F 38 and 0F 3A always have one).
    static let twoByteModRM = bitmap([
        "1111000000000101", "1111111111111111", "1111111111111111", "0000000000000000",
        "1111111111111111", "1111111111111111", "1111111111111111", "1111111011111111",
        "0000000000000000", "1111111111111111", "0001110000011111", "1111111111111111",
        "1111111100000000", "1111111111111111", "1111111111111111", "1111111111111111",
    ])

    /// Primary-map opcodes that do not exist in 64-bit mode.
    static let invalidIn64BitMode: Set<UInt8> = [
        0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60, 0x61, 0x82, 0x9A,
        0xCE, 0xD4, 0xD5, 0xD6, 0xEA,
    ]

    /// Primary-map opcodes whose operand size is 64 bits in 64-bit mode without REX.W: near
    /// branches and stack operations (FF /2, /4, /6 and 8F /0 are handled with their ModRM).
    static let defaultsTo64Bits: Set<UInt8> = Set((0x50...0x5F).map { UInt8($0) } + (0x70...0x7F).map { UInt8($0) } + [
        0x68, 0x6A, 0x8F, 0x9C, 0x9D, 0xC2, 0xC3, 0xC8, 0xC9, 0xE0, 0xE1, 0xE2, 0xE3, 0xE8, 0xE9, 0xEB,
    ])

    static func primaryImmediate(_ opcode: UInt8, modRM: UInt8?) -> Immediate {
        switch opcode {
        case 0x04, 0x0C, 0x14, 0x1C, 0x24, 0x2C, 0x34, 0x3C, 0x6A, 0x6B, 0x70...0x7F, 0x80, 0x82, 0x83,
             0xA8, 0xB0...0xB7, 0xC0, 0xC1, 0xC6, 0xCD, 0xD4, 0xD5, 0xE0...0xE7, 0xEB:
            return .byte
        case 0x05, 0x0D, 0x15, 0x1D, 0x25, 0x2D, 0x35, 0x3D, 0x68, 0x69, 0x81, 0xA9, 0xC7, 0xE8, 0xE9:
            return .wordOrDoubleword
        case 0xB8...0xBF:
            return .operandSized
        case 0xC2, 0xCA:
            return .word
        case 0xC8:
            return .wordThenByte
        case 0x9A, 0xEA:
            return .farPointer
        case 0xA0...0xA3:
            return .addressSized
        case 0xF6, 0xF7:
            // TEST (/0, /1) is the only member of group 3 with an immediate.
            guard let modRM, (modRM >> 3) & 7 < 2 else { return .none }
            return opcode == 0xF6 ? .byte : .wordOrDoubleword
        default:
            return .none
        }
    }

    static func twoByteImmediate(_ opcode: UInt8) -> Immediate {
        switch opcode {
        case 0x0F, 0x70...0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6:
            return .byte
        case 0x80...0x8F:
            return .wordOrDoubleword
        default:
            return .none
        }
    }

    static let primaryMnemonics: [String] = [
        "add", "add", "add", "add", "add", "add", "push", "pop",
        "or", "or", "or", "or", "or", "or", "push", "escape",
        "adc", "adc", "adc", "adc", "adc", "adc", "push", "pop",
        "sbb", "sbb", "sbb", "sbb", "sbb", "sbb", "push", "pop",
        "and", "and", "and", "and", "and", "and", "es", "daa",
        "sub", "sub", "sub", "sub", "sub", "sub", "cs", "das",
        "xor", "xor", "xor", "xor", "xor", "xor", "ss", "aaa",
        "cmp", "cmp", "cmp", "cmp", "cmp", "cmp", "ds", "aas",
        "inc", "inc", "inc", "inc", "inc", "inc", "inc", "inc",
        "dec", "dec", "dec", "dec", "dec", "dec", "dec", "dec",
        "push", "push", "push", "push", "push", "push", "push", "push",
        "pop", "pop", "pop", "pop", "pop", "pop", "pop", "pop",
        "pusha", "popa", "bound", "arpl", "fs", "gs", "data16", "addr16",
        "push", "imul", "push", "imul", "insb", "ins", "outsb", "outs",
        "jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja",
        "js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg",
        "grp1", "grp1", "grp1", "grp1", "test", "test", "xchg", "xchg",
        "mov", "mov", "mov", "mov", "mov", "lea", "mov", "pop",
        "nop", "xchg", "xchg", "xchg", "xchg", "xchg", "xchg", "xchg",
        "cbw", "cwd", "callf", "fwait", "pushf", "popf", "sahf", "lahf",
        "mov", "mov", "mov", "mov", "movs", "movs", "cmps", "cmps",
        "test", "test", "stos", "stos", "lods", "lods", "scas", "scas",
        "mov", "mov", "mov", "mov", "mov", "mov", "mov", "mov",
        "mov", "mov", "mov", "mov", "mov", "mov", "mov", "mov",
        "grp2", "grp2", "ret", "ret", "les", "lds", "mov", "mov",
        "enter", "leave", "retf", "retf", "int3", "int", "into", "iret",
        "grp2", "grp2", "grp2", "grp2", "aam", "aad", "salc", "xlat",
        "x87", "x87", "x87", "x87", "x87", "x87", "x87", "x87",
        "loopne", "loope", "loop", "jcxz", "in", "in", "out", "out",
        "call", "jmp", "jmpf", "jmp", "in", "in", "out", "out",
        "lock", "int1", "repne", "rep", "hlt", "cmc", "grp3", "grp3",
        "clc", "stc", "cli", "sti", "cld", "std", "grp4", "grp5",
    ]

    static let twoByteMnemonics: [String] = [
        "grp6", "grp7", "lar", "lsl", "(bad)", "syscall", "clts", "sysret",
        "invd", "wbinvd", "(bad)", "ud2", "(bad)", "prefetch", "femms", "3dnow",
        "movups", "movups", "movlps", "movlps", "unpcklps", "unpckhps", "movhps", "movhps",
        "prefetch", "nop", "nop", "nop", "nop", "nop", "nop", "nop",
        "mov", "mov", "mov", "mov", "(bad)", "(bad)", "(bad)", "(bad)",
        "movaps", "movaps", "cvtpi2ps", "movntps", "cvttps2pi", "cvtps2pi", "ucomiss", "comiss",
        "wrmsr", "rdtsc", "rdmsr", "rdpmc", "sysenter", "sysexit", "(bad)", "getsec",
        "(bad)", "(bad)", "(bad)", "(bad)", "(bad)", "(bad)", "(bad)", "(bad)",
        "cmovo", "cmovno", "cmovb", "cmovae", "cmove", "cmovne", "cmovbe", "cmova",
        "cmovs", "cmovns", "cmovp", "cmovnp", "cmovl", "cmovge", "cmovle", "cmovg",
        "movmskps", "sqrtps", "rsqrtps", "rcpps", "andps", "andnps", "orps", "xorps",
        "addps", "mulps", "cvtps2pd", "cvtdq2ps", "subps", "minps", "divps", "maxps",
        "punpcklbw", "punpcklwd", "punpckldq", "packsswb", "pcmpgtb", "pcmpgtw", "pcmpgtd", "packuswb",
        "punpckhbw", "punpckhwd", "punpckhdq", "packssdw", "punpcklqdq", "punpckhqdq", "movd", "movq",
        "pshufw", "psrlw", "psrld", "psrlq", "pcmpeqb", "pcmpeqw", "pcmpeqd", "emms",
        "vmread", "vmwrite", "sse", "sse", "haddpd", "hsubpd", "movd", "movq",
        "jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja",
        "js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg",
        "seto", "setno", "setb", "setae", "sete", "setne", "setbe", "seta",
        "sets", "setns", "setp", "setnp", "setl", "setge", "setle", "setg",
        "push", "pop", "cpuid", "bt", "shld", "shld", "(bad)", "(bad)",
        "push", "pop", "rsm", "bts", "shrd", "shrd", "grp15", "imul",
        "cmpxchg", "cmpxchg", "lss", "btr", "lfs", "lgs", "movzx", "movzx",
        "popcnt", "ud1", "grp8", "btc", "bsf", "bsr", "movsx", "movsx",
        "xadd", "xadd", "cmpps", "movnti", "pinsrw", "pextrw", "shufps", "grp9",
        "bswap", "bswap", "bswap", "bswap", "bswap", "bswap", "bswap", "bswap",
        "addsubpd", "psrlw", "psrld", "psrlq", "paddq", "pmullw", "movq", "pmovmskb",
        "psubusb", "psubusw", "pminub", "pand", "paddusb", "paddusw", "pmaxub", "pandn",
        "pavgb", "psraw", "psrad", "pavgw", "pmulhuw", "pmulhw", "cvttpd2dq", "movntq",
        "psubsb", "psubsw", "pminsw", "por", "paddsb", "paddsw", "pmaxsw", "pxor",
        "lddqu", "psllw", "pslld", "psllq", "pmuludq", "pmaddwd", "psadbw", "maskmovq",
        "psubb", "psubw", "psubd", "psubq", "paddb", "paddw", "paddd", "ud0",
    ]

    static let group1 = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
    static let group2 = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"]
    static let group3 = ["test", "test", "not", "neg", "mul", "imul", "div", "idiv"]
    static let group5 = ["inc", "dec", "call", "callf", "jmp", "jmpf", "push", "(bad)"]
    static let group6 = ["sldt", "str", "lldt", "ltr", "verr", "verw", "(bad)", "(bad)"]
    static let group7Memory = ["sgdt", "sidt", "lgdt", "lidt", "smsw", "rstorssp", "lmsw", "invlpg"]
    static let group7Register: [UInt8: String] = [
        0xC1: "vmcall", 0xC2: "vmlaunch", 0xC3: "vmresume", 0xC4: "vmxoff", 0xC8: "monitor", 0xC9: "mwait",
        0xCA: "clac", 0xCB: "stac", 0xCF: "encls", 0xD0: "xgetbv", 0xD1: "xsetbv", 0xD4: "vmfunc", 0xD5: "xend",
        0xD6: "xtest", 0xD7: "enclu", 0xD8: "vmrun", 0xD9: "vmmcall", 0xDA: "vmload", 0xDB: "vmsave",
        0xDC: "stgi", 0xDD: "clgi", 0xDE: "skinit", 0xDF: "invlpga", 0xE8: "serialize", 0xEE: "rdpkru",
        0xEF: "wrpkru", 0xF8: "swapgs", 0xF9: "rdtscp", 0xFA: "monitorx", 0xFB: "mwaitx", 0xFC: "clzero",
        0xFD: "rdpru",
    ]
    static let group8 = ["(bad)", "(bad)", "(bad)", "(bad)", "bt", "bts", "btr", "btc"]
    static let group9Memory = ["(bad)", "cmpxchg8b", "(bad)", "xrstors", "xsavec", "xsaves", "vmptrld", "vmptrst"]
    static let group15Memory = ["fxsave", "fxrstor", "ldmxcsr", "stmxcsr", "xsave", "xrstor", "xsaveopt", "clflush"]
    static let group15Register = ["rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase", "(bad)", "lfence", "mfence", "sfence"]

    private static func bitmap(_ rows: [String]) -> [Bool] {
        rows.flatMap { $0.map { $0 == "1" } }
    }
}
