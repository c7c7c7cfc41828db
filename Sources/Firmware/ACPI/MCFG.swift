/// The PCI Express memory-mapped configuration table (PCI Firmware specification 3.2 §4.1.2):
/// one ECAM allocation for segment 0.
public enum MCFG {
    public static let signature = "MCFG"
    public static let revision: UInt8 = 1
    public static let length = 60
    /// bhyve's window: 1 MiB per bus for all 256 buses, 256 MiB from the ECAM base
    /// (0xE0000000–0xEFFFFFFF by default). The ECAM device and the DSDT's motherboard resources
    /// must cover the same range.
    public static let startBus: UInt8 = 0
    public static let endBus: UInt8 = 255
    public static let bytesPerBus: UInt64 = 1 << 20
    public static let windowSize = UInt64(Int(endBus) - Int(startBus) + 1) * bytesPerBus

    /// The table for an ECAM window of ``windowSize`` bytes at `ecamBase`.
    public static func build(ecamBase: UInt64) -> [UInt8] {
        var body = ACPIBytes()
        body.zeros(8)
        body.u64(ecamBase)
        body.u16(0)                                  // PCI segment group
        body.u8(startBus)
        body.u8(endBus)
        body.zeros(4)
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }
}
