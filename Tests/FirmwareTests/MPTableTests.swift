import Testing
import Firmware

/// Little-endian field reads and an entry walker for the MP configuration table.
private enum MPTableBytes {
    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func sum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        bytes.reduce(0, &+)
    }

    /// The configuration table's entries, split by their type's size (processor 20, others 8).
    static func entries(_ blob: FirmwareBlob) -> [[UInt8]] {
        let table = Array(blob.bytes[16...])
        var offset = 44
        var entries: [[UInt8]] = []
        while offset < table.count {
            let size = table[offset] == 0 ? 20 : 8
            entries.append(Array(table[offset..<offset + size]))
            offset += size
        }
        return entries
    }

    static func platform(cpus: Int = 2) -> PlatformDescription {
        PlatformDescription(cpus: cpus, lowMemory: 0x4000_0000, highMemory: 0)
    }
}

@Suite struct MPTableTests {
    @Test func floatingPointerPointsAtTheConfigurationTable() {
        let blob = MPTable.build(MPTableBytes.platform())
        #expect(blob.address == 0xF0000)
        let pointer = Array(blob.bytes[0..<16])
        #expect(Array(pointer[0..<4]) == Array("_MP_".utf8))
        #expect(MPTableBytes.u32(pointer, 4) == 0xF0010)
        #expect(pointer[8] == 1)
        #expect(pointer[9] == 4)
        #expect(MPTableBytes.sum(pointer[...]) == 0)
        #expect(Array(pointer[11..<16]) == [0, 0, 0, 0, 0])
    }

    @Test func floatingPointerFollowsTheBase() {
        let blob = MPTable.build(MPTableBytes.platform(), at: 0x9FC00)
        #expect(blob.address == 0x9FC00)
        #expect(MPTableBytes.u32(blob.bytes, 4) == 0x9FC10)
        #expect(MPTableBytes.sum(blob.bytes[0..<16]) == 0)
    }

    @Test func configurationHeaderCountsAndChecksumsTheBaseTable() {
        let blob = MPTable.build(MPTableBytes.platform())
        let table = Array(blob.bytes[16...])
        #expect(Array(table[0..<4]) == Array("PCMP".utf8))
        // 44 header + 2×20 processors + 2 buses + 1 I/O APIC + 16 ISA + 2 local, 8 bytes each.
        #expect(MPTableBytes.u16(table, 4) == 44 + 40 + 8 * 21)
        #expect(Int(MPTableBytes.u16(table, 4)) == table.count)
        #expect(table[6] == 4)
        #expect(MPTableBytes.sum(table[...]) == 0)
        #expect(String(decoding: table[8..<16], as: UTF8.self) == "Hyve    ")
        #expect(String(decoding: table[16..<28], as: UTF8.self) == "Hypervisor  ")
        #expect(MPTableBytes.u32(table, 28) == 0)
        #expect(MPTableBytes.u16(table, 32) == 0)
        #expect(MPTableBytes.u16(table, 34) == 23)
        #expect(MPTableBytes.u32(table, 36) == 0xFEE0_0000)
        #expect(MPTableBytes.u16(table, 40) == 0)
        #expect(table[42] == 0)
        #expect(MPTableBytes.entries(blob).count == 23)
    }

    @Test func entriesComeInTypeOrder() {
        let blob = MPTable.build(MPTableBytes.platform(cpus: 3))
        let types = MPTableBytes.entries(blob).map { $0[0] }
        #expect(types == [0, 0, 0] + [1, 1] + [2] + [UInt8](repeating: 3, count: 16) + [4, 4])
    }

    @Test func processorEntriesMarkTheBootstrapProcessor() {
        let entries = MPTableBytes.entries(MPTable.build(MPTableBytes.platform()))
        let signatureAndFeatures: [UInt8] = [0xA5, 0x06, 0x01, 0, 0xFF, 0xFB, 0xEB, 0xBF] + [UInt8](repeating: 0, count: 8)
        #expect(entries[0] == [0, 0, 0x14, 0x03] + signatureAndFeatures)
        #expect(entries[1] == [0, 1, 0x14, 0x01] + signatureAndFeatures)
    }

    @Test func busAndIOAPICEntries() {
        var platform = MPTableBytes.platform(cpus: 1)
        platform.ioapic.id = 3
        let entries = MPTableBytes.entries(MPTable.build(platform))
        #expect(entries[1] == [1, 0] + Array("PCI   ".utf8))
        #expect(entries[2] == [1, 1] + Array("ISA   ".utf8))
        #expect(entries[3] == [2, 3, 0x11, 0x01, 0x00, 0x00, 0xC0, 0xFE])
        #expect(entries[4..<20].allSatisfy { $0[6] == 3 })
    }

    @Test func isaInterruptsFollowBhyve() {
        let entries = MPTableBytes.entries(MPTable.build(MPTableBytes.platform(cpus: 1)))
        let isa = Array(entries[4..<20])
        #expect(isa[0] == [3, 3, 0, 0, 1, 0, 0, 0])
        #expect(isa[1] == [3, 0, 0, 0, 1, 1, 0, 1])
        #expect(isa[2] == [3, 0, 0, 0, 1, 0, 0, 2])
        #expect(isa[9] == [3, 0, 0x0F, 0, 1, 9, 0, 9])
        for pin in [1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15] {
            #expect(isa[pin] == [3, 0, 0, 0, 1, UInt8(pin), 0, UInt8(pin)])
        }
        #expect(!isa.contains { $0[1] == 0 && $0[5] == 2 }, "IRQ 2 is the cascade and has no entry")
    }

    @Test func sciEntryFollowsTheConfiguredIRQ() {
        var platform = MPTableBytes.platform(cpus: 1)
        platform.acpi.sciIRQ = 11
        let isa = Array(MPTableBytes.entries(MPTable.build(platform))[4..<20])
        #expect(isa[11] == [3, 0, 0x0F, 0, 1, 11, 0, 11])
        #expect(isa[9] == [3, 0, 0, 0, 1, 9, 0, 9])
    }

    @Test func pciInterruptsOnePerSlotAndPin() {
        var platform = MPTableBytes.platform(cpus: 1)
        platform.pciInterrupts = [
            PCIInterruptRoute(slot: 3, function: 0, pin: 0, ioapicPin: 16, link: 0),
            PCIInterruptRoute(slot: 3, function: 0, pin: 1, ioapicPin: 17, link: 1),
            PCIInterruptRoute(slot: 4, function: 1, pin: 0, ioapicPin: 18, link: 2),
            PCIInterruptRoute(slot: 4, function: 0, pin: 0, ioapicPin: 18, link: 2),
        ]
        let blob = MPTable.build(platform)
        let entries = MPTableBytes.entries(blob)
        #expect(entries.count == 1 + 2 + 1 + 16 + 3 + 2)
        #expect(MPTableBytes.u16(blob.bytes, 16 + 34) == UInt16(entries.count))
        #expect(Array(entries[20..<23]) == [
            [3, 0, 0x0F, 0, 0, 12, 0, 16],
            [3, 0, 0x0F, 0, 0, 13, 0, 17],
            [3, 0, 0x0F, 0, 0, 16, 0, 18],
        ])
        #expect(MPTableBytes.sum(blob.bytes[16...]) == 0)
    }

    @Test func localInterruptsGoToEveryLocalAPIC() {
        let entries = MPTableBytes.entries(MPTable.build(MPTableBytes.platform()))
        #expect(Array(entries.suffix(2)) == [[4, 3, 0, 0, 0, 0, 0xFF, 0], [4, 1, 0, 0, 0, 0, 0xFF, 1]])
    }

    @Test func largeMachinesFitBeforeSMBIOS() {
        let blob = MPTable.build(MPTableBytes.platform(cpus: 128))
        #expect(blob.bytes.count <= Int(FirmwareLayout.smbios - FirmwareLayout.mpTable))
        #expect(MPTableBytes.sum(blob.bytes[16...]) == 0)
    }
}
