/// All the ACPI tables, laid out in one blob for the BIOS area: the RSDP first (an OS scans for
/// it), then RSDT, XSDT, FADT, MADT, HPET, MCFG, FACS, SPCR and the DSDT, in bhyve's order.
public enum ACPITables {
    /// bhyve's table alignment; the FACS needs 64.
    public static let tableAlignment: UInt64 = 16

    /// The tables for `platform`, with `dsdt` (a complete table) as the DSDT, placed from `base`.
    /// The XSDT and RSDT list the FADT, MADT, HPET (when `platform.hpet` is set), MCFG and SPCR
    /// (for the first serial port, when there is one). Every pointer holds a guest physical
    /// address inside the blob; the blob must end at or below 1 MiB.
    public static func build(_ platform: PlatformDescription, dsdt: [UInt8],
                             at base: UInt64 = FirmwareLayout.acpi) -> FirmwareBlob {
        let madt = MADT.build(platform)
        let hpet = platform.hpet.map(HPETTable.build)
        let mcfg = MCFG.build(ecamBase: platform.ecamBase)
        let facs = FACS.build()
        let spcr = platform.serialPorts.first.map { SPCR.build($0, ioapic: platform.ioapic) }
        let listedCount = 3 + (hpet == nil ? 0 : 1) + (spcr == nil ? 0 : 1)

        precondition(base % RSDP.alignment == 0, "the RSDP must be 16-byte aligned")
        var layout = Layout(next: base)
        let rsdpAddress = layout.place(RSDP.length, alignment: RSDP.alignment)
        let rsdtAddress = layout.place(RSDT.length(entries: listedCount))
        let xsdtAddress = layout.place(XSDT.length(entries: listedCount))
        let fadtAddress = layout.place(FADT.length)
        let madtAddress = layout.place(madt.count)
        let hpetAddress = hpet.map { layout.place($0.count) }
        let mcfgAddress = layout.place(mcfg.count)
        let facsAddress = layout.place(facs.count, alignment: FACS.alignment)
        let spcrAddress = spcr.map { layout.place($0.count) }
        let dsdtAddress = layout.place(dsdt.count)
        precondition(layout.next <= FirmwareLayout.end, "the ACPI tables run past 1 MiB")

        var listed = [fadtAddress, madtAddress]
        if let hpetAddress { listed.append(hpetAddress) }
        listed.append(mcfgAddress)
        if let spcrAddress { listed.append(spcrAddress) }
        let fadt = FADT.build(platform.acpi, facs: UInt32(facsAddress), dsdt: UInt32(dsdtAddress))
        let rsdt = RSDT.build(entries: listed.map { UInt32($0) })
        let xsdt = XSDT.build(entries: listed)
        let rsdp = RSDP.build(rsdt: UInt32(rsdtAddress), xsdt: xsdtAddress)

        var pieces = [(rsdpAddress, rsdp), (rsdtAddress, rsdt), (xsdtAddress, xsdt), (fadtAddress, fadt),
                      (madtAddress, madt), (mcfgAddress, mcfg), (facsAddress, facs), (dsdtAddress, dsdt)]
        if let hpet, let hpetAddress { pieces.append((hpetAddress, hpet)) }
        if let spcr, let spcrAddress { pieces.append((spcrAddress, spcr)) }
        var bytes = [UInt8](repeating: 0, count: Int(layout.next - base))
        for (address, table) in pieces {
            let offset = Int(address - base)
            bytes.replaceSubrange(offset..<offset + table.count, with: table)
        }
        return FirmwareBlob(address: base, bytes: bytes)
    }

    /// Hands out aligned, consecutive guest addresses.
    private struct Layout {
        var next: UInt64

        mutating func place(_ length: Int, alignment: UInt64 = ACPITables.tableAlignment) -> UInt64 {
            let address = (next + alignment - 1) / alignment * alignment
            next = address + UInt64(length)
            return address
        }
    }
}
