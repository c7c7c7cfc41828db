/// The header that marks a multiboot kernel (Multiboot Specification 0.6.96): a magic number, flags and
/// a checksum, 4-byte aligned within the file's first 8 KiB, followed by load addresses when flag 16 is set.
public struct MultibootHeader: Sendable, Equatable {
    /// Where to load a kernel that is not ELF (or wants its ELF headers ignored), from flag 16's fields.
    public struct Addresses: Sendable, Equatable {
        /// Physical address the header itself is loaded at.
        public var header: UInt32
        /// Physical address of the first byte loaded.
        public var load: UInt32
        /// One past the last byte loaded from the file; zero means "to the end of the file".
        public var loadEnd: UInt32
        /// One past the zero-filled bss; zero means there is none.
        public var bssEnd: UInt32
        /// Physical address of the first instruction.
        public var entry: UInt32

        /// Creates the flag 16 fields.
        public init(header: UInt32, load: UInt32, loadEnd: UInt32, bssEnd: UInt32, entry: UInt32) {
            self.header = header
            self.load = load
            self.loadEnd = loadEnd
            self.bssEnd = bssEnd
            self.entry = entry
        }
    }

    /// File offset of the magic number.
    public var offset: Int
    /// The header's flags: bits 0–15 are requirements, bit 16 says ``addresses`` are valid.
    public var flags: UInt32
    /// The load addresses, when flag 16 is set.
    public var addresses: Addresses?

    /// The first valid header in `bytes`, or nil when there is none.
    ///
    /// - Throws: ``KernelBootError/badMultibootChecksum(offset:)`` when a magic number was found but no
    ///   header checks out, ``KernelBootError/unsupportedMultibootFlags(_:)`` when the header requires
    ///   more than page-aligned modules, memory information and (ignored, as a preference) a video mode,
    ///   and ``KernelBootError/truncatedKernel(size:needed:)`` when flag 16's fields are cut off.
    public static func find(in bytes: [UInt8]) throws(KernelBootError) -> MultibootHeader? {
        let searchEnd = min(bytes.count, searchLimit)
        var badChecksumOffset: Int?
        for offset in stride(from: 0, through: searchEnd - fixedSize, by: 4) {
            guard bytes.littleEndian(UInt32.self, at: offset) == magic else { continue }
            let flags = bytes.littleEndian(UInt32.self, at: offset + 4)
            let checksum = bytes.littleEndian(UInt32.self, at: offset + 8)
            guard magic &+ flags &+ checksum == 0 else {
                badChecksumOffset = badChecksumOffset ?? offset
                continue
            }
            return try MultibootHeader(bytes, offset: offset, flags: flags)
        }
        if let badChecksumOffset {
            throw .badMultibootChecksum(offset: badChecksumOffset)
        }
        return nil
    }

    private init(_ bytes: [UInt8], offset: Int, flags: UInt32) throws(KernelBootError) {
        guard flags & Self.requirementMask & ~Self.supportedRequirements == 0 else {
            throw .unsupportedMultibootFlags(flags)
        }
        self.offset = offset
        self.flags = flags
        guard flags & Self.addressesValid != 0 else {
            addresses = nil
            return
        }
        let needed = offset + Self.fixedSize + 20
        guard bytes.count >= needed else { throw .truncatedKernel(size: bytes.count, needed: UInt64(needed)) }
        let field = { (index: Int) in bytes.littleEndian(UInt32.self, at: offset + Self.fixedSize + 4 * index) }
        addresses = Addresses(header: field(0), load: field(1), loadEnd: field(2), bssEnd: field(3), entry: field(4))
    }

    /// The magic number a kernel's header starts with.
    public static let magic: UInt32 = 0x1BAD_B002
    /// The header must lie wholly within the file's first 8 KiB.
    private static let searchLimit = 8192
    /// Magic, flags and checksum.
    private static let fixedSize = 12
    /// Bits 0–15: features the loader must provide or refuse the kernel.
    private static let requirementMask: UInt32 = 0xFFFF
    /// Page-aligned modules (bit 0, always done), memory information (bit 1, always given) and a video mode
    /// (bit 2, a preference Hyve leaves at text mode by passing no video information).
    private static let supportedRequirements: UInt32 = 0x7
    /// Bit 16: the header's address fields are valid.
    private static let addressesValid: UInt32 = 1 << 16
}
