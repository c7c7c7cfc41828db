/// One decoded x86 instruction: its bytes, prefixes, opcode, operands and sizes (bhyve's `struct vie`).
public struct DecodedInstruction: Sendable, Equatable, CustomStringConvertible {
    /// REP (F3) or REPNE (F2), whichever came last.
    public enum RepeatPrefix: Sendable, Equatable {
        case rep
        case repne
    }

    /// The opcode map the opcode byte belongs to.
    public enum OpcodeMap: Sendable, Equatable {
        case primary
        /// 0F xx.
        case twoByte
        /// 0F 38 xx.
        case threeByte38
        /// 0F 3A xx.
        case threeByte3A
    }

    /// The prefixes in front of the opcode.
    public struct Prefixes: Sendable, Equatable {
        public var lock = false
        public var repeatPrefix: RepeatPrefix?
        /// The last segment-override prefix, including those 64-bit mode ignores (CS, DS, ES, SS).
        public var segment: SegmentRegister?
        /// 66.
        public var operandSize = false
        /// 67.
        public var addressSize = false
        /// The REX byte (40–4F) when it immediately precedes the opcode in 64-bit mode.
        public var rex: UInt8?
        public var vex: VEX?
        public var evex: EVEX?

        public init() {}

        public var rexW: Bool { (rex ?? 0) & 8 != 0 || vex?.w == true }
        var rexR: Int { Int((rex ?? 0) & 4) << 1 }
        var rexX: Int { Int((rex ?? 0) & 2) << 2 }
        var rexB: Int { Int((rex ?? 0) & 1) << 3 }
    }

    /// A VEX prefix (C4 three-byte or C5 two-byte form), its inverted fields already un-inverted.
    public struct VEX: Sendable, Equatable {
        /// 1 = 0F, 2 = 0F 38, 3 = 0F 3A.
        public var map: UInt8
        public var w: Bool
        /// The extra source register, 0–15.
        public var vvvv: Int
        /// 256-bit vector length.
        public var l: Bool
        /// The implied prefix: 0 none, 1 = 66, 2 = F3, 3 = F2.
        public var pp: UInt8
        public var r: Bool, x: Bool, b: Bool
    }

    /// An EVEX prefix (62 P0 P1 P2), kept raw: decoded for its length; no EVEX instruction is emulated.
    public struct EVEX: Sendable, Equatable {
        public var p0: UInt8, p1: UInt8, p2: UInt8

        /// The opcode map: 1 = 0F, 2 = 0F 38, 3 = 0F 3A, 5 and 6 for AVX512-FP16.
        public var map: UInt8 { p0 & 7 }
        /// The vector length in bytes: 16, 32 or 64 (L'L).
        public var vectorLength: Int { 16 << Int((p2 >> 5) & 3) }
        /// The ModRM reg extension for general-purpose registers (EVEX.R).
        public var r: Bool { p0 & 0x80 == 0 }
        /// The register in vvvv, as a general-purpose register number (V' is for vectors only).
        public var vvvv: Int { Int(~p1 >> 3) & 15 }
    }

    /// The ModRM byte, with REX/VEX extension bits folded into `reg` and `rm`.
    public struct ModRM: Sendable, Equatable {
        public let raw: UInt8
        public var mod: UInt8 { raw >> 6 }
        /// The reg field (0–7) as an opcode extension of group opcodes.
        public var opcodeExtension: Int { Int(raw >> 3) & 7 }
        /// The reg field as a register number, 0–15.
        public let reg: Int
        /// The r/m field as a register number when `mod` is 3, 0–15.
        public let rm: Int
    }

    /// A memory operand: segment:[base + index * scale + displacement], or RIP-relative.
    public struct MemoryOperand: Sendable, Equatable {
        /// The segment the address is relative to: an override prefix's, or the default (SS for
        /// addresses based on RSP or RBP, DS otherwise).
        public var segment: SegmentRegister
        public var base: Int?
        public var index: Int?
        /// 1, 2, 4 or 8.
        public var scale: Int
        /// Sign-extended.
        public var displacement: Int64
        /// 64-bit mode's [RIP + disp32]: relative to the next instruction.
        public var ripRelative: Bool
        public init(segment: SegmentRegister, base: Int? = nil, index: Int? = nil, scale: Int = 1,
                    displacement: Int64 = 0, ripRelative: Bool = false) {
            self.segment = segment; self.base = base; self.index = index; self.scale = scale
            self.displacement = displacement; self.ripRelative = ripRelative
        }
    }

    /// The mode the instruction was decoded for.
    public let mode: InstructionMode
    /// Exactly the instruction's bytes.
    public let bytes: [UInt8]
    public let prefixes: Prefixes
    /// Where REX, VEX, EVEX or the opcode starts in ``bytes``: the legacy prefixes come before.
    public let opcodeOffset: Int
    /// Where the ModRM byte is in ``bytes``, when there is one.
    public let modRMOffset: Int?
    public let map: OpcodeMap
    /// The opcode byte within ``map`` (after 0F, 0F 38, 0F 3A or a VEX prefix).
    public let opcode: UInt8
    public let modRM: ModRM?
    /// The memory operand of a ModRM with mod ≠ 3, or the moffs of A0–A3.
    public let memory: MemoryOperand?
    /// The immediate, zero-extended from its `immediateSize` bytes (0 when there is none).
    public let immediate: UInt64
    /// 0 (none) to 8 bytes; ENTER's imm16 and imm8 count as 3.
    public let immediateSize: Int
    /// The operand size in bytes: 1 for the byte forms of emulated instructions (the even opcodes
    /// of the ALU rows, 80, C0, F6, …), otherwise 2, 4 or 8 from the mode, 66 and REX.W.
    public let operandSize: Int
    /// 2, 4 or 8 bytes.
    public let addressSize: Int
    /// What the emulator does for it, or nil when it cannot emulate it.
    public let operation: Operation?
    /// The mnemonic, a best guess for instructions without an ``operation``.
    public let mnemonic: String

    public var length: Int { bytes.count }

    /// The immediate sign-extended from its size to 64 bits.
    public var signExtendedImmediate: UInt64 {
        guard immediateSize > 0, immediateSize < 8 else { return immediate }
        let shift = UInt64(64 - immediateSize * 8)
        return UInt64(bitPattern: Int64(bitPattern: immediate << shift) >> shift)
    }

    /// The bytes as hex pairs, e.g. "f0 48 0f c7 0e".
    public var hexBytes: String { Self.hex(bytes) }

    public var description: String { "\(mnemonic) [\(hexBytes)]" }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
    }
}
