/// The Firmware ACPI Control Structure (ACPI 6.5 §5.2.10): the global lock and waking vectors
/// the OS and firmware share. It has no checksum and no standard header.
public enum FACS {
    public static let signature = "FACS"
    public static let length = 64
    public static let version: UInt8 = 2
    public static let versionOffset = 32
    public static let alignment: UInt64 = 64

    /// The 64-byte structure; it must be placed on a 64-byte boundary.
    public static func build() -> [UInt8] {
        var facs = ACPIBytes()
        facs.ascii(signature, width: 4)
        facs.u32(UInt32(length))
        // Hardware signature, waking vectors, global lock and flags: no S1–S4 to wake from, no
        // hardware changes to report, and no firmware that takes the global lock.
        facs.zeros(versionOffset - facs.count)
        facs.u8(version)
        facs.zeros(length - facs.count)
        return facs.bytes
    }
}
