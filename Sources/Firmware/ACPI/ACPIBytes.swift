/// A table under construction. ACPI structures are packed and little-endian, so a table is
/// written field by field, in order, and each field lands at the offset the specification gives.
struct ACPIBytes {
    private(set) var bytes: [UInt8] = []

    var count: Int { bytes.count }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { append(value) }
    mutating func u32(_ value: UInt32) { append(value) }
    mutating func u64(_ value: UInt64) { append(value) }

    mutating func zeros(_ count: Int) { bytes += repeatElement(0, count: count) }

    /// A signature or identifier: exactly `width` ASCII bytes, as the field is fixed-size.
    mutating func ascii(_ text: String, width: Int) {
        let characters = Array(text.utf8)
        precondition(characters.count == width && characters.allSatisfy { $0 < 0x80 },
                     "\"\(text)\" is not \(width) ASCII characters")
        bytes += characters
    }

    mutating func gas(_ address: ACPIGenericAddress) {
        u8(address.space.rawValue)
        u8(address.bitWidth)
        u8(address.bitOffset)
        u8(address.accessSize.rawValue)
        u64(address.address)
    }

    private mutating func append<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        bytes += value.littleEndianBytes
    }
}
