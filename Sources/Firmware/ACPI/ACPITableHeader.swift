/// The 36-byte header that starts every ACPI system description table except the RSDP and the
/// FACS (ACPI 6.5 §5.2.6), and the checksum that covers the whole table.
public struct ACPITableHeader: Sendable, Equatable {
    public static let size = 36
    public static let lengthOffset = 4
    public static let checksumOffset = 9
    /// Hyve's OEM ID, space-padded to its six bytes.
    public static let oemID = "HYVE  "
    /// The "compiler" that made the table: Hyve itself, as no ASL compiler is involved.
    public static let creatorID = "HYVE"
    public static let creatorRevision: UInt32 = 1

    /// Four ASCII characters, e.g. "FACP".
    public var signature: String
    public var revision: UInt8
    /// Eight ASCII characters; by default "HV", the signature and two spaces (bhyve's "BV…").
    public var oemTableID: String
    public var oemRevision: UInt32

    /// A header for a table with `signature` (four ASCII characters) and `revision`.
    public init(signature: String, revision: UInt8, oemTableID: String? = nil, oemRevision: UInt32 = 1) {
        self.signature = signature
        self.revision = revision
        self.oemTableID = oemTableID ?? "HV\(signature)  "
        self.oemRevision = oemRevision
    }

    /// The complete table: this header followed by `body`, with the length and the checksum
    /// (the byte that makes the whole table sum to zero) filled in.
    public func table(body: [UInt8]) -> [UInt8] {
        var header = ACPIBytes()
        header.ascii(signature, width: 4)
        header.u32(UInt32(Self.size + body.count))
        header.u8(revision)
        header.u8(0)
        header.ascii(Self.oemID, width: 6)
        header.ascii(oemTableID, width: 8)
        header.u32(oemRevision)
        header.ascii(Self.creatorID, width: 4)
        header.u32(Self.creatorRevision)
        var table = header.bytes + body
        table[Self.checksumOffset] = Checksum.complement(table)
        return table
    }
}
