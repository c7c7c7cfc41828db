import KVM

/// XGETBV, XSETBV, FXSAVE/FXRSTOR and the XSAVE family (Intel SDM vol. 1 ch. 13), between guest
/// memory and the context's standard-format image of the vCPU's XSAVE-managed state.
///
/// The optional optimisations are not used: XSAVEOPT saves like XSAVE, XSAVES like XSAVEC (both
/// allowed by the SDM). XINUSE is the XSTATE_BV of the vCPU's image. In 32-bit forms (no REX.W)
/// the x87 instruction and data pointers are stored with zero selectors.
extension InstructionEmulator {
    mutating func getExtendedControlRegister() throws(EmulationError) {
        guard special.cr4 & ControlRegister.cr4OSXSAVE != 0 else { throw .exception(.invalidOpcode) }
        let value: UInt64
        switch UInt32(truncatingIfNeeded: registers.rcx) {
        case 0:
            value = try enabledComponents()
        case 1:
            // XGETBV with ECX = 1 reads XINUSE under XCR0.
            value = try enabledComponents() & Self.inUse(try context.extendedState())
        default:
            throw .exception(.generalProtection())
        }
        registers.setOperand(GeneralRegister.rax, size: 4, rex: true, value & 0xFFFF_FFFF)
        registers.setOperand(GeneralRegister.rdx, size: 4, rex: true, value >> 32)
        advance()
    }

    mutating func setExtendedControlRegister() throws(EmulationError) {
        guard special.cr4 & ControlRegister.cr4OSXSAVE != 0 else { throw .exception(.invalidOpcode) }
        guard cpl == 0 else { throw .exception(.generalProtection()) }
        let index = UInt32(truncatingIfNeeded: registers.rcx)
        guard try context.setExtendedControlRegister(index, to: requestedComponents) else {
            throw .exception(.generalProtection())
        }
        advance()
    }

    // MARK: x87 control, MXCSR

    /// FNSTSW (AX or m16), FNSTCW, FLDCW and FNCLEX: the x87 status and control words in the
    /// vCPU's image. #NM with CR0.EM or CR0.TS.
    mutating func x87Control(_ operation: Operation) throws(EmulationError) {
        if special.cr0 & (ControlRegister.cr0EM | ControlRegister.cr0TS) != 0 { throw .exception(.deviceNotAvailable) }
        var state = try context.extendedState()
        let status = Self.integer(state[2..<4])
        switch operation {
        case .fnstsw where instruction.memory == nil:
            setRegister(GeneralRegister.rax, size: 2, status)
        case .fnstsw:
            try write(status, to: try memoryOperand(), size: 2)
        case .fnstcw:
            try write(Self.integer(state[0..<2]), to: try memoryOperand(), size: 2)
        case .fldcw:
            state.replaceSubrange(0..<2, with: Self.bytes(try read(try memoryOperand(), size: 2), count: 2))
            Self.setInUse(&state, Self.inUse(state) | 1)
            try context.setExtendedState(state)
        default:
            // FNCLEX clears the exception flags, the stack fault, the summary and busy bits.
            state.replaceSubrange(2..<4, with: Self.bytes(status & 0x7F00, count: 2))
            Self.setInUse(&state, Self.inUse(state) | 1)
            try context.setExtendedState(state)
        }
        advance()
    }

    /// LDMXCSR and STMXCSR: #UD with CR0.EM or without CR4.OSFXSR, #NM with CR0.TS, #GP for
    /// MXCSR bits MXCSR_MASK does not allow.
    mutating func mxcsrAccess(store: Bool) throws(EmulationError) {
        if special.cr0 & ControlRegister.cr0EM != 0 || special.cr4 & ControlRegister.cr4OSFXSR == 0 {
            throw .exception(.invalidOpcode)
        }
        if special.cr0 & ControlRegister.cr0TS != 0 { throw .exception(.deviceNotAvailable) }
        let memory = try memoryOperand()
        var state = try context.extendedState()
        if store {
            try write(Self.integer(state[MXCSR.range.lowerBound..<MXCSR.range.lowerBound + 4]), to: memory, size: 4)
        } else {
            var image = state
            Self.store32(UInt32(try read(memory, size: 4)), at: MXCSR.range.lowerBound, in: &image)
            try loadMXCSR(from: image, into: &state)
            Self.markMXCSRInUse(&state)
            try context.setExtendedState(state)
        }
        advance()
    }

    // MARK: FXSAVE, FXRSTOR

    mutating func fxsave() throws(EmulationError) {
        try checkFXSaveEnabled()
        let linear = try fxsaveArea(access: .write)
        let state = try context.extendedState()
        var image = Array(state[0..<XMM.offset + XMM.size * xmmCount])
        if !widePointers { Self.narrowPointers(&image) }
        try context.write(image, linear: linear)
        advance()
    }

    mutating func fxrstor() throws(EmulationError) {
        try checkFXSaveEnabled()
        let linear = try fxsaveArea(access: .read)
        var image = try context.read(linear: linear, count: XSaveLayout.legacyRegionSize, for: .read)
        if !widePointers { Self.narrowPointers(&image) }
        var state = try context.extendedState()
        try loadMXCSR(from: image, into: &state)
        Self.copy(X87.ranges, from: image, to: &state)
        Self.copy([XMM.offset..<XMM.offset + XMM.size * xmmCount], from: image, to: &state)
        Self.setInUse(&state, Self.inUse(state) | 3)
        try context.setExtendedState(state)
        advance()
    }

    // MARK: XSAVE family

    mutating func xsave(_ operation: Operation) throws(EmulationError) {
        try checkXSaveEnabled()
        let supervisor = operation == .xsaves
        if supervisor && cpl > 0 { throw .exception(.generalProtection()) }
        let layout = context.extendedStateLayout
        let rfbm = try requestedFeatureBitmap(supervisor: supervisor, layout: layout, operation: operation)
        let state = try context.extendedState()
        let inUse = Self.inUse(state)
        let compacted = operation == .xsavec || operation == .xsaves
        let size = compacted ? layout.compactedSize(of: rfbm) : layout.standardSize(of: rfbm)
        let linear = try xsaveArea(size: size, access: .readWrite)
        var image = try context.read(linear: linear, count: size, for: .write)

        // Compacted saves skip components in their initial state (XINUSE clear).
        let saved = compacted ? rfbm & inUse : rfbm
        if saved & 1 != 0 {
            Self.copy(X87.ranges, from: state, to: &image)
            if !widePointers { Self.narrowPointers(&image) }
        }
        if saved & 2 != 0 { Self.copy([XMM.offset..<XMM.offset + XMM.size * xmmCount], from: state, to: &image) }
        if compacted ? saved & 2 != 0 : rfbm & 6 != 0 { Self.copy([MXCSR.range], from: state, to: &image) }

        let header = XSaveLayout.headerOffset
        if compacted {
            Self.store(inUse & rfbm, at: header, in: &image)
            Self.store(rfbm | XSaveLayout.compactedFormat, at: header + 8, in: &image)
            for offset in header + 16..<header + XSaveLayout.headerSize { image[offset] = 0 }
            for (index, offset) in layout.compactedOffsets(of: saved) {
                guard let component = layout.components[index] else { continue }
                image.replaceSubrange(offset..<offset + component.size,
                                      with: state[component.offset..<component.offset + component.size])
            }
        } else {
            let old = Self.integer(image[header..<header + 8])
            Self.store((old & ~rfbm) | (inUse & rfbm), at: header, in: &image)
            for (index, component) in layout.components where rfbm & (1 << UInt64(index)) != 0 {
                Self.copy([component.offset..<component.offset + component.size], from: state, to: &image)
            }
        }
        try context.write(image, linear: linear)
        advance()
    }

    mutating func xrstor(_ operation: Operation) throws(EmulationError) {
        try checkXSaveEnabled()
        let supervisor = operation == .xrstors
        if supervisor && cpl > 0 { throw .exception(.generalProtection()) }
        let layout = context.extendedStateLayout
        let rfbm = try requestedFeatureBitmap(supervisor: supervisor, layout: layout, operation: operation)
        let xcr0 = try enabledComponents()
        let allowed = xcr0 | (supervisor ? try supervisorStateComponents() : 0)

        let headerLinear = try xsaveArea(size: XSaveLayout.extendedRegionOffset, access: .read)
        let header = try context.read(linear: headerLinear &+ UInt64(XSaveLayout.headerOffset),
                                      count: XSaveLayout.headerSize, for: .read)
        let stateBV = Self.integer(header[0..<8])
        let compBV = Self.integer(header[8..<16])
        let compacted = compBV & XSaveLayout.compactedFormat != 0
        let components = compBV & ~XSaveLayout.compactedFormat
        guard header[16..<64].allSatisfy({ $0 == 0 }) else { throw .exception(.generalProtection()) }
        if compacted {
            guard components & ~allowed == 0, stateBV & ~components == 0 else { throw .exception(.generalProtection()) }
        } else {
            guard !supervisor, compBV == 0, stateBV & ~xcr0 == 0 else { throw .exception(.generalProtection()) }
        }
        guard components & ~layout.knownComponents == 0 else {
            throw .unsupported("\(operation) of state components 0x\(String(components, radix: 16)) Hyve cannot reach")
        }

        let size = compacted ? layout.compactedSize(of: components) : layout.standardSize(of: rfbm)
        let linear = try xsaveArea(size: size, access: .read)
        var image = try context.read(linear: linear, count: size, for: .read)
        if !widePointers { Self.narrowPointers(&image) }
        var state = try context.extendedState()
        let loaded = rfbm & stateBV

        if rfbm & 1 != 0 {
            if loaded & 1 != 0 { Self.copy(X87.ranges, from: image, to: &state) } else { Self.initializeX87(&state) }
        }
        if rfbm & 2 != 0 {
            let xmm = XMM.offset..<XMM.offset + XMM.size * xmmCount
            if loaded & 2 != 0 { Self.copy([xmm], from: image, to: &state) } else { Self.zero(xmm, in: &state) }
        }
        if compacted ? loaded & 2 != 0 : rfbm & 6 != 0 {
            try loadMXCSR(from: image, into: &state)
        } else if compacted && rfbm & 2 != 0 {
            Self.store32(MXCSR.initial, at: MXCSR.range.lowerBound, in: &state)
        }
        let offsets = compacted ? layout.compactedOffsets(of: components) : [:]
        for (index, component) in layout.components where rfbm & (1 << UInt64(index)) != 0 {
            let target = component.offset..<component.offset + component.size
            if loaded & (1 << UInt64(index)) != 0 {
                let source = compacted ? offsets[index] ?? 0 : component.offset
                state.replaceSubrange(target, with: image[source..<source + component.size])
            } else {
                Self.zero(target, in: &state)
            }
        }
        Self.setInUse(&state, (Self.inUse(state) & ~rfbm) | loaded)
        Self.markMXCSRInUse(&state)
        try context.setExtendedState(state)
        advance()
    }

    // MARK: Checks

    private func checkXSaveEnabled() throws(EmulationError) {
        guard special.cr4 & ControlRegister.cr4OSXSAVE != 0 else { throw .exception(.invalidOpcode) }
        if special.cr0 & ControlRegister.cr0TS != 0 { throw .exception(.deviceNotAvailable) }
    }

    private func checkFXSaveEnabled() throws(EmulationError) {
        if special.cr0 & (ControlRegister.cr0TS | ControlRegister.cr0EM) != 0 { throw .exception(.deviceNotAvailable) }
    }

    /// IA32_XSS.
    private func supervisorStateComponents() throws(EmulationError) -> UInt64 {
        try context.modelSpecificRegister(ModelSpecificRegister.extendedSupervisorState) ?? 0
    }

    /// XCR0 (x87 only when the context has none).
    private func enabledComponents() throws(EmulationError) -> UInt64 {
        try context.extendedControlRegister(0) ?? 1
    }

    /// EDX:EAX.
    private var requestedComponents: UInt64 { (registers.rdx << 32) | (registers.rax & 0xFFFF_FFFF) }

    /// RFBM: EDX:EAX under XCR0 (and IA32_XSS for XSAVES/XRSTORS).
    private func requestedFeatureBitmap(supervisor: Bool, layout: XSaveLayout,
                                        operation: Operation) throws(EmulationError) -> UInt64 {
        let enabled = try enabledComponents() | (supervisor ? try supervisorStateComponents() : 0)
        let rfbm = requestedComponents & enabled
        guard rfbm & ~layout.knownComponents == 0 else {
            throw .unsupported("\(operation) of state components 0x\(String(rfbm, radix: 16)) Hyve cannot reach")
        }
        return rfbm
    }

    /// The linear address of an XSAVE area of `size` bytes, which must be 64-byte aligned (#GP).
    private func xsaveArea(size: Int, access: SegmentAccess) throws(EmulationError) -> UInt64 {
        let linear = try linearAddress(try memoryOperand(), size: size, access: access, alignment: 1)
        guard linear % 64 == 0 else { throw .exception(.generalProtection()) }
        return linear
    }

    /// The linear address of a 512-byte FXSAVE area, which must be 16-byte aligned (#GP).
    private func fxsaveArea(access: SegmentAccess) throws(EmulationError) -> UInt64 {
        let linear = try linearAddress(try memoryOperand(), size: XSaveLayout.legacyRegionSize, access: access,
                                       alignment: 1)
        guard linear % 16 == 0 else { throw .exception(.generalProtection()) }
        return linear
    }

    /// MXCSR from an image, #GP if it sets bits MXCSR_MASK does not allow.
    private func loadMXCSR(from image: [UInt8], into state: inout [UInt8]) throws(EmulationError) {
        let value = UInt32(Self.integer(image[MXCSR.range.lowerBound..<MXCSR.range.lowerBound + 4]))
        var mask = UInt32(Self.integer(state[MXCSR.maskOffset..<MXCSR.maskOffset + 4]))
        if mask == 0 { mask = MXCSR.defaultMask }
        guard value & ~mask == 0 else { throw .exception(.generalProtection()) }
        Self.store32(value, at: MXCSR.range.lowerBound, in: &state)
    }

    // MARK: Image layout

    /// 16 XMM registers in 64-bit mode, 8 elsewhere.
    private var xmmCount: Int { mode.is64Bit ? 16 : 8 }

    /// The 64-bit forms (REX.W) store 64-bit x87 instruction and data pointers.
    private var widePointers: Bool { mode.is64Bit && instruction.prefixes.rexW }

    /// The x87 state in the legacy region: control, status, tag, opcode and pointers, then ST0–ST7.
    private enum X87 {
        static let ranges = [0..<24, 32..<160]
        static let initialControlWord: UInt32 = 0x037F
    }

    private enum XMM {
        static let offset = 160
        static let size = 16
    }

    private enum MXCSR {
        static let range = 24..<32
        static let maskOffset = 28
        static let initial: UInt32 = 0x1F80
        /// What MXCSR_MASK reads as when the processor leaves it zero.
        static let defaultMask: UInt32 = 0xFFBF
    }

    static func inUse(_ state: [UInt8]) -> UInt64 {
        integer(state[XSaveLayout.headerOffset..<XSaveLayout.headerOffset + 8])
    }

    private static func setInUse(_ state: inout [UInt8], _ value: UInt64) {
        store(value, at: XSaveLayout.headerOffset, in: &state)
    }

    /// KVM takes MXCSR from an image only when SSE (or AVX) is marked in use, and a processor
    /// counts SSE in use whenever MXCSR is not 0x1F80: mark it so.
    private static func markMXCSRInUse(_ state: inout [UInt8]) {
        let mxcsr = UInt32(integer(state[MXCSR.range.lowerBound..<MXCSR.range.lowerBound + 4]))
        if mxcsr != MXCSR.initial { setInUse(&state, inUse(state) | 2) }
    }

    private static func initializeX87(_ state: inout [UInt8]) {
        for range in X87.ranges { zero(range, in: &state) }
        store32(X87.initialControlWord, at: 0, in: &state)
    }

    /// The 32-bit pointer format: FIP and FDP are 32 bits, followed by zero selectors.
    private static func narrowPointers(_ image: inout [UInt8]) {
        zero(12..<16, in: &image)
        zero(20..<24, in: &image)
    }

    private static func copy(_ ranges: [Range<Int>], from source: [UInt8], to target: inout [UInt8]) {
        for range in ranges { target.replaceSubrange(range, with: source[range]) }
    }

    private static func zero(_ range: Range<Int>, in bytes: inout [UInt8]) {
        bytes.replaceSubrange(range, with: repeatElement(0, count: range.count))
    }

    private static func store(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        bytes.replaceSubrange(offset..<offset + 8, with: Self.bytes(value, count: 8))
    }

    private static func store32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        bytes.replaceSubrange(offset..<offset + 4, with: Self.bytes(UInt64(value), count: 4))
    }
}
