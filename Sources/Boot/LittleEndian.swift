// Every structure Boot reads (ELF) or writes (GDT, page tables, zero page, start_info, multiboot
// info) is little-endian x86 data; the fixed layouts are built by storing fields into a zeroed buffer.

extension Array where Element == UInt8 {
    /// Reads an unsigned little-endian integer; the caller has checked that the bytes exist.
    func littleEndian<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size {
            value |= T(self[offset + index]) << (8 * index)
        }
        return value
    }

    mutating func appendLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        for index in 0..<MemoryLayout<T>.size {
            append(UInt8(truncatingIfNeeded: value >> (8 * index)))
        }
    }

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
