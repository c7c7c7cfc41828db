import KVM

/// INT3, INT n, INTO, INT1 and IRET. The software interrupts are not delivered here: the emulator
/// makes the checks that only software interrupts are subject to (IDT limit, gate DPL against CPL,
/// IOPL in virtual-8086 mode), moves RIP past the instruction and hands the event back for
/// injection, which delivers it through the gate like any other event.
extension InstructionEmulator {
    mutating func softwareInterrupt(_ operation: Operation) throws(EmulationError) -> GuestException? {
        let event: GuestException
        switch operation {
        case .int3:
            event = GuestException(vector: GuestException.breakpointVector, kind: .softwareException)
        case .into:
            guard flag(RFLAGS.overflow) else {
                advance()
                return nil
            }
            event = GuestException(vector: GuestException.overflowVector, kind: .softwareException)
        case .int1:
            advance()
            return GuestException(vector: GuestException.debugVector, kind: .privilegedSoftwareException)
        default:
            if isVirtual8086 && iopl < 3 { throw .exception(.generalProtection()) }
            event = GuestException(vector: UInt8(truncatingIfNeeded: instruction.immediate), kind: .softwareInterrupt)
        }
        if !mode.isRealOrVirtual8086 || isVirtual8086 { try checkGatePrivilege(event.vector) }
        advance()
        return event
    }

    var isVirtual8086: Bool { special.cr0 & 1 != 0 && registers.rflags & RFLAGS.virtual8086 != 0 }

    var iopl: UInt8 { UInt8((registers.rflags & RFLAGS.ioPrivilegeLevel) >> 12) }

    /// A software interrupt through a gate beyond the IDT limit or with DPL < CPL raises #GP with
    /// the IDT error code (vector × 8 + 2).
    private func checkGatePrivilege(_ vector: UInt8) throws(EmulationError) {
        let longMode = special.efer & (1 << 10) != 0
        let gateSize: UInt64 = longMode ? 16 : 8
        let offset = UInt64(vector) * gateSize
        let errorCode = UInt32(vector) * 8 + 2
        guard offset + gateSize - 1 <= UInt64(special.idt.limit) else {
            throw .exception(.generalProtection(errorCode))
        }
        let gate = try context.read(linear: special.idt.base &+ offset, count: 8, for: .read)
        let dpl = (gate[5] >> 5) & 3
        guard dpl >= cpl else { throw .exception(.generalProtection(errorCode)) }
    }

    // MARK: IRET

    /// IRET/IRETD/IRETQ in real, protected, compatibility and 64-bit mode (Intel SDM IRET): pops
    /// the return frame, loads CS (and SS on a return to an outer level, and always in 64-bit mode)
    /// from their descriptors with the protection checks, updates RFLAGS as far as CPL and IOPL
    /// allow, and ends NMI blocking. Task returns (NT) and returns to virtual-8086 mode are not
    /// emulated.
    mutating func interruptReturn() throws(EmulationError) {
        let size = instruction.operandSize
        if mode.isRealOrVirtual8086 {
            try realModeInterruptReturn(size: size)
            return
        }
        let longMode = special.efer & (1 << 10) != 0
        if flag(RFLAGS.nestedTask) {
            if longMode { throw .exception(.generalProtection()) }
            throw .unsupported("iret with NT set (a task return)")
        }
        let mask = ALU.mask(stackAddressSize)
        let frame = try readBytes(.ss, offset: registers.rsp & mask, count: 3 * size)
        let newRIP = Self.integer(frame[0..<size])
        let csSelector = UInt16(truncatingIfNeeded: Self.integer(frame[size..<2 * size]))
        let poppedFlags = Self.integer(frame[2 * size..<3 * size])
        if !longMode && poppedFlags & RFLAGS.virtual8086 != 0 && cpl == 0 && size == 4 {
            throw .unsupported("iret to virtual-8086 mode")
        }
        let oldCPL = cpl
        let codeSegment = try loadCodeSegment(csSelector)
        let newCPL = UInt8(csSelector & 3)
        var newRSP = registers.rsp
        var stackSegment = special.ss
        let outer = newCPL > oldCPL
        if outer || mode.is64Bit {
            let stack = try readBytes(.ss, offset: (registers.rsp &+ UInt64(3 * size)) & mask, count: 2 * size)
            newRSP = Self.integer(stack[0..<size])
            let ssSelector = UInt16(truncatingIfNeeded: Self.integer(stack[size..<2 * size]))
            stackSegment = try loadStackSegment(ssSelector, cpl: newCPL, toLongMode: longMode && codeSegment.long)
        } else {
            newRSP = (registers.rsp & ~mask) | ((registers.rsp &+ UInt64(3 * size)) & mask)
        }

        registers.rflags = returnFlags(poppedFlags, size: size, cpl: oldCPL)
        registers.rip = codeSegment.long ? newRIP : newRIP & (size == 2 ? 0xFFFF : 0xFFFF_FFFF)
        if outer || mode.is64Bit {
            registers.rsp = stackSegment.defaultBig || codeSegment.long ? newRSP
                : (registers.rsp & ~0xFFFF) | (newRSP & 0xFFFF)
            special.ss = stackSegment
        } else {
            registers.rsp = newRSP
        }
        special.cs = codeSegment
        if outer {
            for register in [SegmentRegister.es, .ds, .fs, .gs] {
                let segment = special[segment: register]
                let conformingCode = segment.type & 0xC == 0xC
                if !segment.unusable && segment.dpl < newCPL && !conformingCode {
                    special[segment: register] = Segment(base: longMode ? segment.base : 0, limit: 0, selector: 0,
                                                         type: 0, present: false, unusable: true)
                }
            }
        }
        specialChanged = true
        try context.endNMIBlocking()
    }

    /// RFLAGS after IRET: IF changes only if CPL ≤ IOPL, IOPL, VIF and VIP only at CPL 0; a 16-bit
    /// IRET replaces FLAGS only.
    private func returnFlags(_ popped: UInt64, size: Int, cpl: UInt8) -> UInt64 {
        var writable = RFLAGS.status | RFLAGS.trap | RFLAGS.direction | RFLAGS.nestedTask | RFLAGS.resume
            | RFLAGS.alignmentCheck | RFLAGS.identification
        if cpl <= iopl { writable |= RFLAGS.interrupt }
        if cpl == 0 { writable |= RFLAGS.ioPrivilegeLevel | RFLAGS.virtualInterrupt | RFLAGS.virtualInterruptPending }
        if size == 2 { writable &= 0xFFFF }
        return (registers.rflags & ~writable) | (popped & writable) | RFLAGS.fixed
    }

    private mutating func realModeInterruptReturn(size: Int) throws(EmulationError) {
        if isVirtual8086 && iopl < 3 { throw .exception(.generalProtection()) }
        let mask = ALU.mask(stackAddressSize)
        let frame = try readBytes(.ss, offset: registers.rsp & mask, count: 3 * size)
        let newIP = Self.integer(frame[0..<size])
        let selector = UInt16(truncatingIfNeeded: Self.integer(frame[size..<2 * size]))
        let popped = Self.integer(frame[2 * size..<3 * size])
        guard newIP <= UInt64(special.cs.limit) || isVirtual8086 else { throw .exception(.generalProtection()) }
        var writable: UInt64 = size == 2 ? 0xFFFF : 0x257FD5
        // Virtual-8086 mode keeps IOPL; VM, VIF and VIP never change here.
        if isVirtual8086 { writable &= ~RFLAGS.ioPrivilegeLevel }
        registers.rflags = (registers.rflags & ~writable) | (popped & writable) | RFLAGS.fixed
        registers.rip = newIP
        registers.rsp = (registers.rsp & ~mask) | ((registers.rsp &+ UInt64(3 * size)) & mask)
        special.cs.selector = selector
        special.cs.base = UInt64(selector) << 4
        specialChanged = true
        try context.endNMIBlocking()
    }

    // MARK: Descriptors

    /// Reads the 8-byte descriptor `selector` names in the GDT or LDT; #GP(selector) beyond the limit.
    func readDescriptor(_ selector: UInt16) throws(EmulationError) -> UInt64 {
        let errorCode = UInt32(selector & 0xFFFC)
        let table = selector & 4 != 0
            ? (base: special.ldt.base, limit: UInt64(special.ldt.unusable ? 0 : special.ldt.limit), usable: !special.ldt.unusable)
            : (base: special.gdt.base, limit: UInt64(special.gdt.limit), usable: true)
        let offset = UInt64(selector & 0xFFF8)
        guard table.usable, offset + 7 <= table.limit else { throw .exception(.generalProtection(errorCode)) }
        return Self.integer(try context.read(linear: table.base &+ offset, count: 8, for: .read))
    }

    /// The descriptor cache a descriptor loads, with the accessed bit set (VM entry requires it of CS
    /// and SS; the descriptor in memory is left as it is).
    static func segment(selector: UInt16, descriptor d: UInt64) -> Segment {
        var limit = UInt32(d & 0xFFFF) | UInt32((d >> 48) & 0xF) << 16
        let granularity = d & (1 << 55) != 0
        if granularity { limit = (limit << 12) | 0xFFF }
        let base = ((d >> 16) & 0xFF_FFFF) | ((d >> 56) & 0xFF) << 24
        let codeOrData = d & (1 << 44) != 0
        let type = UInt8((d >> 40) & 0xF) | (codeOrData ? 1 : 0)
        return Segment(base: base, limit: limit, selector: selector, type: type, present: d & (1 << 47) != 0,
                       dpl: UInt8((d >> 45) & 3), codeOrData: codeOrData, defaultBig: d & (1 << 54) != 0,
                       long: d & (1 << 53) != 0, granularity: granularity, available: d & (1 << 52) != 0)
    }

    /// CS for IRET: a present code segment with RPL ≥ CPL, DPL = RPL (non-conforming) or ≤ RPL
    /// (conforming); not both L and D in IA-32e mode.
    private func loadCodeSegment(_ selector: UInt16) throws(EmulationError) -> Segment {
        let errorCode = UInt32(selector & 0xFFFC)
        guard selector & 0xFFFC != 0 else { throw .exception(.generalProtection()) }
        let segment = Self.segment(selector: selector, descriptor: try readDescriptor(selector))
        let rpl = UInt8(selector & 3)
        let conforming = segment.type & 4 != 0
        guard segment.codeOrData, segment.type & 8 != 0, rpl >= cpl,
              conforming ? segment.dpl <= rpl : segment.dpl == rpl else {
            throw .exception(.generalProtection(errorCode))
        }
        let longMode = special.efer & (1 << 10) != 0
        if longMode && segment.long && segment.defaultBig { throw .exception(.generalProtection(errorCode)) }
        guard segment.present else { throw .exception(.segmentNotPresent(errorCode)) }
        var loaded = segment
        if !longMode { loaded.long = false }
        return loaded
    }

    /// SS for IRET to `cpl`: a present writable data segment with RPL = DPL = `cpl`; a null selector
    /// only when returning to 64-bit code below CPL 3.
    private func loadStackSegment(_ selector: UInt16, cpl: UInt8, toLongMode: Bool) throws(EmulationError) -> Segment {
        let errorCode = UInt32(selector & 0xFFFC)
        if selector & 0xFFFC == 0 {
            guard toLongMode && cpl < 3 && UInt8(selector & 3) == cpl else { throw .exception(.generalProtection()) }
            return Segment(base: 0, limit: 0, selector: selector, type: 3, present: false, dpl: cpl, unusable: true)
        }
        let segment = Self.segment(selector: selector, descriptor: try readDescriptor(selector))
        guard UInt8(selector & 3) == cpl, segment.codeOrData, segment.type & 0xA == 0x2, segment.dpl == cpl else {
            throw .exception(.generalProtection(errorCode))
        }
        guard segment.present else { throw .exception(.stackFault(errorCode)) }
        return segment
    }
}
