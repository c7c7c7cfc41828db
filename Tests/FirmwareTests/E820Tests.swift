import Testing
import Firmware

@Suite struct E820Tests {
    private static let gib: UInt64 = 1 << 30
    /// The map's fixed reservations above the PCI BAR window: ECAM, then the APIC/HPET area.
    private static let platformReservations = [
        E820.Entry(address: 0xE000_0000, length: 0x1000_0000, type: .reserved),
        E820.Entry(address: 0xFEC0_0000, length: 0x140_0000, type: .reserved),
    ]

    private static func map(low: UInt64, high: UInt64 = 0) -> [E820.Entry] {
        E820.map(PlatformDescription(cpus: 1, lowMemory: low, highMemory: high))
    }

    @Test func sixtyFourMiB() {
        #expect(Self.map(low: 64 << 20) == [
            E820.Entry(address: 0, length: 0xA_0000, type: .ram),
            E820.Entry(address: 0xA_0000, length: 0x6_0000, type: .reserved),
            E820.Entry(address: 0x10_0000, length: (64 << 20) - 0x10_0000, type: .ram),
        ] + Self.platformReservations)
    }

    @Test func exactlyThreeGiB() {
        #expect(Self.map(low: 3 * Self.gib) == [
            E820.Entry(address: 0, length: 0xA_0000, type: .ram),
            E820.Entry(address: 0xA_0000, length: 0x6_0000, type: .reserved),
            E820.Entry(address: 0x10_0000, length: 0xC000_0000 - 0x10_0000, type: .ram),
        ] + Self.platformReservations)
    }

    @Test func threeGiBPlusTwoGiB() {
        #expect(Self.map(low: 3 * Self.gib, high: 2 * Self.gib) == [
            E820.Entry(address: 0, length: 0xA_0000, type: .ram),
            E820.Entry(address: 0xA_0000, length: 0x6_0000, type: .reserved),
            E820.Entry(address: 0x10_0000, length: 0xC000_0000 - 0x10_0000, type: .ram),
        ] + Self.platformReservations + [
            E820.Entry(address: 0x1_0000_0000, length: 0x8000_0000, type: .ram),
        ])
    }

    @Test func reservationsFollowTheECAMBase() {
        var platform = PlatformDescription(cpus: 1, lowMemory: 64 << 20, highMemory: 0)
        platform.ecamBase = 0xB000_0000
        #expect(E820.map(platform).contains(E820.Entry(address: 0xB000_0000, length: 0x1000_0000, type: .reserved)))
    }

    @Test func rangesAreSortedAndDisjoint() {
        let entries = Self.map(low: 3 * Self.gib, high: 2 * Self.gib)
        for (previous, next) in zip(entries, entries.dropFirst()) {
            #expect(previous.address + previous.length <= next.address)
        }
    }

    @Test func encodesTwentyBytesPerEntry() {
        let bytes = E820.encode([
            E820.Entry(address: 0x10_0000, length: 0x3FF0_0000, type: .ram),
            E820.Entry(address: 0x1_0000_0000, length: 0x2_0000_0000, type: .nvs),
        ])
        #expect(bytes == [
            0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0xF0, 0x3F, 0x00, 0x00, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x04, 0x00, 0x00, 0x00,
        ])
    }

    @Test func typeCodesMatchTheBIOSInterface() {
        #expect([E820.Entry.Kind.ram, .reserved, .acpi, .nvs].map(\.rawValue) == [1, 2, 3, 4])
    }
}
