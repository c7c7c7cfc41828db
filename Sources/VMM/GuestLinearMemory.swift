/// A piece of a guest linear range that lies within one 4 KiB guest page, at its guest physical address.
public struct GuestPhysicalRange: Sendable, Equatable {
    public var address: UInt64
    public var length: Int

    public init(address: UInt64, length: Int) {
        self.address = address
        self.length = length
    }
}

/// Guest copies through the guest's page tables: bhyve's `vm_copy_setup`, `vm_copyin` and `vm_copyout`,
/// without bhyve's limit on the number of pages.
///
/// Every page of the range is translated (setting Accessed/Dirty bits) before any byte moves, so a
/// copy either completes or reports the fault of its first faulting page with nothing written. The
/// range may wrap around the top of the linear address space (4 GiB outside 64-bit mode).
extension GuestPaging {
    /// The guest physical pieces of the `length` bytes at linear address `gla`, in order, each
    /// translated for `access` (bhyve's `vm_copy_setup`). Returns the first fault instead if a page
    /// faults; throws if a walk fails or a piece is not guest RAM (after translating every page, so
    /// a fault on a later page wins, as in bhyve).
    public func physicalRanges(of gla: UInt64, length: Int, for access: Protection,
                               in memory: GuestMemory) throws(GuestPagingError) -> Result<[GuestPhysicalRange], GuestFault> {
        precondition(length >= 0, "negative guest copy length \(length)")
        var ranges: [GuestPhysicalRange] = []
        var linear = gla & linearAddressMask
        var remaining = length
        while remaining > 0 {
            let count = min(remaining, Int(Self.pageSize - linear % Self.pageSize))
            switch try translate(linear, for: access, in: memory) {
            case .failure(let fault):
                return .failure(fault)
            case .success(let gpa):
                ranges.append(GuestPhysicalRange(address: gpa, length: count))
            }
            linear = (linear &+ UInt64(count)) & linearAddressMask
            remaining -= count
        }
        for range in ranges where !memory.contains(range.address, length: UInt64(range.length)) {
            throw .notRAM(GuestMemoryError(address: range.address, length: UInt64(range.length)))
        }
        return .success(ranges)
    }

    /// Reads `count` bytes at linear address `gla` (bhyve's `vm_copyin`); `access` is `.execute`
    /// for instruction fetches. Returns the bytes, or the fault of the first faulting page.
    public func copyIn(from gla: UInt64, count: Int, for access: Protection = .read,
                       in memory: GuestMemory) throws(GuestPagingError) -> Result<[UInt8], GuestFault> {
        switch try physicalRanges(of: gla, length: count, for: access, in: memory) {
        case .failure(let fault):
            return .failure(fault)
        case .success(let ranges):
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count)
            do throws(GuestMemoryError) {
                for range in ranges { bytes += try memory.read(range.address, count: range.length) }
            } catch {
                throw .notRAM(error)
            }
            return .success(bytes)
        }
    }

    /// Writes `bytes` at linear address `gla` (bhyve's `vm_copyout`). Returns nil once every byte is
    /// written, or the fault of the first faulting page, in which case nothing was written.
    public func copyOut(_ bytes: [UInt8], to gla: UInt64,
                        in memory: GuestMemory) throws(GuestPagingError) -> GuestFault? {
        switch try physicalRanges(of: gla, length: bytes.count, for: .write, in: memory) {
        case .failure(let fault):
            return fault
        case .success(let ranges):
            var offset = 0
            do throws(GuestMemoryError) {
                for range in ranges {
                    try memory.write(Array(bytes[offset..<offset + range.length]), at: range.address)
                    offset += range.length
                }
            } catch {
                throw .notRAM(error)
            }
            return nil
        }
    }
}
