/// One range of the guest's E820 memory map.
///
/// The zero page, the PVH memory map and the multiboot memory map all describe guest memory this way,
/// so the caller builds the map once (the Firmware module knows the machine's layout) and every loader
/// copies it in its own format.
public struct E820Entry: Sendable, Equatable {
    /// What a range of memory may be used for; the raw values are the E820 type codes.
    public struct Kind: RawRepresentable, Sendable, Equatable, Hashable {
        public var rawValue: UInt32

        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// Usable RAM.
        public static let ram = Kind(rawValue: 1)
        /// Reserved: not to be used as RAM.
        public static let reserved = Kind(rawValue: 2)
        /// ACPI tables, reclaimable once read.
        public static let acpiReclaimable = Kind(rawValue: 3)
        /// ACPI non-volatile storage.
        public static let acpiNVS = Kind(rawValue: 4)
        /// Memory reported as faulty.
        public static let unusable = Kind(rawValue: 5)
    }

    /// Guest physical address of the first byte.
    public var address: UInt64
    /// Bytes in the range.
    public var length: UInt64
    /// What the range may be used for.
    public var kind: Kind

    /// Creates an entry for `length` bytes of `kind` memory at `address`.
    public init(address: UInt64, length: UInt64, kind: Kind) {
        self.address = address
        self.length = length
        self.kind = kind
    }

    /// One past the last byte, saturating so that a malformed entry cannot wrap around.
    public var end: UInt64 {
        let sum = address.addingReportingOverflow(length)
        return sum.overflow ? .max : sum.partialValue
    }
}
