/// Bytes to copy into guest physical memory.
public struct MemoryWrite: Sendable, Equatable {
    /// Guest physical address of the first byte.
    public var address: UInt64
    /// The bytes to store there.
    public var bytes: [UInt8]

    /// Creates a write of `bytes` at `address`.
    public init(address: UInt64, bytes: [UInt8]) {
        self.address = address
        self.bytes = bytes
    }

    /// Writes that clear `count` bytes from `address`.
    ///
    /// A large bss would otherwise cost as much host memory as the guest area it clears; instead the
    /// writes share one copy-on-write chunk of zeros, and only a final partial chunk is allocated.
    public static func zeros(at address: UInt64, count: UInt64) -> [MemoryWrite] {
        var writes: [MemoryWrite] = []
        var done: UInt64 = 0
        while done < count {
            let length = min(count - done, UInt64(zeroChunk.count))
            let bytes = length == UInt64(zeroChunk.count) ? zeroChunk : [UInt8](repeating: 0, count: Int(length))
            writes.append(MemoryWrite(address: address + done, bytes: bytes))
            done += length
        }
        return writes
    }

    private static let zeroChunk = [UInt8](repeating: 0, count: 1 << 20)
}
