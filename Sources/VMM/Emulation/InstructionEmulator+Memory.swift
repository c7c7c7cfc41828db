import KVM

/// Segmentation and memory access: effective addresses, segment limit and type checks, canonical
/// checks, alignment checks (bhyve's `vie_calculate_gla`, `vie_canonical_check`, `vie_alignment_check`),
/// then the context's paging.
extension InstructionEmulator {
    /// The kind of access, for segment type checks.
    enum SegmentAccess {
        case read
        case write
        /// Read, then written back: needs a writable segment and page.
        case readWrite
    }

    /// The offset of a memory operand: base + index × scale + displacement (+ RIP of the next
    /// instruction), wrapped to the address size.
    func effectiveAddress(_ operand: DecodedInstruction.MemoryOperand) -> UInt64 {
        var address = UInt64(bitPattern: operand.displacement)
        if operand.ripRelative { address &+= nextRIP }
        if let base = operand.base { address &+= registers[gpr: base] }
        if let index = operand.index { address &+= registers[gpr: index] &* UInt64(operand.scale) }
        return address & ALU.mask(instruction.addressSize)
    }

    /// Translates `segment`:`offset` for an access of `size` bytes to a linear address, raising
    /// #GP(0) (#SS(0) for SS) on a limit, type or canonical violation and #AC(0) on a misaligned
    /// access at CPL 3 with CR0.AM and RFLAGS.AC set.
    func linearAddress(_ segment: SegmentRegister, offset: UInt64, size: Int, access: SegmentAccess,
                       alignment: Int? = nil) throws(EmulationError) -> UInt64 {
        let descriptor = special[segment: segment]
        let violation: GuestException = segment == .ss ? .stackFault() : .generalProtection()
        let linear: UInt64
        if mode.is64Bit {
            let base = segment == .fs || segment == .gs ? descriptor.base : 0
            linear = base &+ offset
            guard Self.isCanonical(linear), Self.isCanonical(linear &+ UInt64(max(size, 1) - 1)) else {
                throw .exception(violation)
            }
        } else {
            if !mode.isRealOrVirtual8086 {
                guard !descriptor.unusable, descriptor.present else { throw .exception(violation) }
                if descriptor.codeOrData {
                    let isCode = descriptor.type & 8 != 0
                    let readableOrWritable = descriptor.type & 2 != 0
                    switch access {
                    case .read where isCode && !readableOrWritable:
                        throw .exception(violation)
                    case .write, .readWrite:
                        if isCode || !readableOrWritable { throw .exception(violation) }
                    default:
                        break
                    }
                }
            }
            let last = offset &+ UInt64(max(size, 1) - 1)
            let expandDown = descriptor.codeOrData && descriptor.type & 0xC == 0x4
            if expandDown {
                let upper: UInt64 = descriptor.defaultBig ? 0xFFFF_FFFF : 0xFFFF
                guard offset > UInt64(descriptor.limit), last <= upper else { throw .exception(violation) }
            } else {
                guard last <= UInt64(descriptor.limit) else { throw .exception(violation) }
            }
            linear = (descriptor.base &+ offset) & 0xFFFF_FFFF
        }
        let alignment = alignment ?? size
        if cpl == 3 && special.cr0 & ControlRegister.cr0AM != 0 && flag(RFLAGS.alignmentCheck)
            && [2, 4, 8, 16].contains(alignment) && linear % UInt64(alignment) != 0 {
            throw .exception(.alignmentCheck)
        }
        return linear
    }

    static func isCanonical(_ address: UInt64) -> Bool {
        (Int64(bitPattern: address) << 16) >> 16 == Int64(bitPattern: address)
    }

    /// The linear address of a memory operand.
    func linearAddress(_ operand: DecodedInstruction.MemoryOperand, size: Int, access: SegmentAccess,
                       alignment: Int? = nil) throws(EmulationError) -> UInt64 {
        try linearAddress(operand.segment, offset: effectiveAddress(operand), size: size, access: access,
                          alignment: alignment)
    }

    func readBytes(_ segment: SegmentRegister, offset: UInt64, count: Int,
                   alignment: Int? = nil) throws(EmulationError) -> [UInt8] {
        let linear = try linearAddress(segment, offset: offset, size: count, access: .read, alignment: alignment)
        return try context.read(linear: linear, count: count, for: .read)
    }

    func writeBytes(_ bytes: [UInt8], _ segment: SegmentRegister, offset: UInt64,
                    alignment: Int? = nil) throws(EmulationError) {
        let linear = try linearAddress(segment, offset: offset, size: bytes.count, access: .write, alignment: alignment)
        try context.write(bytes, linear: linear)
    }

    func read(_ segment: SegmentRegister, offset: UInt64, size: Int) throws(EmulationError) -> UInt64 {
        Self.integer(try readBytes(segment, offset: offset, count: size))
    }

    func write(_ value: UInt64, _ segment: SegmentRegister, offset: UInt64, size: Int) throws(EmulationError) {
        try writeBytes(Self.bytes(value, count: size), segment, offset: offset)
    }

    func read(_ operand: DecodedInstruction.MemoryOperand, size: Int) throws(EmulationError) -> UInt64 {
        try read(operand.segment, offset: effectiveAddress(operand), size: size)
    }

    func write(_ value: UInt64, to operand: DecodedInstruction.MemoryOperand, size: Int) throws(EmulationError) {
        try write(value, operand.segment, offset: effectiveAddress(operand), size: size)
    }

    /// Reads a memory destination for a read-modify-write, checking up front that it may be written.
    func readForUpdate(_ operand: DecodedInstruction.MemoryOperand, size: Int) throws(EmulationError) -> (UInt64, UInt64) {
        let linear = try linearAddress(operand, size: size, access: .readWrite)
        return (Self.integer(try context.read(linear: linear, count: size, for: .write)), linear)
    }

    /// Little-endian bytes to an integer (at most 8 bytes).
    static func integer(_ bytes: some Collection<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { ($0 << 8) | UInt64($1) }
    }

    static func bytes(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0 % 8))) }
    }

    // MARK: Stack

    /// The stack pointer's width: 8 in 64-bit mode, otherwise 4 or 2 by SS.B.
    var stackAddressSize: Int {
        mode.is64Bit ? 8 : (special.ss.defaultBig && !mode.isRealOrVirtual8086 ? 4 : 2)
    }

    /// Pushes `value` (`size` bytes); RSP changes only in the working copy, so a fault changes nothing.
    mutating func pushValue(_ value: UInt64, size: Int) throws(EmulationError) {
        let mask = ALU.mask(stackAddressSize)
        let rsp = (registers.rsp &- UInt64(size)) & mask
        try write(value, .ss, offset: rsp, size: size)
        registers.rsp = (registers.rsp & ~mask) | rsp
    }

    /// Reads the value `depth` bytes above the stack pointer.
    func peekStack(size: Int, depth: UInt64 = 0) throws(EmulationError) -> UInt64 {
        let mask = ALU.mask(stackAddressSize)
        return try read(.ss, offset: (registers.rsp &+ depth) & mask, size: size)
    }

    mutating func popValue(size: Int) throws(EmulationError) -> UInt64 {
        let value = try peekStack(size: size)
        let mask = ALU.mask(stackAddressSize)
        registers.rsp = (registers.rsp & ~mask) | ((registers.rsp &+ UInt64(size)) & mask)
        return value
    }
}
