// The boot structures Hyve hands a kernel (zero page, start_info, multiboot info) are fixed layouts of
// little-endian fields, built by storing each field at its offset in a zeroed buffer.

extension Array where Element == UInt8 {
    /// Overwrites the bytes at `offset` with `value`, little-endian; the caller has made room for them.
    mutating func storeLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for index in 0..<MemoryLayout<T>.size {
            self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }

    /// Overwrites the bytes at `offset` with `bytes`; the caller has made room for them.
    mutating func store(_ bytes: [UInt8], at offset: Int) {
        replaceSubrange(offset..<offset + bytes.count, with: bytes)
    }
}
