/// The Root System Description Table (ACPI 6.5 §5.2.7): 32-bit pointers to the other tables,
/// for OSes that predate the XSDT.
public enum RSDT {
    public static let signature = "RSDT"
    public static let revision: UInt8 = 1

    /// The table's length with `entries` pointers, known before their values are.
    public static func length(entries: Int) -> Int { ACPITableHeader.size + 4 * entries }

    /// The table listing the tables at `entries`, in that order.
    public static func build(entries: [UInt32]) -> [UInt8] {
        var body = ACPIBytes()
        entries.forEach { body.u32($0) }
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }
}
