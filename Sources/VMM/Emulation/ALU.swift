/// The arithmetic behind the emulated instructions: results and the status flags they set, computed
/// in software (bhyve runs the host's instruction and reads its RFLAGS instead).
enum ALU {
    /// An operation's result and status flags; only the flags in `affected` change in RFLAGS.
    struct Result {
        var value: UInt64
        var flags: UInt64
        var affected: UInt64 = RFLAGS.status

        func apply(to rflags: UInt64) -> UInt64 { (rflags & ~affected) | (flags & affected) }
    }

    static func mask(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << (UInt64(size) * 8)) - 1 }

    static func signBit(_ size: Int) -> UInt64 { 1 << (UInt64(size) * 8 - 1) }

    /// ZF, SF and PF of `value` as an operand of `size` bytes.
    static func resultFlags(_ value: UInt64, size: Int) -> UInt64 {
        var flags: UInt64 = 0
        if value & mask(size) == 0 { flags |= RFLAGS.zero }
        if value & signBit(size) != 0 { flags |= RFLAGS.sign }
        if (value & 0xFF).nonzeroBitCount % 2 == 0 { flags |= RFLAGS.parity }
        return flags
    }

    static func add(_ a: UInt64, _ b: UInt64, carry: Bool = false, size: Int) -> Result {
        let m = mask(size)
        let (partial, overflow1) = (a & m).addingReportingOverflow(b & m)
        let (sum, overflow2) = partial.addingReportingOverflow(carry ? 1 : 0)
        let result = sum & m
        var flags = resultFlags(result, size: size)
        let carried = size >= 8 ? overflow1 || overflow2 : sum > m
        if carried { flags |= RFLAGS.carry }
        if (a ^ result) & (b ^ result) & signBit(size) != 0 { flags |= RFLAGS.overflow }
        if (a ^ b ^ result) & 0x10 != 0 { flags |= RFLAGS.adjust }
        return Result(value: result, flags: flags)
    }

    static func subtract(_ a: UInt64, _ b: UInt64, borrow: Bool = false, size: Int) -> Result {
        let m = mask(size)
        let (a, b) = (a & m, b & m)
        let result = (a &- b &- (borrow ? 1 : 0)) & m
        var flags = resultFlags(result, size: size)
        if a < b || (borrow && a == b) { flags |= RFLAGS.carry }
        if (a ^ b) & (a ^ result) & signBit(size) != 0 { flags |= RFLAGS.overflow }
        if (a ^ b ^ result) & 0x10 != 0 { flags |= RFLAGS.adjust }
        return Result(value: result, flags: flags)
    }

    /// AND, OR, XOR and TEST: CF and OF clear, AF (undefined) clear.
    static func logic(_ value: UInt64, size: Int) -> Result {
        Result(value: value & mask(size), flags: resultFlags(value, size: size))
    }

    /// SHL/SAL, SHR, SAR, ROL, ROR, RCL and RCR by `count` (already masked to 5 or 6 bits). nil for a
    /// zero count, which changes neither the operand nor the flags. OF is defined for a count of
    /// 1; for other counts it is computed the same way. Shifts clear AF (undefined).
    static func shift(_ operation: Operation, _ value: UInt64, count: UInt64, size: Int, rflags: UInt64) -> Result? {
        guard count > 0 else { return nil }
        let m = mask(size)
        let bits = UInt64(size * 8)
        let v = value & m
        let msb = { (x: UInt64) -> Bool in x & signBit(size) != 0 }
        switch operation {
        case .shl:
            let result = count >= 64 ? 0 : (v << count) & m
            let carry = count <= bits && (v >> (bits - count)) & 1 != 0
            var flags = resultFlags(result, size: size) | (carry ? RFLAGS.carry : 0)
            if msb(result) != carry { flags |= RFLAGS.overflow }
            return Result(value: result, flags: flags)
        case .shr:
            let result = count >= 64 ? 0 : v >> count
            let carry = count <= 64 && (v >> (count - 1)) & 1 != 0
            var flags = resultFlags(result, size: size) | (carry ? RFLAGS.carry : 0)
            if msb(v) { flags |= RFLAGS.overflow }
            return Result(value: result, flags: flags)
        case .sar:
            let shift = 64 - bits
            let signed = Int64(bitPattern: v << shift) >> shift
            let result = UInt64(bitPattern: signed >> min(count, 63)) & m
            let carry = (signed >> min(count - 1, 63)) & 1 != 0
            return Result(value: result, flags: resultFlags(result, size: size) | (carry ? RFLAGS.carry : 0))
        case .rol, .ror:
            let amount = count % bits
            let result = amount == 0 ? v
                : operation == .rol ? ((v << amount) | (v >> (bits - amount))) & m
                : ((v >> amount) | (v << (bits - amount))) & m
            var flags: UInt64 = 0
            let carry = operation == .rol ? result & 1 != 0 : msb(result)
            if carry { flags |= RFLAGS.carry }
            let overflow = operation == .rol ? msb(result) != carry
                : msb(result) != (result & (signBit(size) >> 1) != 0)
            if overflow { flags |= RFLAGS.overflow }
            return Result(value: result, flags: flags, affected: RFLAGS.carry | RFLAGS.overflow)
        case .rcl, .rcr:
            let amount = count % (bits + 1)
            var result = v
            var carry = rflags & RFLAGS.carry != 0
            let overflowBeforeRCR = msb(v) != carry
            for _ in 0..<amount {
                if operation == .rcl {
                    let out = msb(result)
                    result = ((result << 1) | (carry ? 1 : 0)) & m
                    carry = out
                } else {
                    let out = result & 1 != 0
                    result = (result >> 1) | (carry ? signBit(size) : 0)
                    carry = out
                }
            }
            var flags: UInt64 = carry ? RFLAGS.carry : 0
            let overflow = operation == .rcl ? msb(result) != carry : overflowBeforeRCR
            if overflow { flags |= RFLAGS.overflow }
            return Result(value: result, flags: flags, affected: RFLAGS.carry | RFLAGS.overflow)
        default:
            preconditionFailure("\(operation) is not a shift or rotate")
        }
    }
}
