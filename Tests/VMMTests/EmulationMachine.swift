import KVM
@testable import VMM

/// A synthetic vCPU for the emulator: registers in memory, real guest RAM walked through real page
/// tables (long mode: 4-level paging, the first 8 MiB identity-mapped, 0x200000–0x3FFFFF with 4 KiB
/// pages so single pages can be unmapped or made read-only), an MMIO bus, and an XSAVE image.
final class EmulationMachine: EmulationContext {
    enum Mode {
        case long64
        case protected32
        case real
    }

    let memory: GuestMemory
    let mmio = MMIOBus()
    var registers = Registers()
    var specialRegisters = SpecialRegisters()
    var xcr0: UInt64 = 0x7
    var xss: UInt64 = 0
    var tsc: UInt64 = 0x1234_5678_9ABC
    var tscAux: UInt64 = 3
    var xsaveImage: [UInt8]
    var extendedStateLayout = EmulationMachine.layout
    private(set) var invalidations = 0
    private(set) var nmiUnblocks = 0

    /// Component 2 (AVX) at 576, 256 bytes; component 5 (opmask) at 1088, 64 bytes, 64-byte aligned
    /// in the compacted format.
    static let layout = XSaveLayout(components: [
        2: .init(offset: 576, size: 256),
        5: .init(offset: 1088, size: 64, alignedTo64: true),
    ])

    static let pml4: UInt64 = 0x1000
    static let pageTable: UInt64 = 0x4000
    /// Where 4 KiB pages start: page tests use addresses from here up to 0x400000.
    static let smallPages: UInt64 = 0x20_0000
    static let codeAddress: UInt64 = 0x10_0000

    init(_ mode: Mode = .long64) throws {
        memory = try GuestMemory(size: 16 << 20)
        xsaveImage = [UInt8](repeating: 0, count: 4096)
        xsaveImage[0] = 0x7F
        xsaveImage[1] = 0x03
        xsaveImage.replaceSubrange(24..<32, with: [0x80, 0x1F, 0, 0, 0xFF, 0xFF, 0, 0])
        registers.rip = Self.codeAddress
        registers.rsp = 0x8_0000
        switch mode {
        case .long64:
            try buildPageTables()
            let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, defaultBig: true, granularity: true)
            specialRegisters.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x8, type: 0xB, long: true, granularity: true)
            specialRegisters.ss = data
            specialRegisters.ds = data
            specialRegisters.es = data
            specialRegisters.fs = data
            specialRegisters.gs = data
            specialRegisters.cr0 = 0x8001_0031
            specialRegisters.cr3 = Self.pml4
            specialRegisters.cr4 = (1 << 5) | (1 << 9) | (1 << 18)
            specialRegisters.efer = (1 << 8) | (1 << 10)
        case .protected32:
            let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, defaultBig: true, granularity: true)
            specialRegisters.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x8, type: 0xB, defaultBig: true,
                                          granularity: true)
            specialRegisters.ss = data
            specialRegisters.ds = data
            specialRegisters.es = data
            specialRegisters.fs = data
            specialRegisters.gs = data
            specialRegisters.cr0 = 0x11
            specialRegisters.cr4 = (1 << 9) | (1 << 18)
        case .real:
            let data = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x3)
            specialRegisters.cs = Segment(base: 0xF0000, limit: 0xFFFF, selector: 0xF000, type: 0xB)
            specialRegisters.ss = data
            specialRegisters.ds = data
            specialRegisters.es = data
            specialRegisters.fs = data
            specialRegisters.gs = data
            specialRegisters.cr0 = 0x10
            registers.rip = 0x100
            registers.rsp = 0x8000
        }
    }

    private func buildPageTables() throws {
        try memory.store(UInt64(0x2000 | 0x7), at: Self.pml4)
        try memory.store(UInt64(0x3000 | 0x7), at: 0x2000)
        // A 1 GiB page over 3–4 GiB, where MMIO devices live.
        try memory.store(UInt64(0xC000_0000 | 0x87), at: 0x2000 + 3 * 8)
        for index in 0..<8 as Range<UInt64> {
            let entry: UInt64 = index == 1 ? Self.pageTable | 0x7 : (index << 21) | 0x87
            try memory.store(entry, at: 0x3000 + index * 8)
        }
        for index in 0..<512 as Range<UInt64> {
            try memory.store(Self.smallPages + (index << 12) | 0x7, at: Self.pageTable + index * 8)
        }
    }

    /// The page-table entry of the 4 KiB page at `address` (0x200000–0x3FFFFF).
    private func pteAddress(_ address: UInt64) -> UInt64 {
        precondition((Self.smallPages..<Self.smallPages + 0x20_0000).contains(address))
        return Self.pageTable + ((address - Self.smallPages) >> 12) * 8
    }

    func unmapPage(_ address: UInt64) throws {
        try memory.store(UInt64(0), at: pteAddress(address))
    }

    func makeReadOnly(_ address: UInt64) throws {
        try memory.store((address & ~0xFFF) | 0x5, at: pteAddress(address))
    }

    func makeSupervisorOnly(_ address: UInt64) throws {
        try memory.store((address & ~0xFFF) | 0x3, at: pteAddress(address))
    }

    /// Decodes `bytes` in the machine's current mode and emulates them at RIP.
    @discardableResult
    func run(_ bytes: [UInt8]) throws -> EmulationOutcome {
        let mode = InstructionMode(specialRegisters, rflags: registers.rflags)
        let instruction = try InstructionDecoder.decode(bytes, mode: mode)
        return InstructionEmulator.emulate(instruction, in: self)
    }

    func load64(_ address: UInt64) throws -> UInt64 { try memory.load(UInt64.self, at: address) }

    func store64(_ value: UInt64, at address: UInt64) throws { try memory.store(value, at: address) }

    // MARK: EmulationContext

    private var linear: LinearMemory {
        LinearMemory(memory: memory, paging: GuestPaging(specialRegisters), mmio: mmio)
    }

    func read(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) -> [UInt8] {
        try linear.read(address, count: count, for: access)
    }

    func checkAccess(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) {
        try linear.checkAccess(address, count: count, for: access)
    }

    func isRAM(linear address: UInt64, count: Int) throws(EmulationError) -> Bool {
        try linear.isRAM(address, count: count)
    }

    func write(_ bytes: [UInt8], linear address: UInt64) throws(EmulationError) {
        try linear.write(bytes, at: address)
    }

    func compareExchange(linear address: UInt64, expected: [UInt8], desired: [UInt8]) throws(EmulationError) -> [UInt8]? {
        try linear.compareExchange(address, expected: expected, desired: desired)
    }

    func extendedControlRegister(_ index: UInt32) throws(EmulationError) -> UInt64? {
        index == 0 ? xcr0 : nil
    }

    func setExtendedControlRegister(_ index: UInt32, to value: UInt64) throws(EmulationError) -> Bool {
        guard index == 0, value & 1 != 0, value & ~extendedStateLayout.knownComponents == 0 else { return false }
        xcr0 = value
        return true
    }

    func extendedState() throws(EmulationError) -> [UInt8] { xsaveImage }

    func setExtendedState(_ image: [UInt8]) throws(EmulationError) { xsaveImage = image }

    func modelSpecificRegister(_ index: UInt32) throws(EmulationError) -> UInt64? {
        switch index {
        case ModelSpecificRegister.timeStampCounter: tsc
        case ModelSpecificRegister.timeStampCounterAux: tscAux
        case ModelSpecificRegister.extendedSupervisorState: xss
        default: nil
        }
    }

    func invalidateTranslations() throws(EmulationError) { invalidations += 1 }

    func endNMIBlocking() throws(EmulationError) { nmiUnblocks += 1 }
}

/// An MMIO register file of 8-byte registers that records every access.
final class RecordingDevice: MMIODevice, @unchecked Sendable {
    var registers: [UInt64: UInt64] = [:]
    var accesses: [(address: UInt64, size: Int, write: Bool)] = []

    func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        accesses.append((address, size, false))
        return registers[address, default: 0]
    }

    func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        accesses.append((address, size, true))
        registers[address] = value
    }
}
