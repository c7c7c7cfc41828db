/// Everything the firmware tables say about the machine, as plain values. Firmware builders are
/// pure functions from this to bytes; `Hyve` fills it in from the configured machine.
public struct PlatformDescription: Sendable, Equatable {
    /// Number of vCPUs; local APIC ids are 0..<cpus.
    public var cpus: Int
    /// Guest RAM below 4 GiB, from address 0 (bhyve's lowmem, at most 3 GiB).
    public var lowMemory: UInt64
    /// Guest RAM from 4 GiB up (bhyve's highmem); 0 when there is none.
    public var highMemory: UInt64

    /// The I/O APIC: id, MMIO base, first GSI and pin count.
    public var ioapic = IOAPICInfo()
    /// The HPET, when present: MMIO base and the low 32 bits of its GCAP_ID.
    public var hpet: HPETInfo?
    /// PCI bus 0's ECAM window (MCFG).
    public var ecamBase: UInt64 = 0xE000_0000
    /// The windows the PCI root bridge decodes (its `_CRS`).
    public var pciIOWindow: ClosedRange<UInt16> = 0x2000...0xFFFF
    public var pciMMIO32Window: ClosedRange<UInt64> = 0xC000_0000...0xDFFF_FFFF
    /// 64-bit BAR window above high memory; nil when no device needs one.
    public var pciMMIO64Window: ClosedRange<UInt64>?
    /// One entry per PCI interrupt pin a device uses.
    public var pciInterrupts: [PCIInterruptRoute] = []
    /// The eight ICH PIRQ links (LNKA–LNKH) and their current ISA IRQs.
    public var pirqLinks: [PIRQLink] = PIRQLink.defaults
    /// ISA serial ports present (COM1–COM4).
    public var serialPorts: [SerialPort] = []
    /// QEMU's fw_cfg, when present.
    public var fwCfg: FwCfgPorts?
    /// ACPI fixed hardware.
    public var acpi = ACPIFixedHardware()

    public init(cpus: Int, lowMemory: UInt64, highMemory: UInt64) {
        self.cpus = cpus
        self.lowMemory = lowMemory
        self.highMemory = highMemory
    }
}

public struct IOAPICInfo: Sendable, Equatable {
    public var id: UInt8 = 0
    public var address: UInt32 = 0xFEC0_0000
    public var gsiBase: UInt32 = 0
    public var pins: Int = 32
    public init() {}
}

public struct HPETInfo: Sendable, Equatable {
    public var address: UInt64 = 0xFED0_0000
    /// GCAP_ID bits 0–31 (vendor, timer count, revision, counter size, legacy capability).
    public var capabilities: UInt32
    public init(capabilities: UInt32) { self.capabilities = capabilities }
}

/// How one PCI function's interrupt pin reaches the interrupt controllers: an I/O APIC pin (APIC
/// mode, `_PRT`'s APIC table) and a PIRQ link whose ISA IRQ the 8259A sees (PIC mode).
public struct PCIInterruptRoute: Sendable, Equatable {
    public var slot: Int
    public var function: Int
    /// INTA = 0 … INTD = 3.
    public var pin: Int
    public var ioapicPin: Int
    /// Index into ``PlatformDescription/pirqLinks`` (0 = LNKA … 7 = LNKH).
    public var link: Int

    public init(slot: Int, function: Int, pin: Int, ioapicPin: Int, link: Int) {
        self.slot = slot; self.function = function; self.pin = pin; self.ioapicPin = ioapicPin; self.link = link
    }
}

/// An ICH-compatible PIRQ link: its ACPI name, the LPC bridge config byte that steers it, and
/// the ISA IRQ it is routed to (nil when disabled).
public struct PIRQLink: Sendable, Equatable {
    public var name: String
    public var configOffset: UInt8
    public var irq: UInt8?

    public init(name: String, configOffset: UInt8, irq: UInt8?) {
        self.name = name; self.configOffset = configOffset; self.irq = irq
    }

    /// ISA IRQs a link may be routed to (bhyve's pirq mask).
    public static let possibleIRQs: [UInt8] = [3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15]

    /// LNKA–LNKD at config 0x60–0x63, LNKE–LNKH at 0x68–0x6B, all disabled.
    public static let defaults: [PIRQLink] = zip("ABCDEFGH", [0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6A, 0x6B] as [UInt8])
        .map { letter, offset in PIRQLink(name: "LNK\(letter)", configOffset: offset, irq: nil) }
}

/// The ports QEMU's fw_cfg decodes, which the DSDT's `FWCF` device (QEMU0002) claims.
public struct FwCfgPorts: Sendable, Equatable {
    public var base: UInt16
    public var count: UInt8
    public init(base: UInt16, count: UInt8) { self.base = base; self.count = count }
}

public struct SerialPort: Sendable, Equatable {
    public var name: String
    public var port: UInt16
    public var irq: UInt8
    public init(name: String, port: UInt16, irq: UInt8) { self.name = name; self.port = port; self.irq = irq }

    /// COM1–COM4 as bhyve places them.
    public static let standard: [SerialPort] = [
        SerialPort(name: "COM1", port: 0x3F8, irq: 4), SerialPort(name: "COM2", port: 0x2F8, irq: 3),
        SerialPort(name: "COM3", port: 0x3E8, irq: 4), SerialPort(name: "COM4", port: 0x2E8, irq: 3),
    ]
}

/// The ACPI fixed-hardware blocks and values the FADT and DSDT describe (bhyve's pm.c layout).
public struct ACPIFixedHardware: Sendable, Equatable {
    public var sciIRQ: UInt8 = 9
    public var smiCommandPort: UInt16 = 0xB2
    public var acpiEnable: UInt8 = 0xA0
    public var acpiDisable: UInt8 = 0xA1
    public var pm1aEventBlock: UInt16 = 0x400
    public var pm1aControlBlock: UInt16 = 0x404
    public var pmTimerBlock: UInt16 = 0x408
    public var gpe0Block: UInt16 = 0x40C
    public var gpe0BlockLength: UInt8 = 2
    public var resetPort: UInt16 = 0xCF9
    public var resetValue: UInt8 = 0x6
    /// SLP_TYP for S5 (soft off), as `_S5` reports it.
    public var softOffSleepType: UInt8 = 5
    public init() {}
}

/// Where the firmware tables go in guest memory (bhyve's BIOS-area layout).
public enum FirmwareLayout {
    public static let mpTable: UInt64 = 0xF0000
    public static let smbios: UInt64 = 0xF1000
    public static let acpi: UInt64 = 0xF2400
    /// The BIOS area ends at 1 MiB.
    public static let end: UInt64 = 0x10_0000
}

/// A byte image to place at a guest physical address.
public struct FirmwareBlob: Sendable, Equatable {
    public var address: UInt64
    public var bytes: [UInt8]
    public init(address: UInt64, bytes: [UInt8]) { self.address = address; self.bytes = bytes }
}

/// The 8-bit checksum ACPI, MP and SMBIOS structures use: the byte that makes the sum zero.
public enum Checksum {
    public static func complement(_ bytes: some Sequence<UInt8>) -> UInt8 {
        0 &- bytes.reduce(0, &+)
    }
}
