import KVM

/// Executes one decoded instruction against an ``EmulationContext``: bhyve's `vmm_emulate_instruction`
/// for its MMIO opcode set and the rest of the ALU family, plus what this kind of host's KVM leaves
/// unemulated in guest kernels (INT3, INT n, IRET, UD0/1/2, POPCNT, MOVBE, CLAC/STAC, INVPCID, CLWB,
/// XGETBV, CMPXCHG8B/16B, the FXSAVE/XSAVE family, FWAIT, RDTSCP, CRC32, LDMXCSR/STMXCSR and the x87
/// status and control word instructions).
///
/// The emulator works on copies of the registers and writes them back only when the instruction
/// completes (or, for INT3/INT n/INTO/INT1, with RIP past it), so a fault leaves the vCPU as it was.
/// Memory operands go through segmentation (limits, types, canonical addresses, alignment checks)
/// and then the context's paging.
public struct InstructionEmulator {
    let instruction: DecodedInstruction
    let context: any EmulationContext
    var registers: Registers
    var special: SpecialRegisters
    /// The segment registers or control registers changed (IRET), so they are written back too.
    var specialChanged = false
    /// A REP string instruction made progress before faulting: its register updates stand.
    var commitOnFault = false
    /// RIP has moved past the instruction.
    var advanced = false

    /// Emulates `instruction`, which was fetched at the context's CS:RIP.
    public static func emulate(_ instruction: DecodedInstruction, in context: any EmulationContext) -> EmulationOutcome {
        var emulator = InstructionEmulator(instruction: instruction, context: context,
                                           registers: context.registers, special: context.specialRegisters)
        let singleStepping = emulator.registers.rflags & RFLAGS.trap != 0
        do throws(EmulationError) {
            if let event = try emulator.execute() {
                emulator.commit()
                return .exception(event)
            }
            emulator.commit()
            // With TF set, completing an instruction raises a single-step #DB trap. IRET loads TF
            // anew and a REP instruction with iterations left has not completed.
            if singleStepping && emulator.advanced { return .exception(.singleStep) }
            return .completed
        } catch {
            switch error {
            case .exception(let exception):
                if emulator.commitOnFault { emulator.commit() }
                return .exception(exception)
            case .unsupported(let reason): return .unsupported(reason)
            case .hostFailure(let reason): return .hostFailure(reason)
            }
        }
    }

    private func commit() {
        context.registers = registers
        if specialChanged { context.specialRegisters = special }
    }

    /// Runs the instruction; returns the software exception or interrupt it raises, if any.
    private mutating func execute() throws(EmulationError) -> GuestException? {
        guard let operation = instruction.operation else {
            throw .unsupported("\(instruction.mnemonic) is not emulated")
        }
        try checkLockPrefix(operation)
        switch operation {
        case .mov: try mov()
        case .movzx, .movsx: try moveExtended(signed: operation == .movsx)
        case .movsxd: try moveSignExtendedDoubleword()
        case .movbe: try moveByteSwapped()
        case .xchg: try exchange()
        case .push: try push()
        case .pop: try pop()
        case .movs, .stos, .lods, .cmps, .scas: try string(operation)
        case .add, .or, .adc, .sbb, .and, .sub, .xor, .cmp: try arithmetic(operation)
        case .test: try test()
        case .not, .neg: try unary(operation)
        case .inc, .dec: try incrementOrDecrement(operation)
        case .rol, .ror, .rcl, .rcr, .shl, .shr, .sar: try shift(operation)
        case .bt, .bts, .btr, .btc: try bitTest(operation)
        case .popcnt: try populationCount()
        case .bextr: try bitFieldExtract()
        case .crc32: try accumulateCRC32()
        case .rdtscp: try readTimeStampCounterAndProcessorID()
        case .fnstsw, .fnstcw, .fldcw, .fnclex: try x87Control(operation)
        case .ldmxcsr, .stmxcsr: try mxcsrAccess(store: operation == .stmxcsr)
        case .xadd: try exchangeAndAdd()
        case .cmpxchg: try compareAndExchange()
        case .cmpxchg8b, .cmpxchg16b: try compareAndExchangeWide(operation)
        case .int3, .int, .into, .int1: return try softwareInterrupt(operation)
        case .iret: try interruptReturn()
        case .ud0, .ud1, .ud2: throw .exception(.invalidOpcode)
        case .clac, .stac: try setAlignmentCheckFlag(operation == .stac)
        case .fwait: try floatingPointWait()
        case .nop, .lfence, .mfence, .sfence: advance()
        case .invpcid: try invalidateProcessContext()
        case .clflush, .clflushopt, .clwb: try cacheLineOperation()
        case .xgetbv: try getExtendedControlRegister()
        case .xsetbv: try setExtendedControlRegister()
        case .fxsave: try fxsave()
        case .fxrstor: try fxrstor()
        case .xsave, .xsaveopt, .xsavec, .xsaves: try xsave(operation)
        case .xrstor, .xrstors: try xrstor(operation)
        }
        return nil
    }

    /// LOCK is #UD except on read-modify-write instructions with a memory destination.
    private func checkLockPrefix(_ operation: Operation) throws(EmulationError) {
        guard instruction.prefixes.lock else { return }
        let lockable: Set<Operation> = [.add, .or, .adc, .sbb, .and, .sub, .xor, .not, .neg, .inc, .dec,
                                        .bts, .btr, .btc, .xadd, .xchg, .cmpxchg, .cmpxchg8b, .cmpxchg16b]
        // The 02–05 forms of the ALU rows write a register, and XCHG 90–97 has no memory operand.
        let registerDestination = instruction.map == .primary && instruction.opcode < 0x40 && instruction.opcode & 7 >= 2
        guard lockable.contains(operation), instruction.memory != nil, !registerDestination else {
            throw .exception(.invalidOpcode)
        }
    }

    // MARK: Common state

    /// Whether a REX prefix is present: it turns byte registers 4–7 into SPL–DIL.
    var hasREX: Bool { instruction.prefixes.rex != nil }

    var mode: InstructionMode { instruction.mode }

    /// CPL: SS.DPL, as VMX and KVM keep it; 0 in real mode, 3 in virtual-8086 mode.
    var cpl: UInt8 {
        if special.cr0 & 1 == 0 { return 0 }
        if registers.rflags & RFLAGS.virtual8086 != 0 { return 3 }
        return special.ss.dpl & 3
    }

    /// RIP of the next instruction, wrapped to the code size.
    var nextRIP: UInt64 {
        let next = registers.rip &+ UInt64(instruction.length)
        return mode.is64Bit ? next : next & ALU.mask(mode.codeSize)
    }

    mutating func advance() {
        advanced = true
        registers.rip = nextRIP
        // Completing an instruction ends a pending RF (resume flag) suppression.
        registers.rflags &= ~RFLAGS.resume
    }

    mutating func setFlags(_ result: ALU.Result) {
        registers.rflags = result.apply(to: registers.rflags)
    }

    var size: Int { instruction.operandSize }

    func register(_ number: Int, size: Int) -> UInt64 {
        registers.operand(number, size: size, rex: hasREX)
    }

    mutating func setRegister(_ number: Int, size: Int, _ value: UInt64) {
        registers.setOperand(number, size: size, rex: hasREX, value)
    }

    /// The ModRM reg field as a register number.
    var regField: Int { instruction.modRM?.reg ?? 0 }

    /// The memory operand, or #UD for the register forms of memory-only instructions.
    func memoryOperand() throws(EmulationError) -> DecodedInstruction.MemoryOperand {
        guard let memory = instruction.memory else { throw .exception(.invalidOpcode) }
        return memory
    }

    /// Reads the r/m operand: a register when ModRM.mod is 3, otherwise memory.
    func readRM(size: Int) throws(EmulationError) -> UInt64 {
        if let memory = instruction.memory { return try read(memory, size: size) }
        return register(instruction.modRM?.rm ?? 0, size: size)
    }

    mutating func writeRM(_ value: UInt64, size: Int) throws(EmulationError) {
        if let memory = instruction.memory {
            try write(value, to: memory, size: size)
        } else {
            setRegister(instruction.modRM?.rm ?? 0, size: size, value)
        }
    }

    /// The flag computed from RFLAGS.
    func flag(_ bit: UInt64) -> Bool { registers.rflags & bit != 0 }
}
