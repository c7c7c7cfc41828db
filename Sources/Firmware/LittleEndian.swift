// Every firmware structure (ACPI, AML, MP, SMBIOS, E820) stores integers little-endian.

extension FixedWidthInteger {
    /// The value's bytes, least significant first.
    var littleEndianBytes: [UInt8] {
        withUnsafeBytes(of: littleEndian, Array.init)
    }
}
