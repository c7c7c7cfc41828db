/// The IA-PC HPET Description Table (HPET specification 1.0a §3.2.4): where the event timer
/// block is and what it can do.
public enum HPETTable {
    public static let signature = "HPET"
    public static let revision: UInt8 = 1
    public static let length = 56
    /// The register block fills no more than a 4 KiB page, so the OS may map that page alone.
    public static let pageProtection4K: UInt8 = 1

    /// The table for the first (and only) HPET, number 0. The minimum clock tick is left 0, as in
    /// bhyve: periodic timers accept any period.
    public static func build(_ hpet: HPETInfo) -> [UInt8] {
        var body = ACPIBytes()
        body.u32(hpet.capabilities)
        body.gas(ACPIGenericAddress(space: .systemMemory, bitWidth: 0, accessSize: .undefined, address: hpet.address))
        body.u8(0)                                   // HPET number
        body.u16(0)                                  // minimum clock tick
        body.u8(pageProtection4K)
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }
}
