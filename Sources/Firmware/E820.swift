/// The BIOS E820 memory map (bhyve's `amd64/e820.c`): which guest physical ranges are RAM and
/// which the guest must leave alone.
public enum E820 {
    /// One range of the map.
    public struct Entry: Sendable, Equatable {
        /// The E820 type codes.
        public enum Kind: UInt32, Sendable {
            /// Usable RAM.
            case ram = 1
            /// Not for the guest to use.
            case reserved = 2
            /// ACPI tables; RAM once the OS has read them.
            case acpi = 3
            /// ACPI non-volatile storage, to be kept across sleep.
            case nvs = 4
        }

        /// First byte of the range.
        public var address: UInt64
        /// Size of the range in bytes.
        public var length: UInt64
        public var type: Kind

        /// A range of `length` bytes at `address`.
        public init(address: UInt64, length: UInt64, type: Kind) {
            self.address = address; self.length = length; self.type = type
        }
    }

    /// The VGA window and option/BIOS ROM area; the MP, SMBIOS and ACPI tables live at its top.
    static let legacyHole: Range<UInt64> = 0xA_0000..<0x10_0000
    /// Bus 0–255 at 1 MiB each, as the MCFG describes it.
    static let ecamSize: UInt64 = 0x1000_0000
    static let localAPICAddress: UInt64 = 0xFEE0_0000
    static let fourGiB: UInt64 = 0x1_0000_0000
    static let encodedEntrySize = 20

    /// The map, sorted by address: RAM below 640 KiB; the legacy hole up to 1 MiB reserved; RAM
    /// from 1 MiB to `lowMemory`; the ECAM window reserved; the I/O APIC, HPET and local APIC area
    /// up to 4 GiB reserved; RAM from 4 GiB for `highMemory`.
    ///
    /// The 32-bit PCI BAR window stays unlisted so the guest may place BARs there.
    public static func map(_ platform: PlatformDescription) -> [Entry] {
        var entries: [Entry] = []
        func add(_ range: Range<UInt64>, _ type: Entry.Kind) {
            if !range.isEmpty {
                entries.append(Entry(address: range.lowerBound, length: range.upperBound - range.lowerBound, type: type))
            }
        }

        add(0..<min(platform.lowMemory, legacyHole.lowerBound), .ram)
        add(legacyHole, .reserved)
        add(legacyHole.upperBound..<max(platform.lowMemory, legacyHole.upperBound), .ram)
        add(platform.ecamBase..<platform.ecamBase + ecamSize, .reserved)
        let platformDevices = min(UInt64(platform.ioapic.address), platform.hpet?.address ?? localAPICAddress, localAPICAddress)
        add(platformDevices..<fourGiB, .reserved)
        add(fourGiB..<fourGiB + platform.highMemory, .ram)
        return entries.sorted { $0.address < $1.address }
    }

    /// The entries in the Linux boot protocol's `boot_e820_entry` layout (also fw_cfg's
    /// `etc/e820`): address u64, size u64, type u32, little-endian, packed.
    public static func encode(_ entries: [Entry]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * encodedEntrySize)
        for entry in entries {
            bytes += entry.address.littleEndianBytes + entry.length.littleEndianBytes + entry.type.rawValue.littleEndianBytes
        }
        return bytes
    }
}
