import VMM

/// A function's MSI-X capability (PCI Local Bus 3.0, 6.8.2) with its table and Pending Bit Array
/// in one of the function's memory BARs, as bhyve places them.
///
/// Each table entry holds a message address, data and a vector control word whose bit 0 masks the
/// vector; every vector starts masked. A vector raised while it or the whole function is masked
/// sets its PBA bit, and is sent (and the bit cleared) as soon as both masks are lifted. Nothing
/// is sent, or held pending, while MSI-X is disabled.
///
/// The table takes 4- and 8-byte aligned writes and 1-, 2-, 4- and 8-byte aligned reads; the PBA
/// is read-only. Other accesses read all-ones and are ignored.
struct MSIXCapability: Sendable {
    static let id: UInt8 = 0x11
    static let length = 12
    static let entrySize: UInt64 = 16
    static let maximumVectors = 2048

    static let controlOffset = 2
    static let tableRegisterOffset = 4
    static let pbaRegisterOffset = 8

    static let functionMask: UInt16 = 1 << 14
    static let enable: UInt16 = 1 << 15
    static let vectorMasked: UInt32 = 1

    let offset: Int
    let vectors: Int
    /// The BAR holding both the table and the PBA.
    let bar: Int
    let tableOffset: UInt64
    let pbaOffset: UInt64
    /// Four dwords per entry: address low, address high, data, vector control.
    private var table: [UInt32]
    private var pendingBits: [UInt64]

    var tableSize: UInt64 { UInt64(vectors) * Self.entrySize }
    var pbaSize: UInt64 { UInt64((vectors + 63) / 64) * 8 }

    /// Adds the capability to `config`, disabled and with the function unmasked; nil when there is
    /// no room left. The offsets are relative to the BAR and qword-aligned.
    static func install(in config: inout PCIConfigSpace, vectors: Int, bar: Int, tableOffset: UInt32,
                        pbaOffset: UInt32) -> MSIXCapability? {
        precondition(vectors >= 1 && vectors <= maximumVectors, "MSI-X vector count must be 1-2048")
        precondition(tableOffset & 7 == 0 && pbaOffset & 7 == 0, "MSI-X table and PBA must be qword-aligned")
        guard let offset = config.addCapability(id: id, length: length) else { return nil }
        config.set(offset + controlOffset, size: 2, value: UInt32(vectors - 1))
        config.setWritable(offset + controlOffset, size: 2, mask: UInt32(enable | functionMask))
        config.set(offset + tableRegisterOffset, size: 4, value: tableOffset | UInt32(bar))
        config.set(offset + pbaRegisterOffset, size: 4, value: pbaOffset | UInt32(bar))
        return MSIXCapability(offset: offset, vectors: vectors, bar: bar, tableOffset: UInt64(tableOffset),
                              pbaOffset: UInt64(pbaOffset))
    }

    private init(offset: Int, vectors: Int, bar: Int, tableOffset: UInt64, pbaOffset: UInt64) {
        self.offset = offset
        self.vectors = vectors
        self.bar = bar
        self.tableOffset = tableOffset
        self.pbaOffset = pbaOffset
        table = []
        pendingBits = []
        reset()
    }

    /// Power-on: every vector masked with a zero message, nothing pending.
    mutating func reset() {
        table = [UInt32](repeating: 0, count: vectors * 4)
        for vector in 0..<vectors { table[vector * 4 + 3] = Self.vectorMasked }
        pendingBits = [UInt64](repeating: 0, count: (vectors + 63) / 64)
    }

    func isEnabled(_ config: PCIConfigSpace) -> Bool {
        control(config) & Self.enable != 0
    }

    func isFunctionMasked(_ config: PCIConfigSpace) -> Bool {
        control(config) & Self.functionMask != 0
    }

    func isPending(_ vector: Int) -> Bool {
        pendingBits[vector / 64] & (1 << UInt64(vector % 64)) != 0
    }

    // MARK: BAR accesses

    /// A read of the table or PBA at `offset` of BAR `bar`; nil when the access is elsewhere.
    func read(bar: Int, offset: UInt64, size: Int) -> UInt64? {
        guard bar == self.bar else { return nil }
        switch Self.locate(offset, size: size, in: tableOffset, length: tableSize) {
        case .at(let index): return Self.bytes(at: index, size: size) { table[$0] }
        case .misaligned: return UInt64.max
        case .outside: break
        }
        switch Self.locate(offset, size: size, in: pbaOffset, length: pbaSize) {
        case .at(let index):
            return Self.bytes(at: index, size: size) { dword in
                UInt32(truncatingIfNeeded: pendingBits[dword / 2] >> (32 * UInt64(dword % 2)))
            }
        case .misaligned: return UInt64.max
        case .outside: return nil
        }
    }

    /// A write to the table or PBA; false when the access is elsewhere. Unmasking a pending vector
    /// sends it.
    mutating func write(bar: Int, offset: UInt64, size: Int, value: UInt64, config: PCIConfigSpace,
                        lines: (any InterruptLines)?) -> Bool {
        guard bar == self.bar else { return false }
        switch Self.locate(offset, size: size, in: tableOffset, length: tableSize) {
        case .at(let index) where size >= 4:
            for i in 0..<size / 4 {
                let dword = index / 4 + i
                let word = UInt32(truncatingIfNeeded: value >> (32 * UInt64(i)))
                switch dword % 4 {
                case 0: table[dword] = word & ~3
                case 3: table[dword] = word & Self.vectorMasked
                default: table[dword] = word
                }
            }
            deliverPending(config: config, lines: lines)
            return true
        case .at, .misaligned:
            return true
        case .outside:
            if case .outside = Self.locate(offset, size: size, in: pbaOffset, length: pbaSize) { return false }
            return true
        }
    }

    private enum Location {
        case outside
        /// Starts in the region but is not a naturally aligned 1/2/4/8-byte access inside it.
        case misaligned
        case at(Int)
    }

    private static func locate(_ offset: UInt64, size: Int, in start: UInt64, length: UInt64) -> Location {
        guard offset >= start, offset - start < length else { return .outside }
        let index = offset - start
        guard [1, 2, 4, 8].contains(size), index % UInt64(size) == 0, index + UInt64(size) <= length else {
            return .misaligned
        }
        return .at(Int(index))
    }

    private static func bytes(at index: Int, size: Int, dword: (Int) -> UInt32) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<size {
            let byte = index + i
            value |= UInt64((dword(byte / 4) >> (8 * UInt32(byte % 4))) & 0xFF) << (8 * UInt64(i))
        }
        return value
    }

    // MARK: Delivery

    /// Sends `vector`, or sets its pending bit while it or the function is masked.
    mutating func trigger(_ vector: Int, config: PCIConfigSpace, lines: (any InterruptLines)?) {
        guard isEnabled(config), vector >= 0, vector < vectors else { return }
        if isFunctionMasked(config) || table[vector * 4 + 3] & Self.vectorMasked != 0 {
            pendingBits[vector / 64] |= 1 << UInt64(vector % 64)
        } else {
            send(vector, lines: lines)
        }
    }

    /// Sends every pending vector that is no longer masked.
    mutating func deliverPending(config: PCIConfigSpace, lines: (any InterruptLines)?) {
        guard isEnabled(config), !isFunctionMasked(config) else { return }
        for vector in 0..<vectors where isPending(vector) && table[vector * 4 + 3] & Self.vectorMasked == 0 {
            pendingBits[vector / 64] &= ~(1 << UInt64(vector % 64))
            send(vector, lines: lines)
        }
    }

    private func send(_ vector: Int, lines: (any InterruptLines)?) {
        let address = UInt64(table[vector * 4 + 1]) << 32 | UInt64(table[vector * 4])
        lines?.sendMSI(address: address, data: table[vector * 4 + 2])
    }

    private func control(_ config: PCIConfigSpace) -> UInt16 {
        UInt16(config.read(offset + Self.controlOffset, size: 2))
    }
}
