/// The Multiple APIC Description Table (ACPI 6.5 §5.2.12): one local APIC per vCPU, the I/O
/// APIC, how ISA IRQs 0 and the SCI reach it, and the local APICs' NMI input.
public enum MADT {
    public static let signature = "APIC"
    public static let revision: UInt8 = 1
    public static let localAPICAddress: UInt32 = 0xFEE0_0000
    /// PCAT_COMPAT: the 8259A pair is present and must be masked in APIC mode.
    public static let pcatCompatible: UInt32 = 1 << 0

    public static let localAPICType: UInt8 = 0
    public static let localAPICLength: UInt8 = 8
    public static let ioAPICType: UInt8 = 1
    public static let ioAPICLength: UInt8 = 12
    public static let interruptSourceOverrideType: UInt8 = 2
    public static let interruptSourceOverrideLength: UInt8 = 10
    public static let localAPICNMIType: UInt8 = 4
    public static let localAPICNMILength: UInt8 = 6

    public static let processorEnabled: UInt32 = 1 << 0
    /// MPS INTI flags: polarity in bits 0–1, trigger mode in bits 2–3.
    public static let activeHighEdge: UInt16 = 0b01 | 0b01 << 2
    public static let activeLowLevel: UInt16 = 0b11 | 0b11 << 2
    /// The Local APIC NMI structure's processor UID that means every processor.
    public static let allProcessors: UInt8 = 0xFF
    /// The PIT's IRQ 0 is wired to I/O APIC pin 2, where the 8259A's cascade would be.
    public static let timerPin: UInt32 = 2

    /// The table for `platform`'s vCPUs, I/O APIC and SCI. Local APIC ids and ACPI processor
    /// UIDs are both 0..<cpus; 0xFF is the xAPIC broadcast id and "all processors" above, so at
    /// most 255 vCPUs. ISA IRQs other than 0 reach the I/O APIC pin of the same number.
    public static func build(_ platform: PlatformDescription) -> [UInt8] {
        precondition((1...255).contains(platform.cpus), "the MADT describes 1–255 xAPIC vCPUs")
        let ioapic = platform.ioapic
        let sci = platform.acpi.sciIRQ

        var body = ACPIBytes()
        body.u32(localAPICAddress)
        body.u32(pcatCompatible)
        for cpu in 0..<platform.cpus {
            body.u8(localAPICType)
            body.u8(localAPICLength)
            body.u8(UInt8(cpu))
            body.u8(UInt8(cpu))
            body.u32(processorEnabled)
        }
        body.u8(ioAPICType)
        body.u8(ioAPICLength)
        body.u8(ioapic.id)
        body.u8(0)
        body.u32(ioapic.address)
        body.u32(ioapic.gsiBase)
        interruptSourceOverride(&body, irq: 0, gsi: ioapic.gsiBase + timerPin, flags: activeHighEdge)
        interruptSourceOverride(&body, irq: sci, gsi: ioapic.gsiBase + UInt32(sci), flags: activeLowLevel)
        body.u8(localAPICNMIType)
        body.u8(localAPICNMILength)
        body.u8(allProcessors)
        body.u16(activeHighEdge)
        body.u8(1)                                   // LINT1
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }

    private static func interruptSourceOverride(_ body: inout ACPIBytes, irq: UInt8, gsi: UInt32, flags: UInt16) {
        body.u8(interruptSourceOverrideType)
        body.u8(interruptSourceOverrideLength)
        body.u8(0)                                   // bus: ISA
        body.u8(irq)
        body.u32(gsi)
        body.u16(flags)
    }
}
