/// The Extended System Description Table (ACPI 6.5 §5.2.8): 64-bit pointers to the other
/// tables, used by every ACPI 2.0+ OS. The FADT comes first, as the UEFI specification asks.
public enum XSDT {
    public static let signature = "XSDT"
    public static let revision: UInt8 = 1

    /// The table's length with `entries` pointers, known before their values are.
    public static func length(entries: Int) -> Int { ACPITableHeader.size + 8 * entries }

    /// The table listing the tables at `entries`, in that order.
    public static func build(entries: [UInt64]) -> [UInt8] {
        var body = ACPIBytes()
        entries.forEach { body.u64($0) }
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }
}
