/// The Intel MultiProcessor Specification 1.4 tables (bhyve's `amd64/mptbl.c`): the MP floating
/// pointer structure followed directly by the MP configuration table. Guests that do not use ACPI
/// (or are told not to) find their processors, buses and interrupt routing here.
public enum MPTable {
    static let specRevision: UInt8 = 4
    static let oemID = "Hyve    "
    static let productID = "Hypervisor  "
    static let localAPICAddress: UInt32 = 0xFEE0_0000
    /// KVM's local APIC reports version 0x14 in its version register; the table should agree.
    static let localAPICVersion: UInt8 = 0x14
    static let ioapicVersion: UInt8 = 0x11
    /// bhyve's processor signature (family 6, model 26, stepping 5) in CPUID leaf 1 layout: model
    /// 26 needs the extended-model nibble, which bhyve's `26 << 4` spills into the family instead.
    static let cpuSignature: UInt32 = 0x1 << 16 | 6 << 8 | 0xA << 4 | 5
    static let cpuFeatures: UInt32 = 0xBFEB_FBFF

    static let floatingPointerLength = 16
    static let headerLength = 44
    static let pciBusID: UInt8 = 0
    static let isaBusID: UInt8 = 1
    /// Destination local APIC id meaning "every local APIC".
    static let allLocalAPICs: UInt8 = 0xFF
    static let isaIRQCount = 16

    enum EntryType: UInt8 {
        case processor = 0, bus = 1, ioapic = 2, ioInterrupt = 3, localInterrupt = 4
    }

    enum InterruptType: UInt8 {
        case int = 0, nmi = 1, extINT = 3
    }

    static let processorEnabled: UInt8 = 0x01
    static let processorBootstrap: UInt8 = 0x02
    static let ioapicEnabled: UInt8 = 0x01
    /// Interrupt entry flags: polarity bits 0–1 (3 = active low), trigger bits 2–3 (3 = level);
    /// 0 means "conforms to the bus".
    static let conformingFlags: UInt16 = 0x0000
    static let levelActiveLowFlags: UInt16 = 0x000F

    /// Builds the floating pointer at `base` and the configuration table right behind it.
    ///
    /// The I/O interrupt entries cover ISA IRQs 0–15 exactly as bhyve lists them (I/O APIC pin 0 is
    /// the 8259A's ExtINT, IRQ 0 arrives on pin 2 so IRQ 2 has no entry, the SCI is level
    /// triggered and active low, the rest are identity mapped) and then one entry per PCI slot
    /// and pin in `platform.pciInterrupts`. The MP table cannot name a PCI function, so functions
    /// that share a slot and pin share one entry.
    public static func build(_ platform: PlatformDescription, at base: UInt64 = FirmwareLayout.mpTable) -> FirmwareBlob {
        precondition((1...255).contains(platform.cpus), "MP table APIC ids are 8 bits, 0xFF meaning all")
        var entries: [UInt8] = []
        var entryCount = 0
        func add(_ entry: [UInt8]) {
            entries += entry
            entryCount += 1
        }

        for cpu in 0..<platform.cpus {
            add(processorEntry(apicID: UInt8(cpu), bootstrap: cpu == 0))
        }
        add(busEntry(id: pciBusID, type: "PCI   "))
        add(busEntry(id: isaBusID, type: "ISA   "))
        add(ioapicEntry(platform.ioapic))
        for entry in isaInterruptEntries(platform) { add(entry) }
        for entry in pciInterruptEntries(platform) { add(entry) }
        add(interruptEntry(.localInterrupt, .extINT, flags: conformingFlags, bus: 0, irq: 0, destination: allLocalAPICs, pin: 0))
        add(interruptEntry(.localInterrupt, .nmi, flags: conformingFlags, bus: 0, irq: 0, destination: allLocalAPICs, pin: 1))

        let tableAddress = base + UInt64(floatingPointerLength)
        var table = header(length: headerLength + entries.count, entryCount: entryCount) + entries
        table[7] = Checksum.complement(table)

        var pointer: [UInt8] = Array("_MP_".utf8) + UInt32(tableAddress).littleEndianBytes
        pointer += [1, specRevision, 0]
        pointer += [UInt8](repeating: 0, count: 5)
        pointer[10] = Checksum.complement(pointer)

        return FirmwareBlob(address: base, bytes: pointer + table)
    }

    private static func header(length: Int, entryCount: Int) -> [UInt8] {
        var bytes = Array("PCMP".utf8) + UInt16(length).littleEndianBytes
        bytes += [specRevision, 0]
        bytes += Array(oemID.utf8) + Array(productID.utf8)
        bytes += UInt32(0).littleEndianBytes + UInt16(0).littleEndianBytes
        bytes += UInt16(entryCount).littleEndianBytes + localAPICAddress.littleEndianBytes
        bytes += UInt16(0).littleEndianBytes + [0, 0]
        return bytes
    }

    private static func processorEntry(apicID: UInt8, bootstrap: Bool) -> [UInt8] {
        let flags = processorEnabled | (bootstrap ? processorBootstrap : 0)
        return [EntryType.processor.rawValue, apicID, localAPICVersion, flags]
            + cpuSignature.littleEndianBytes + cpuFeatures.littleEndianBytes + [UInt8](repeating: 0, count: 8)
    }

    private static func busEntry(id: UInt8, type: String) -> [UInt8] {
        [EntryType.bus.rawValue, id] + Array(type.utf8)
    }

    private static func ioapicEntry(_ ioapic: IOAPICInfo) -> [UInt8] {
        [EntryType.ioapic.rawValue, ioapic.id, ioapicVersion, ioapicEnabled] + ioapic.address.littleEndianBytes
    }

    private static func isaInterruptEntries(_ platform: PlatformDescription) -> [[UInt8]] {
        let ioapic = platform.ioapic.id
        return (0..<isaIRQCount).map { pin in
            let pinByte = UInt8(pin)
            switch pinByte {
            case 0:
                return interruptEntry(.ioInterrupt, .extINT, flags: conformingFlags, bus: isaBusID, irq: 0, destination: ioapic, pin: 0)
            case 2:
                return interruptEntry(.ioInterrupt, .int, flags: conformingFlags, bus: isaBusID, irq: 0, destination: ioapic, pin: 2)
            case platform.acpi.sciIRQ:
                return interruptEntry(.ioInterrupt, .int, flags: levelActiveLowFlags, bus: isaBusID, irq: pinByte, destination: ioapic, pin: pinByte)
            default:
                return interruptEntry(.ioInterrupt, .int, flags: conformingFlags, bus: isaBusID, irq: pinByte, destination: ioapic, pin: pinByte)
            }
        }
    }

    private static func pciInterruptEntries(_ platform: PlatformDescription) -> [[UInt8]] {
        var seen: Set<UInt8> = []
        return platform.pciInterrupts.compactMap { route in
            let sourceIRQ = UInt8(route.slot << 2 | route.pin)
            guard seen.insert(sourceIRQ).inserted else { return nil }
            return interruptEntry(.ioInterrupt, .int, flags: levelActiveLowFlags, bus: pciBusID, irq: sourceIRQ,
                                  destination: platform.ioapic.id, pin: UInt8(route.ioapicPin))
        }
    }

    private static func interruptEntry(_ entry: EntryType, _ type: InterruptType, flags: UInt16, bus: UInt8, irq: UInt8,
                                       destination: UInt8, pin: UInt8) -> [UInt8] {
        [entry.rawValue, type.rawValue] + flags.littleEndianBytes + [bus, irq, destination, pin]
    }
}
