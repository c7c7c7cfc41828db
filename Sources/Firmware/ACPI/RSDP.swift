/// The Root System Description Pointer (ACPI 6.5 §5.2.5.3), revision 2: where the guest finds
/// the RSDT and the XSDT. A BIOS-booted OS finds the RSDP itself by scanning 0xE0000–0xFFFFF for
/// its signature on a 16-byte boundary.
public enum RSDP {
    public static let signature = "RSD PTR "
    public static let revision: UInt8 = 2
    public static let length = 36
    /// The checksum at offset 8 covers the ACPI 1.0 part, the first 20 bytes.
    public static let checksumOffset = 8
    public static let checksummedLength = 20
    /// The extended checksum at offset 32 covers all 36 bytes.
    public static let extendedChecksumOffset = 32
    public static let alignment: UInt64 = 16

    /// The RSDP pointing at the RSDT and XSDT at the given guest addresses, both checksums set.
    public static func build(rsdt: UInt32, xsdt: UInt64) -> [UInt8] {
        var rsdp = ACPIBytes()
        rsdp.ascii(signature, width: 8)
        rsdp.u8(0)
        rsdp.ascii(ACPITableHeader.oemID, width: 6)
        rsdp.u8(revision)
        rsdp.u32(rsdt)
        rsdp.u32(UInt32(length))
        rsdp.u64(xsdt)
        rsdp.u8(0)
        rsdp.zeros(3)
        var bytes = rsdp.bytes
        bytes[checksumOffset] = Checksum.complement(bytes[..<checksummedLength])
        bytes[extendedChecksumOffset] = Checksum.complement(bytes)
        return bytes
    }
}
