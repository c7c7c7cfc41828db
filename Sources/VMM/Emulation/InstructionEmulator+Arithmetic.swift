import KVM

/// Data movement, arithmetic and logic: bhyve's MMIO opcode set (MOV, MOVZX/MOVSX, ALU operations
/// with flags, TEST, BT, PUSH/POP) and the rest of the ALU family around it.
extension InstructionEmulator {
    // MARK: Read-modify-write

    /// Replaces the r/m operand with `compute(old)` and returns the old value. A memory destination
    /// under LOCK (or for XCHG, which is always locked) is updated by compare-and-exchange, retried
    /// until no other vCPU wrote in between.
    mutating func update(size: Int, locked: Bool = false, memory override: DecodedInstruction.MemoryOperand? = nil,
                         _ compute: (UInt64) -> UInt64) throws(EmulationError) -> UInt64 {
        guard let memory = override ?? instruction.memory else {
            let number = instruction.modRM?.rm ?? 0
            let old = register(number, size: size)
            setRegister(number, size: size, compute(old))
            return old
        }
        while true {
            let (old, linear) = try readForUpdate(memory, size: size)
            let new = compute(old) & ALU.mask(size)
            if locked || instruction.prefixes.lock {
                let found = try context.compareExchange(linear: linear, expected: Self.bytes(old, count: size),
                                                        desired: Self.bytes(new, count: size))
                if found != nil { continue }
            } else {
                try context.write(Self.bytes(new, count: size), linear: linear)
            }
            return old
        }
    }

    // MARK: Moves

    mutating func mov() throws(EmulationError) {
        let opcode = instruction.opcode
        switch opcode {
        case 0x88, 0x89:
            try writeRM(register(regField, size: size), size: size)
        case 0x8A, 0x8B:
            setRegister(regField, size: size, try readRM(size: size))
        case 0xA0, 0xA1:
            setRegister(GeneralRegister.rax, size: size, try read(try memoryOperand(), size: size))
        case 0xA2, 0xA3:
            try write(register(GeneralRegister.rax, size: size), to: try memoryOperand(), size: size)
        case 0xB0...0xBF:
            let number = Int(opcode & 7) | (instruction.prefixes.rexB)
            setRegister(number, size: size, instruction.immediate)
        default:
            // C6 /0, C7 /0: a 32-bit immediate is sign-extended to a 64-bit operand.
            try writeRM(instruction.signExtendedImmediate, size: size)
        }
        advance()
    }

    /// MOVZX/MOVSX: 0F B6/BE take a byte, 0F B7/BF a word.
    mutating func moveExtended(signed: Bool) throws(EmulationError) {
        let sourceSize = instruction.opcode & 1 == 0 ? 1 : 2
        var value = try readRM(size: sourceSize)
        if signed { value = Self.signExtend(value, from: sourceSize) }
        setRegister(regField, size: size, value)
        advance()
    }

    mutating func moveSignExtendedDoubleword() throws(EmulationError) {
        let value = try readRM(size: min(size, 4))
        setRegister(regField, size: size, size == 8 ? Self.signExtend(value, from: 4) : value)
        advance()
    }

    /// MOVBE: 0F 38 F0 loads, F1 stores, swapping the bytes; memory operands only.
    mutating func moveByteSwapped() throws(EmulationError) {
        let memory = try memoryOperand()
        if instruction.opcode == 0xF0 {
            setRegister(regField, size: size, Self.byteSwapped(try read(memory, size: size), size: size))
        } else {
            try write(Self.byteSwapped(register(regField, size: size), size: size), to: memory, size: size)
        }
        advance()
    }

    /// XCHG with memory is locked whether or not LOCK is given.
    mutating func exchange() throws(EmulationError) {
        if instruction.map == .primary && (0x90...0x97).contains(instruction.opcode) {
            let other = Int(instruction.opcode & 7) | instruction.prefixes.rexB
            let accumulator = register(GeneralRegister.rax, size: size)
            setRegister(GeneralRegister.rax, size: size, register(other, size: size))
            setRegister(other, size: size, accumulator)
        } else {
            let value = register(regField, size: size)
            let old = try update(size: size, locked: true) { _ in value }
            setRegister(regField, size: size, old)
        }
        advance()
    }

    /// PUSH: in 64-bit mode 8 bytes, or 2 with 66.
    mutating func push() throws(EmulationError) {
        let value: UInt64
        switch instruction.opcode {
        case 0x50...0x57:
            value = register(Int(instruction.opcode & 7) | instruction.prefixes.rexB, size: size)
        case 0x68, 0x6A:
            value = instruction.signExtendedImmediate & ALU.mask(size)
        default:
            value = try readRM(size: size)
        }
        try pushValue(value, size: size)
        advance()
    }

    /// POP: a memory destination addressed through RSP uses RSP's value after the pop (SDM POP).
    mutating func pop() throws(EmulationError) {
        if (0x58...0x5F).contains(instruction.opcode) {
            let value = try popValue(size: size)
            setRegister(Int(instruction.opcode & 7) | instruction.prefixes.rexB, size: size, value)
        } else {
            let value = try peekStack(size: size)
            let before = registers.rsp
            _ = try popValue(size: size)
            do throws(EmulationError) {
                try writeRM(value, size: size)
            } catch {
                registers.rsp = before
                throw error
            }
        }
        advance()
    }

    // MARK: Arithmetic

    /// ADD, OR, ADC, SBB, AND, SUB, XOR, CMP in the forms r/m,reg (00 row), reg,r/m (02), acc,imm (04)
    /// and group 1 (80–83).
    mutating func arithmetic(_ operation: Operation) throws(EmulationError) {
        let opcode = instruction.opcode
        let carry = flag(RFLAGS.carry)
        let size = size
        let compute = { (a: UInt64, b: UInt64) -> ALU.Result in
            Self.alu(operation, a, b, carry: carry, size: size)
        }
        var result: ALU.Result
        if opcode >= 0x80 {
            let immediate = instruction.signExtendedImmediate
            let old = try update(size: size) { operation == .cmp ? $0 : compute($0, immediate).value }
            result = compute(old, immediate)
        } else {
            switch opcode & 7 {
            case 0, 1:
                let source = register(regField, size: size)
                let old = try update(size: size) { operation == .cmp ? $0 : compute($0, source).value }
                result = compute(old, source)
            case 2, 3:
                result = compute(register(regField, size: size), try readRM(size: size))
                if operation != .cmp { setRegister(regField, size: size, result.value) }
            default:
                result = compute(register(GeneralRegister.rax, size: size), instruction.signExtendedImmediate)
                if operation != .cmp { setRegister(GeneralRegister.rax, size: size, result.value) }
            }
        }
        setFlags(result)
        advance()
    }

    static func alu(_ operation: Operation, _ a: UInt64, _ b: UInt64, carry: Bool, size: Int) -> ALU.Result {
        switch operation {
        case .add: ALU.add(a, b, size: size)
        case .adc: ALU.add(a, b, carry: carry, size: size)
        case .sub, .cmp: ALU.subtract(a, b, size: size)
        case .sbb: ALU.subtract(a, b, borrow: carry, size: size)
        case .and: ALU.logic(a & b, size: size)
        case .or: ALU.logic(a | b, size: size)
        case .xor: ALU.logic(a ^ b, size: size)
        default: preconditionFailure("\(operation) is not a two-operand ALU operation")
        }
    }

    mutating func test() throws(EmulationError) {
        let value: UInt64
        switch instruction.opcode {
        case 0x84, 0x85:
            value = try readRM(size: size) & register(regField, size: size)
        case 0xA8, 0xA9:
            value = register(GeneralRegister.rax, size: size) & instruction.signExtendedImmediate
        default:
            value = try readRM(size: size) & instruction.signExtendedImmediate
        }
        setFlags(ALU.logic(value, size: size))
        advance()
    }

    /// NOT (no flags) and NEG (flags of 0 − operand, CF set unless it was 0).
    mutating func unary(_ operation: Operation) throws(EmulationError) {
        let old = try update(size: size) { operation == .not ? ~$0 : 0 &- $0 }
        if operation == .neg { setFlags(ALU.subtract(0, old, size: size)) }
        advance()
    }

    /// INC and DEC leave CF alone.
    mutating func incrementOrDecrement(_ operation: Operation) throws(EmulationError) {
        let old = try update(size: size) { operation == .inc ? $0 &+ 1 : $0 &- 1 }
        var result = operation == .inc ? ALU.add(old, 1, size: size) : ALU.subtract(old, 1, size: size)
        result.affected &= ~RFLAGS.carry
        setFlags(result)
        advance()
    }

    /// Group 2: the count is 1 (D0/D1), CL (D2/D3) or imm8 (C0/C1), masked to 5 bits (6 for 64-bit operands).
    mutating func shift(_ operation: Operation) throws(EmulationError) {
        let raw: UInt64 = switch instruction.opcode {
        case 0xD0, 0xD1: 1
        case 0xD2, 0xD3: registers.rcx & 0xFF
        default: instruction.immediate
        }
        let count = raw & (size == 8 ? 0x3F : 0x1F)
        let rflags = registers.rflags
        let size = size
        guard count > 0 else {
            // A zero count still checks the operand's accessibility, but changes nothing.
            _ = try readRM(size: size)
            advance()
            return
        }
        let old = try update(size: size) { ALU.shift(operation, $0, count: count, size: size, rflags: rflags)?.value ?? $0 }
        if let result = ALU.shift(operation, old, count: count, size: size, rflags: rflags) {
            var adjusted = result
            if adjusted.affected == RFLAGS.status { adjusted.flags &= ~RFLAGS.adjust }
            setFlags(adjusted)
        }
        advance()
    }

    /// BT, BTS, BTR, BTC: with a register bit offset on a memory operand, the offset is signed and
    /// may reach outside the operand (SDM BT); an immediate offset is taken modulo the operand size.
    mutating func bitTest(_ operation: Operation) throws(EmulationError) {
        let bits = UInt64(size * 8)
        let immediateForm = instruction.opcode == 0xBA
        var offset = immediateForm ? instruction.immediate : register(regField, size: size)
        let transform = { (value: UInt64, bit: UInt64) -> UInt64 in
            switch operation {
            case .bts: value | (1 << bit)
            case .btr: value & ~(1 << bit)
            case .btc: value ^ (1 << bit)
            default: value
            }
        }
        let bit: UInt64
        let old: UInt64
        if let memory = instruction.memory, !immediateForm {
            let signed = Int64(bitPattern: Self.signExtend(offset, from: size))
            let displacement = (signed >> Int64(bits.trailingZeroBitCount)) * Int64(size)
            bit = UInt64(bitPattern: signed) & (bits - 1)
            var shifted = memory
            shifted.displacement = shifted.displacement &+ displacement
            old = operation == .bt ? try read(shifted, size: size)
                : try update(size: size, memory: shifted) { transform($0, bit) }
        } else {
            offset &= bits - 1
            bit = offset
            old = operation == .bt ? try readRM(size: size) : try update(size: size) { transform($0, bit) }
        }
        registers.rflags = (registers.rflags & ~RFLAGS.carry) | ((old >> bit) & 1)
        advance()
    }

    mutating func populationCount() throws(EmulationError) {
        let value = try readRM(size: size)
        setRegister(regField, size: size, UInt64(value.nonzeroBitCount))
        registers.rflags &= ~RFLAGS.status
        if value == 0 { registers.rflags |= RFLAGS.zero }
        advance()
    }

    /// BEXTR (BMI1): the field of r/m starting at bit vvvv[7:0], vvvv[15:8] bits long.
    mutating func bitFieldExtract() throws(EmulationError) {
        guard let vex = instruction.prefixes.vex, !vex.l else { throw .exception(.invalidOpcode) }
        let size = mode.is64Bit && vex.w ? 8 : 4
        let source = try readRM(size: size)
        let control = registers[gpr: vex.vvvv]
        let start = control & 0xFF
        let length = (control >> 8) & 0xFF
        let shifted = start >= 64 ? 0 : source >> start
        let value = length >= 64 ? shifted : shifted & ((1 << length) - 1)
        registers.setOperand(regField, size: size, rex: true, value)
        registers.rflags &= ~(RFLAGS.carry | RFLAGS.overflow | RFLAGS.zero)
        if value == 0 { registers.rflags |= RFLAGS.zero }
        advance()
    }

    mutating func exchangeAndAdd() throws(EmulationError) {
        let source = register(regField, size: size)
        let size = size
        let old = try update(size: size) { $0 &+ source }
        setRegister(regField, size: size, old)
        setFlags(ALU.add(old, source, size: size))
        advance()
    }

    /// CMPXCHG: compares the accumulator with r/m; equal → r/m = reg, otherwise accumulator = r/m.
    mutating func compareAndExchange() throws(EmulationError) {
        let accumulator = register(GeneralRegister.rax, size: size)
        let source = register(regField, size: size)
        let size = size
        let old = try update(size: size) { $0 == accumulator ? source : $0 }
        setFlags(ALU.subtract(accumulator, old, size: size))
        if old != accumulator { setRegister(GeneralRegister.rax, size: size, old) }
        advance()
    }

    // MARK: Helpers

    static func signExtend(_ value: UInt64, from size: Int) -> UInt64 {
        guard size < 8 else { return value }
        let shift = UInt64(64 - size * 8)
        return UInt64(bitPattern: Int64(bitPattern: value << shift) >> shift)
    }

    static func byteSwapped(_ value: UInt64, size: Int) -> UInt64 {
        value.byteSwapped >> UInt64(64 - size * 8)
    }
}
