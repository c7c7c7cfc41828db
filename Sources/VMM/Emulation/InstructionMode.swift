import KVM

/// How the processor reads code at the moment: the default operand and address sizes, and whether
/// the encodings of protected and 64-bit mode exist (Intel SDM vol. 2 §2.2.1 and §3.6).
public struct InstructionMode: Sendable, Equatable, CustomStringConvertible {
    /// The default operand and address size in bytes: 2 or 4 from CS.D outside 64-bit mode, 8
    /// (addresses; operands default to 4) in 64-bit mode.
    public let codeSize: Int
    /// Real-address or virtual-8086 mode, where C4/C5 are always LES/LDS and 62 is always BOUND.
    public let isRealOrVirtual8086: Bool

    public static let real = InstructionMode(codeSize: 2, isRealOrVirtual8086: true)
    public static let protected16 = InstructionMode(codeSize: 2, isRealOrVirtual8086: false)
    public static let protected32 = InstructionMode(codeSize: 4, isRealOrVirtual8086: false)
    /// 64-bit mode: IA-32e mode with CS.L = 1.
    public static let long64 = InstructionMode(codeSize: 8, isRealOrVirtual8086: false)

    private init(codeSize: Int, isRealOrVirtual8086: Bool) {
        self.codeSize = codeSize
        self.isRealOrVirtual8086 = isRealOrVirtual8086
    }

    /// The mode of a vCPU with these registers: 64-bit mode when EFER.LMA and CS.L are set, real
    /// or virtual-8086 mode when CR0.PE is clear or RFLAGS.VM is set (16-bit, unless CS.D was left
    /// set in real mode), otherwise protected or compatibility mode sized by CS.D.
    public init(_ special: SpecialRegisters, rflags: UInt64) {
        if special.efer & (1 << 10) != 0 && special.cs.long {
            self = .long64
        } else if special.cr0 & 1 == 0 {
            self.init(codeSize: special.cs.defaultBig ? 4 : 2, isRealOrVirtual8086: true)
        } else if rflags & RFLAGS.virtual8086 != 0 {
            self = .real
        } else {
            self = special.cs.defaultBig ? .protected32 : .protected16
        }
    }

    /// 64-bit mode, where REX exists and addresses default to 64 bits.
    public var is64Bit: Bool { codeSize == 8 }

    public var description: String {
        switch (codeSize, isRealOrVirtual8086) {
        case (8, _): "64-bit"
        case (_, true): "real (\(codeSize * 8)-bit)"
        default: "protected \(codeSize * 8)-bit"
        }
    }
}
