/// A contiguous piece of a program as it lies in guest physical memory.
public struct LoadSegment: Sendable, Equatable {
    /// Guest physical address of the first byte.
    public var address: UInt64
    /// The bytes taken from the file, placed at ``address``.
    public var bytes: [UInt8]
    /// How many zero bytes (an ELF segment's bss) follow ``bytes``.
    public var zeroFill: UInt64

    /// Creates a segment of `bytes` at `address` followed by `zeroFill` zero bytes.
    public init(address: UInt64, bytes: [UInt8], zeroFill: UInt64 = 0) {
        self.address = address
        self.bytes = bytes
        self.zeroFill = zeroFill
    }

    /// Bytes the segment occupies in memory: its file bytes plus its zero fill.
    public var size: UInt64 {
        UInt64(bytes.count) + zeroFill
    }

    /// One past the last guest physical address the segment occupies.
    public var end: UInt64 {
        address + size
    }
}
