import KVM

/// General-purpose registers by their encoding number: 0–7 are RAX, RCX, RDX, RBX, RSP, RBP, RSI,
/// RDI, 8–15 are R8–R15 (reached through REX or VEX).
public enum GeneralRegister {
    public static let rax = 0, rcx = 1, rdx = 2, rbx = 3, rsp = 4, rbp = 5, rsi = 6, rdi = 7
}

extension Registers {
    /// The full 64-bit register `number` (0–15).
    public subscript(gpr number: Int) -> UInt64 {
        get {
            switch number {
            case 0: rax
            case 1: rcx
            case 2: rdx
            case 3: rbx
            case 4: rsp
            case 5: rbp
            case 6: rsi
            case 7: rdi
            case 8: r8
            case 9: r9
            case 10: r10
            case 11: r11
            case 12: r12
            case 13: r13
            case 14: r14
            default: r15
            }
        }
        set {
            switch number {
            case 0: rax = newValue
            case 1: rcx = newValue
            case 2: rdx = newValue
            case 3: rbx = newValue
            case 4: rsp = newValue
            case 5: rbp = newValue
            case 6: rsi = newValue
            case 7: rdi = newValue
            case 8: r8 = newValue
            case 9: r9 = newValue
            case 10: r10 = newValue
            case 11: r11 = newValue
            case 12: r12 = newValue
            case 13: r13 = newValue
            case 14: r14 = newValue
            default: r15 = newValue
            }
        }
    }

    /// Register `number` read as an operand of `size` bytes. Without a REX prefix, byte registers
    /// 4–7 are AH, CH, DH and BH.
    public func operand(_ number: Int, size: Int, rex: Bool) -> UInt64 {
        if size == 1 && !rex && (4...7).contains(number) { return (self[gpr: number - 4] >> 8) & 0xFF }
        return self[gpr: number] & Self.mask(size)
    }

    /// Writes `value` to register `number` as an operand of `size` bytes: 32-bit writes clear bits
    /// 63:32, 8- and 16-bit writes keep the rest of the register.
    public mutating func setOperand(_ number: Int, size: Int, rex: Bool, _ value: UInt64) {
        if size == 1 && !rex && (4...7).contains(number) {
            let full = self[gpr: number - 4]
            self[gpr: number - 4] = (full & ~0xFF00) | ((value & 0xFF) << 8)
            return
        }
        switch size {
        case 1, 2:
            let mask = Self.mask(size)
            self[gpr: number] = (self[gpr: number] & ~mask) | (value & mask)
        case 4:
            self[gpr: number] = value & 0xFFFF_FFFF
        default:
            self[gpr: number] = value
        }
    }

    /// The low `size` bytes set.
    static func mask(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << (UInt64(size) * 8)) - 1 }
}
