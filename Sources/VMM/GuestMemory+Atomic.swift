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
