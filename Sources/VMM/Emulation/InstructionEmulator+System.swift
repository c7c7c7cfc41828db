import KVM

/// The system, synchronisation and cache instructions guest kernels use that this kind of host's
/// KVM does not emulate.
extension InstructionEmulator {
    /// CMPXCHG8B/CMPXCHG16B: compares EDX:EAX (RDX:RAX) with the memory operand; equal → stores
    /// ECX:EBX (RCX:RBX) and sets ZF, otherwise loads the operand into EDX:EAX and clears ZF. The
    /// exchange is one atomic operation on guest memory, LOCK or not.
    mutating func compareAndExchangeWide(_ operation: Operation) throws(EmulationError) {
        let memory = try memoryOperand()
        let half = operation == .cmpxchg16b ? 8 : 4
        let linear = try linearAddress(memory, size: 2 * half, access: .readWrite, alignment: half == 8 ? 1 : 8)
        if half == 8 && linear % 16 != 0 { throw .exception(.generalProtection()) }
        let expected = Self.bytes(registers.rax, count: half) + Self.bytes(registers.rdx, count: half)
        let desired = Self.bytes(registers.rbx, count: half) + Self.bytes(registers.rcx, count: half)
        if let found = try context.compareExchange(linear: linear, expected: expected, desired: desired) {
            registers.rflags &= ~RFLAGS.zero
            registers.setOperand(GeneralRegister.rax, size: half, rex: true, Self.integer(found[0..<half]))
            registers.setOperand(GeneralRegister.rdx, size: half, rex: true, Self.integer(found[half..<2 * half]))
        } else {
            registers.rflags |= RFLAGS.zero
        }
        advance()
    }

    /// CLAC/STAC: privileged (#UD above CPL 0); they clear or set RFLAGS.AC.
    mutating func setAlignmentCheckFlag(_ set: Bool) throws(EmulationError) {
        guard cpl == 0 else { throw .exception(.invalidOpcode) }
        if set {
            registers.rflags |= RFLAGS.alignmentCheck
        } else {
            registers.rflags &= ~RFLAGS.alignmentCheck
        }
        advance()
    }

    /// FWAIT: #NM when CR0.MP and CR0.TS are set, #MF when the x87 status word reports an unmasked
    /// exception (ES), otherwise nothing.
    mutating func floatingPointWait() throws(EmulationError) {
        if special.cr0 & ControlRegister.cr0MP != 0 && special.cr0 & ControlRegister.cr0TS != 0 {
            throw .exception(.deviceNotAvailable)
        }
        let state = try context.extendedState()
        if state.count >= 4 && state[2] & 0x80 != 0 { throw .exception(.floatingPointError) }
        advance()
    }

    /// INVPCID: checks its type and descriptor as the processor does, then drops the guest's cached
    /// translations (all of them: more than asked is architecturally safe).
    mutating func invalidateProcessContext() throws(EmulationError) {
        if registers.rflags & RFLAGS.virtual8086 != 0 && special.cr0 & 1 != 0 { throw .exception(.invalidOpcode) }
        guard cpl == 0 else { throw .exception(.generalProtection()) }
        let memory = try memoryOperand()
        let type = register(regField, size: mode.is64Bit ? 8 : 4)
        guard type <= 3 else { throw .exception(.generalProtection()) }
        let descriptor = try readBytes(memory.segment, offset: effectiveAddress(memory), count: 16)
        let low = Self.integer(descriptor[0..<8])
        let address = Self.integer(descriptor[8..<16])
        let pcid = low & 0xFFF
        guard low >> 12 == 0 else { throw .exception(.generalProtection()) }
        let pcidEnabled = special.cr4 & ControlRegister.cr4PCIDE != 0
        if type <= 1 && !pcidEnabled && pcid != 0 { throw .exception(.generalProtection()) }
        if type == 0 && !Self.isCanonical(address) { throw .exception(.generalProtection()) }
        try context.invalidateTranslations()
        advance()
    }

    /// CLFLUSH, CLFLUSHOPT, CLWB: the byte operand must be reachable as for a read; the cache
    /// operation itself has no effect a guest can see here (guest RAM is host RAM).
    mutating func cacheLineOperation() throws(EmulationError) {
        let memory = try memoryOperand()
        let linear = try linearAddress(memory, size: 1, access: .read)
        try context.checkAccess(linear: linear, count: 1, for: .read)
        advance()
    }

    /// RDTSCP: EDX:EAX = the guest's TSC, ECX = IA32_TSC_AUX; #GP above CPL 0 with CR4.TSD.
    mutating func readTimeStampCounterAndProcessorID() throws(EmulationError) {
        if special.cr4 & ControlRegister.cr4TSD != 0 && cpl > 0 { throw .exception(.generalProtection()) }
        guard let tsc = try context.modelSpecificRegister(ModelSpecificRegister.timeStampCounter) else {
            throw .hostFailure("the guest's TSC cannot be read")
        }
        let aux = try context.modelSpecificRegister(ModelSpecificRegister.timeStampCounterAux) ?? 0
        registers.setOperand(GeneralRegister.rax, size: 4, rex: true, tsc & 0xFFFF_FFFF)
        registers.setOperand(GeneralRegister.rdx, size: 4, rex: true, tsc >> 32)
        registers.setOperand(GeneralRegister.rcx, size: 4, rex: true, aux & 0xFFFF_FFFF)
        advance()
    }

    /// CRC32 (SSE4.2): accumulates the r/m operand's bytes into the 32-bit CRC-32C in the register
    /// (F0 takes a byte, F1 a word, doubleword or quadword). Flags are unchanged.
    mutating func accumulateCRC32() throws(EmulationError) {
        let sourceSize = instruction.opcode == 0xF0 ? 1 : size
        let source = try readRM(size: sourceSize)
        var crc = UInt32(truncatingIfNeeded: register(regField, size: 4))
        for index in 0..<sourceSize {
            crc = Self.crc32cTable[Int((crc ^ UInt32(truncatingIfNeeded: source >> (8 * UInt64(index)))) & 0xFF)] ^ (crc >> 8)
        }
        registers.setOperand(regField, size: 4, rex: true, UInt64(crc))
        advance()
    }

    /// The byte-wise table of the reflected Castagnoli polynomial 0x82F63B78.
    static let crc32cTable: [UInt32] = (0..<256).map { byte in
        var value = UInt32(byte)
        for _ in 0..<8 { value = value & 1 != 0 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }
}
