import Synchronization

/// Atomic access to naturally aligned guest integers, for data the guest's own vCPUs (or the CPU's page
/// walker) may change at the same moment, such as page-table entries.
///
/// `Atomic` has the exact layout of its value's atomic representation, so binding an aligned slot of
/// guest RAM to it yields locked operations on guest memory itself, which interlock with the
/// processor's own Accessed/Dirty updates, without a C shim or a new package dependency. Values are
/// little-endian in guest memory, like ``GuestMemory/load(_:at:)``.
extension GuestMemory {
    /// Atomically reads the little-endian 64-bit integer at `address`, which must be 8-byte aligned.
    public func atomicLoad(_ type: UInt64.Type, at address: UInt64) throws(GuestMemoryError) -> UInt64 {
        UInt64(littleEndian: try atomicSlot(UInt64.self, at: address).pointee.load(ordering: .acquiring))
    }

    /// Atomically reads the little-endian 32-bit integer at `address`, which must be 4-byte aligned.
    public func atomicLoad(_ type: UInt32.Type, at address: UInt64) throws(GuestMemoryError) -> UInt32 {
        UInt32(littleEndian: try atomicSlot(UInt32.self, at: address).pointee.load(ordering: .acquiring))
    }

    /// Atomically replaces the little-endian 64-bit integer at `address` (8-byte aligned) with
    /// `desired` if it still equals `expected`. Returns whether it did, and the value that was there.
    public func compareExchange(at address: UInt64, expected: UInt64,
                                desired: UInt64) throws(GuestMemoryError) -> (exchanged: Bool, original: UInt64) {
        let result = try atomicSlot(UInt64.self, at: address).pointee.compareExchange(
            expected: expected.littleEndian, desired: desired.littleEndian, ordering: .acquiringAndReleasing)
        return (result.exchanged, UInt64(littleEndian: result.original))
    }

    /// Atomically replaces the little-endian 32-bit integer at `address` (4-byte aligned) with
    /// `desired` if it still equals `expected`. Returns whether it did, and the value that was there.
    public func compareExchange(at address: UInt64, expected: UInt32,
                                desired: UInt32) throws(GuestMemoryError) -> (exchanged: Bool, original: UInt32) {
        let result = try atomicSlot(UInt32.self, at: address).pointee.compareExchange(
            expected: expected.littleEndian, desired: desired.littleEndian, ordering: .acquiringAndReleasing)
        return (result.exchanged, UInt32(littleEndian: result.original))
    }

    /// Atomically replaces the little-endian 16-bit integer at `address` (2-byte aligned) with
    /// `desired` if it still equals `expected`. Returns whether it did, and the value that was there.
    public func compareExchange(at address: UInt64, expected: UInt16,
                                desired: UInt16) throws(GuestMemoryError) -> (exchanged: Bool, original: UInt16) {
        let result = try atomicSlot(UInt16.self, at: address).pointee.compareExchange(
            expected: expected.littleEndian, desired: desired.littleEndian, ordering: .acquiringAndReleasing)
        return (result.exchanged, UInt16(littleEndian: result.original))
    }

    /// Atomically replaces the byte at `address` with `desired` if it still equals `expected`.
    /// Returns whether it did, and the value that was there.
    public func compareExchange(at address: UInt64, expected: UInt8,
                                desired: UInt8) throws(GuestMemoryError) -> (exchanged: Bool, original: UInt8) {
        let result = try atomicSlot(UInt8.self, at: address).pointee.compareExchange(
            expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        return (result.exchanged, result.original)
    }

    /// Atomically replaces the 16 bytes at `address` (16-byte aligned) with `desired` if they still
    /// equal `expected`, as LOCK CMPXCHG16B does; each value is a pair of little-endian quadwords,
    /// `low` at `address`. Returns whether it did, and the value that was there.
    public func compareExchange(at address: UInt64, expected: (low: UInt64, high: UInt64),
                                desired: (low: UInt64, high: UInt64)) throws(GuestMemoryError)
        -> (exchanged: Bool, original: (low: UInt64, high: UInt64)) {
        precondition(address % 16 == 0, "128-bit atomic guest access at 0x\(String(address, radix: 16)) is misaligned")
        let slot = try pointer(address, length: 16).bindMemory(to: Atomic<WordPair>.self, capacity: 1)
        // WordPair keeps `first` at the lower address, so on this little-endian host it is the low quadword.
        let result = slot.pointee.compareExchange(
            expected: WordPair(first: UInt(expected.low.littleEndian), second: UInt(expected.high.littleEndian)),
            desired: WordPair(first: UInt(desired.low.littleEndian), second: UInt(desired.high.littleEndian)),
            ordering: .acquiringAndReleasing)
        return (result.exchanged, (UInt64(littleEndian: UInt64(result.original.first)),
                                   UInt64(littleEndian: UInt64(result.original.second))))
    }

    private func atomicSlot<T: FixedWidthInteger & AtomicRepresentable>(
        _ type: T.Type, at address: UInt64
    ) throws(GuestMemoryError) -> UnsafeMutablePointer<Atomic<T>> {
        // A misaligned locked access may straddle cache lines, which Linux can punish with SIGBUS
        // (split-lock detection); page-table entries are always aligned, so this is a caller bug.
        precondition(address % UInt64(MemoryLayout<T>.size) == 0, "atomic guest access at 0x\(String(address, radix: 16)) is misaligned")
        let raw = try pointer(address, length: UInt64(MemoryLayout<T>.size))
        return raw.bindMemory(to: Atomic<T>.self, capacity: 1)
    }
}
