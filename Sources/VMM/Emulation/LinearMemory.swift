/// Guest-linear memory as one vCPU sees it at one moment: its paging context over guest RAM, with
/// whatever is not RAM sent to the MMIO bus (bhyve's `vm_copy_setup` plus its MMIO dispatch).
///
/// Every page of an access is translated (setting Accessed/Dirty bits) before any byte moves, so an
/// access either completes or raises the fault of its first faulting page with nothing written.
public struct LinearMemory: Sendable {
    public let memory: GuestMemory
    public let paging: GuestPaging
    /// Where accesses outside RAM go; without a bus they are a host failure.
    public let mmio: MMIOBus?

    public init(memory: GuestMemory, paging: GuestPaging, mmio: MMIOBus? = nil) {
        self.memory = memory
        self.paging = paging
        self.mmio = mmio
    }

    /// Reads `count` bytes at linear address `address`, translated for `access`; throws the #PF or
    /// #GP of the first page that faults.
    public func read(_ address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for range in try physicalRanges(address, count: count, for: access) {
            if memory.contains(range.address, length: UInt64(range.length)) {
                bytes += try ram { () throws(GuestMemoryError) in try memory.read(range.address, count: range.length) }
            } else {
                bytes += try mmioRead(range)
            }
        }
        return bytes
    }

    /// Writes `bytes` at linear address `address` once every page translates for writing.
    public func write(_ bytes: [UInt8], at address: UInt64) throws(EmulationError) {
        var offset = 0
        for range in try physicalRanges(address, count: bytes.count, for: .write) {
            let piece = Array(bytes[offset..<offset + range.length])
            if memory.contains(range.address, length: UInt64(range.length)) {
                try ram { () throws(GuestMemoryError) in try memory.write(piece, at: range.address) }
            } else {
                try mmioWrite(piece, at: range.address)
            }
            offset += range.length
        }
    }

    /// Translates without moving data; throws the fault the access would raise.
    public func checkAccess(_ address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) {
        _ = try physicalRanges(address, count: count, for: access)
    }

    /// Whether every byte of the range is mapped to guest RAM (no side effects, no faults).
    public func isRAM(_ address: UInt64, count: Int) throws(EmulationError) -> Bool {
        var linear = address & paging.linearAddressMask
        var remaining = count
        while remaining > 0 {
            let piece = min(remaining, Int(GuestPaging.pageSize - linear % GuestPaging.pageSize))
            let gpa: UInt64?
            do throws(GuestPagingError) {
                gpa = try paging.translateNoFault(linear, for: .read, in: memory)
            } catch {
                throw .hostFailure("guest page walk for 0x\(String(linear, radix: 16)) failed: \(error)")
            }
            guard let gpa, memory.contains(gpa, length: UInt64(piece)) else { return false }
            linear = (linear &+ UInt64(piece)) & paging.linearAddressMask
            remaining -= piece
        }
        return true
    }

    /// Compare-and-exchange of 1, 2, 4, 8 or 16 bytes (see ``EmulationContext/compareExchange(linear:expected:desired:)``):
    /// one locked host operation when the operand is naturally aligned RAM, otherwise a read,
    /// compare and write that other vCPUs can interleave with (as a split lock on hardware cannot).
    public func compareExchange(_ address: UInt64, expected: [UInt8], desired: [UInt8]) throws(EmulationError) -> [UInt8]? {
        precondition(expected.count == desired.count, "compare-exchange operands differ in size")
        let count = expected.count
        let ranges = try physicalRanges(address, count: count, for: .write)
        if ranges.count == 1, let range = ranges.first, range.address % UInt64(count) == 0,
           [1, 2, 4, 8, 16].contains(count), memory.contains(range.address, length: UInt64(count)) {
            return try ram { () throws(GuestMemoryError) in try atomicCompareExchange(at: range.address, expected, desired) }
        }
        let current = try read(address, count: count, for: .write)
        guard current == expected else { return current }
        try write(desired, at: address)
        return nil
    }

    // MARK: Pieces

    private func physicalRanges(_ address: UInt64, count: Int,
                                for access: GuestPaging.Protection) throws(EmulationError) -> [GuestPhysicalRange] {
        var ranges: [GuestPhysicalRange] = []
        var linear = address & paging.linearAddressMask
        var remaining = count
        while remaining > 0 {
            let piece = min(remaining, Int(GuestPaging.pageSize - linear % GuestPaging.pageSize))
            let translation: Result<UInt64, GuestFault>
            do throws(GuestPagingError) {
                translation = try paging.translate(linear, for: access, in: memory)
            } catch {
                throw .hostFailure("guest page walk for 0x\(String(linear, radix: 16)) failed: \(error)")
            }
            switch translation {
            case .failure(let fault):
                throw .exception(GuestException(fault))
            case .success(let gpa):
                ranges.append(GuestPhysicalRange(address: gpa, length: piece))
            }
            linear = (linear &+ UInt64(piece)) & paging.linearAddressMask
            remaining -= piece
        }
        return ranges
    }

    private func ram<T>(_ body: () throws(GuestMemoryError) -> T) throws(EmulationError) -> T {
        do throws(GuestMemoryError) {
            return try body()
        } catch {
            throw .hostFailure("\(error)")
        }
    }

    private func atomicCompareExchange(at gpa: UInt64, _ expected: [UInt8],
                                       _ desired: [UInt8]) throws(GuestMemoryError) -> [UInt8]? {
        let e = InstructionEmulator.integer(expected.prefix(8))
        let d = InstructionEmulator.integer(desired.prefix(8))
        let found: UInt64
        switch expected.count {
        case 1:
            let result = try memory.compareExchange(at: gpa, expected: UInt8(e), desired: UInt8(d))
            if result.exchanged { return nil }
            found = UInt64(result.original)
        case 2:
            let result = try memory.compareExchange(at: gpa, expected: UInt16(e), desired: UInt16(d))
            if result.exchanged { return nil }
            found = UInt64(result.original)
        case 4:
            let result = try memory.compareExchange(at: gpa, expected: UInt32(e), desired: UInt32(d))
            if result.exchanged { return nil }
            found = UInt64(result.original)
        case 8:
            let result = try memory.compareExchange(at: gpa, expected: e, desired: d)
            if result.exchanged { return nil }
            found = result.original
        default:
            let result = try memory.compareExchange(
                at: gpa, expected: (low: e, high: InstructionEmulator.integer(expected.suffix(8))),
                desired: (low: d, high: InstructionEmulator.integer(desired.suffix(8))))
            if result.exchanged { return nil }
            return InstructionEmulator.bytes(result.original.low, count: 8) + InstructionEmulator.bytes(result.original.high, count: 8)
        }
        return InstructionEmulator.bytes(found, count: expected.count)
    }

    // MARK: MMIO

    /// MMIO accesses go out in naturally aligned pieces of at most 8 bytes; an unclaimed read
    /// returns all ones, as on a PC's bus.
    private func mmioRead(_ range: GuestPhysicalRange) throws(EmulationError) -> [UInt8] {
        guard let mmio else { throw .hostFailure("guest physical 0x\(String(range.address, radix: 16)) is not RAM") }
        var bytes: [UInt8] = []
        for (address, size) in Self.mmioPieces(range.address, length: range.length) {
            bytes += InstructionEmulator.bytes(mmio.read(address, size: size) ?? .max, count: size)
        }
        return bytes
    }

    private func mmioWrite(_ bytes: [UInt8], at gpa: UInt64) throws(EmulationError) {
        guard let mmio else { throw .hostFailure("guest physical 0x\(String(gpa, radix: 16)) is not RAM") }
        var offset = 0
        for (address, size) in Self.mmioPieces(gpa, length: bytes.count) {
            _ = mmio.write(address, size: size, value: InstructionEmulator.integer(bytes[offset..<offset + size]))
            offset += size
        }
    }

    static func mmioPieces(_ address: UInt64, length: Int) -> [(UInt64, Int)] {
        var pieces: [(UInt64, Int)] = []
        var address = address
        var remaining = length
        while remaining > 0 {
            var size = 8
            while size > 1 && (address % UInt64(size) != 0 || size > remaining) { size /= 2 }
            pieces.append((address, size))
            address += UInt64(size)
            remaining -= size
        }
        return pieces
    }
}
