import Testing
import Firmware

@Suite struct MADTTests {
    struct Entry: Equatable {
        var type: UInt8
        var body: [UInt8]
    }

    /// The interrupt controller structures after the 44-byte fixed part, split by their lengths.
    func entries(_ madt: ACPIReader) -> [Entry] {
        var entries: [Entry] = []
        var offset = 44
        while offset < madt.bytes.count {
            let length = Int(madt.u8(offset + 1))
            entries.append(Entry(type: madt.u8(offset), body: Array(madt.bytes[offset + 2..<offset + length])))
            offset += length
        }
        #expect(offset == madt.bytes.count)
        return entries
    }

    @Test(arguments: [1, 4])
    func headerAndFixedPart(cpus: Int) {
        let madt = ACPIReader(MADT.build(ACPIFixture.platform(cpus: cpus)))
        #expect(madt.ascii(0, 4) == "APIC")
        #expect(madt.u32(4) == UInt32(44 + 8 * cpus + 12 + 2 * 10 + 6))
        #expect(madt.u32(4) == UInt32(madt.bytes.count))
        #expect(madt.u8(8) == 1)
        #expect(madt.ascii(16, 8) == "HVAPIC  ")
        #expect(madt.sum(0..<madt.bytes.count) == 0)
        #expect(madt.u32(36) == 0xFEE0_0000)
        #expect(madt.u32(40) == 1)
    }

    @Test(arguments: [1, 4])
    func oneEnabledLocalAPICPerVCPUThenIOAPICOverridesAndNMI(cpus: Int) {
        let madt = ACPIReader(MADT.build(ACPIFixture.platform(cpus: cpus)))
        let localAPICs = (0..<cpus).map { Entry(type: 0, body: [UInt8($0), UInt8($0), 1, 0, 0, 0]) }
        #expect(entries(madt) == localAPICs + [
            Entry(type: 1, body: [0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0]),
            Entry(type: 2, body: [0, 0, 2, 0, 0, 0, 0x05, 0x00]),
            Entry(type: 2, body: [0, 9, 9, 0, 0, 0, 0x0F, 0x00]),
            Entry(type: 4, body: [0xFF, 0x05, 0x00, 1]),
        ])
    }

    @Test func ioAPICAndOverridesFollowThePlatform() {
        var platform = ACPIFixture.platform(cpus: 2)
        platform.ioapic.id = 2
        platform.ioapic.address = 0xFEC1_0000
        platform.ioapic.gsiBase = 24
        platform.acpi.sciIRQ = 10
        let all = entries(ACPIReader(MADT.build(platform)))
        #expect(all[2] == Entry(type: 1, body: [2, 0, 0x00, 0x00, 0xC1, 0xFE, 24, 0, 0, 0]))
        #expect(all[3] == Entry(type: 2, body: [0, 0, 26, 0, 0, 0, 0x05, 0x00]))
        #expect(all[4] == Entry(type: 2, body: [0, 10, 34, 0, 0, 0, 0x0F, 0x00]))
    }
}
