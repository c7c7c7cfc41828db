import KVM

/// MOVS, STOS, LODS, CMPS and SCAS with and without REP/REPE/REPNE (bhyve emulates MOVS and STOS).
extension InstructionEmulator {
    /// How many iterations one emulation runs before handing back to the guest, which re-executes
    /// the instruction for the rest, so that a long REP neither blocks the vCPU's other work nor
    /// holds a fault back.
    static let maximumStringIterations = 4096

    mutating func string(_ operation: Operation) throws(EmulationError) {
        let elementSize = size
        let addressMask = ALU.mask(instruction.addressSize)
        let repeated = instruction.prefixes.repeatPrefix
        let step = flag(RFLAGS.direction) ? 0 &- UInt64(elementSize) : UInt64(elementSize)
        let source = sourceSegment
        var remaining = repeated != nil ? registers.rcx & addressMask : 1
        var iterations = 0
        var finished = remaining == 0
        while !finished && iterations < Self.maximumStringIterations {
            commitOnFault = iterations > 0
            let rsi = registers.rsi & addressMask
            let rdi = registers.rdi & addressMask
            var comparison: ALU.Result?
            switch operation {
            case .movs:
                let value = try read(source, offset: rsi, size: elementSize)
                try write(value, .es, offset: rdi, size: elementSize)
            case .stos:
                try write(registers.rax, .es, offset: rdi, size: elementSize)
            case .lods:
                setRegister(GeneralRegister.rax, size: elementSize, try read(source, offset: rsi, size: elementSize))
            case .cmps:
                let first = try read(source, offset: rsi, size: elementSize)
                comparison = ALU.subtract(first, try read(.es, offset: rdi, size: elementSize), size: elementSize)
            default:
                let value = try read(.es, offset: rdi, size: elementSize)
                comparison = ALU.subtract(register(GeneralRegister.rax, size: elementSize), value, size: elementSize)
            }
            if operation != .stos && operation != .scas { setAddressRegister(GeneralRegister.rsi, rsi &+ step) }
            if operation != .lods { setAddressRegister(GeneralRegister.rdi, rdi &+ step) }
            remaining -= 1
            iterations += 1
            if repeated != nil { setAddressRegister(GeneralRegister.rcx, remaining) }
            finished = remaining == 0
            if let comparison {
                setFlags(comparison)
                // REPE stops on a difference, REPNE on equality.
                let equal = comparison.flags & RFLAGS.zero != 0
                if (repeated == .rep && !equal) || (repeated == .repne && equal) { finished = true }
            }
        }
        commitOnFault = false
        if finished { advance() }
    }

    /// DS, or the override prefix (only FS and GS count in 64-bit mode); ES cannot be overridden.
    private var sourceSegment: SegmentRegister {
        guard let override = instruction.prefixes.segment else { return .ds }
        if mode.is64Bit && override != .fs && override != .gs { return .ds }
        return override
    }

    /// Writes RSI, RDI or RCX at the address size: 32-bit writes clear the upper half, 16-bit ones
    /// keep it.
    private mutating func setAddressRegister(_ number: Int, _ value: UInt64) {
        registers.setOperand(number, size: instruction.addressSize, rex: true, value)
    }
}
