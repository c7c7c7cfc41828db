import Testing
import Firmware

/// Little-endian field reads and a structure-table walker for SMBIOS.
private enum SMBIOSBytes {
    static let gib: UInt64 = 1 << 30

    struct Structure {
        var type: UInt8
        var handle: UInt16
        /// The formatted area, header included.
        var formatted: [UInt8]
        var strings: [String]
        /// Formatted area plus string set.
        var size: Int

        func u16(_ offset: Int) -> UInt16 { SMBIOSBytes.u16(formatted, offset) }
        func u32(_ offset: Int) -> UInt32 { SMBIOSBytes.u32(formatted, offset) }
        func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32 }
        func string(at offset: Int) -> String? {
            let index = Int(formatted[offset])
            return index == 0 ? nil : strings[index - 1]
        }
    }

    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    /// Walks the table from its start to the end-of-table structure; records a failure and stops
    /// if a structure runs past the end.
    static func walk(_ table: [UInt8]) -> (structures: [Structure], consumed: Int) {
        var structures: [Structure] = []
        var offset = 0
        while offset + 4 <= table.count {
            let length = Int(table[offset + 1])
            var cursor = offset + length
            var strings: [String] = []
            if cursor + 1 < table.count, table[cursor] == 0, table[cursor + 1] == 0 {
                cursor += 2
            } else {
                while cursor < table.count, table[cursor] != 0 {
                    let end = table[cursor...].firstIndex(of: 0) ?? table.count
                    strings.append(String(decoding: table[cursor..<end], as: UTF8.self))
                    cursor = end + 1
                }
                cursor += 1
            }
            guard cursor <= table.count else {
                Issue.record("structure at \(offset) runs past the table")
                break
            }
            structures.append(Structure(type: table[offset], handle: u16(table, offset + 2),
                                        formatted: Array(table[offset..<offset + length]), strings: strings,
                                        size: cursor - offset))
            offset = cursor
            if structures.last?.type == 127 { break }
        }
        return (structures, offset)
    }

    static func table(_ blob: FirmwareBlob) -> [UInt8] { Array(blob.bytes[0x1F...]) }

    static func structures(_ blob: FirmwareBlob) -> [Structure] { walk(table(blob)).structures }

    static func platform(cpus: Int = 2, low: UInt64 = 3 * gib, high: UInt64 = 2 * gib) -> PlatformDescription {
        PlatformDescription(cpus: cpus, lowMemory: low, highMemory: high)
    }
}

@Suite struct SMBIOSTests {
    @Test func entryPointDescribesTheTable() {
        let blob = SMBIOS.build(SMBIOSBytes.platform())
        #expect(blob.address == 0xF1000)
        let entry = Array(blob.bytes[0..<0x1F])
        #expect(Array(entry[0..<4]) == Array("_SM_".utf8))
        #expect(entry[5] == 0x1F)
        #expect(entry[6] == 2)
        #expect(entry[7] == 8)
        #expect(entry[0xA] == 0)
        #expect(Array(entry[0xB..<0x10]) == [0, 0, 0, 0, 0])
        #expect(Array(entry[0x10..<0x15]) == Array("_DMI_".utf8))
        #expect(entry[0x1E] == 0x28)
        #expect(entry.reduce(0, &+) == 0)
        #expect(entry[0x10...].reduce(0, &+) == 0)

        let (structures, consumed) = SMBIOSBytes.walk(SMBIOSBytes.table(blob))
        #expect(Int(SMBIOSBytes.u16(entry, 0x16)) == blob.bytes.count - 0x1F)
        #expect(consumed == blob.bytes.count - 0x1F)
        #expect(SMBIOSBytes.u32(entry, 0x18) == 0xF101F)
        #expect(Int(SMBIOSBytes.u16(entry, 0x1C)) == structures.count)
        #expect(Int(SMBIOSBytes.u16(entry, 8)) == structures.map(\.size).max())
    }

    @Test func entryPointFollowsTheBase() {
        let blob = SMBIOS.build(SMBIOSBytes.platform(), at: 0xE0000)
        #expect(blob.address == 0xE0000)
        #expect(SMBIOSBytes.u32(blob.bytes, 0x18) == 0xE001F)
        #expect(blob.bytes[0..<0x1F].reduce(0, &+) == 0)
    }

    @Test func structuresWalkBackWithTheirTypesLengthsAndHandles() {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        #expect(structures.map(\.type) == [0, 1, 2, 3, 4, 4, 16, 17, 19, 19, 32, 127])
        #expect(structures.map(\.formatted.count) == [0x18, 0x1B, 0x0F, 0x16, 0x2A, 0x2A, 0x17, 0x28, 0x1F, 0x1F, 0x0B, 0x04])
        #expect(structures.map(\.handle) == Array(0..<12))
    }

    @Test func structuresWithoutStringsEndInTwoNULs() {
        let table = SMBIOSBytes.table(SMBIOS.build(SMBIOSBytes.platform()))
        #expect(Array(table.suffix(6)) == [127, 4, 11, 0, 0, 0])
        let boot = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform())).first { $0.type == 32 }
        #expect(boot?.size == 11 + 2)
        #expect(boot?.formatted[4...] == [0, 0, 0, 0, 0, 0, 0])
    }

    @Test func biosAndSystemStrings() throws {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        let bios = structures[0]
        #expect(bios.string(at: 4) == "Hyve")
        #expect(bios.string(at: 5) == "1.0")
        #expect(bios.u16(6) == 0xF000)
        #expect(bios.string(at: 8) == "01/01/2025")
        #expect(bios.u64(0xA) == 0x0008_9090)
        #expect(Array(bios.formatted[0x12..<0x14]) == [0x01, 0x11])
        let system = structures[1]
        #expect(system.string(at: 4) == "Hyve")
        #expect(system.string(at: 5) == "Hyve")
        #expect(system.string(at: 0x1A) == "Virtual Machine")
        #expect(system.formatted[0x18] == 0x06)
    }

    @Test func boardPointsAtTheChassis() {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        #expect(structures[2].u16(0x0B) == structures[3].handle)
        #expect(structures[2].formatted[0x0D] == 0x0A)
    }

    @Test func oneProcessorPerVCPU() {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform(cpus: 3)))
        let processors = structures.filter { $0.type == 4 }
        #expect(processors.map { $0.string(at: 4) } == ["CPU #0", "CPU #1", "CPU #2"])
        for processor in processors {
            #expect(processor.formatted[5] == 0x03)
            #expect(processor.formatted[0x18] == 0x41)
            #expect(Array(processor.formatted[0x23..<0x26]) == [1, 1, 1])
            #expect(processor.u16(0x26) == 0x04)
        }
    }

    @Test func uuidIsStoredWithLittleEndianLeadingFields() {
        let uuid: [UInt8] = Array(1...16)
        let system = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform(), uuid: uuid))[1]
        #expect(Array(system.formatted[8..<24]) == [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16])
        let anonymous = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))[1]
        #expect(Array(anonymous.formatted[8..<24]) == [UInt8](repeating: 0, count: 16))
    }

    @Test func memoryArrayHoldsAllMemory() throws {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        let array = try #require(structures.first { $0.type == 16 })
        #expect(Array(array.formatted[4..<7]) == [3, 3, 3])
        #expect(array.u32(7) == 5 * 1024 * 1024)
        #expect(array.u16(0xB) == 0xFFFE)
        #expect(array.u16(0xD) == 1)
        #expect(array.u64(0xF) == 0)
    }

    @Test func memoryDeviceForThreePlusTwoGiB() throws {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        let array = try #require(structures.first { $0.type == 16 })
        let device = try #require(structures.first { $0.type == 17 })
        #expect(device.u16(4) == array.handle)
        #expect(device.u16(0xC) == 5120)
        #expect(device.u32(0x1C) == 0)
    }

    @Test(arguments: [
        (16 * SMBIOSBytes.gib / 1024, UInt16(0xC000), UInt32(0)),
        (32 * SMBIOSBytes.gib / 1024, UInt16(0x0020), UInt32(0)),
        (32766 * SMBIOSBytes.gib / 1024, UInt16(0x7FFE), UInt32(0)),
        (32 * SMBIOSBytes.gib, UInt16(0x7FFF), UInt32(32768)),
        (3 * SMBIOSBytes.gib + 61 * SMBIOSBytes.gib, UInt16(0x7FFF), UInt32(65536)),
    ])
    func memoryDeviceSizeEncoding(total: UInt64, size: UInt16, extended: UInt32) throws {
        let low = min(total, 3 * SMBIOSBytes.gib)
        let platform = SMBIOSBytes.platform(low: low, high: total - low)
        let device = try #require(SMBIOSBytes.structures(SMBIOS.build(platform)).first { $0.type == 17 })
        #expect(device.u16(0xC) == size)
        #expect(device.u32(0x1C) == extended)
    }

    @Test func mappedAddressesCoverLowAndHighRAM() {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform()))
        let arrayHandle = structures.first { $0.type == 16 }?.handle
        let ranges = structures.filter { $0.type == 19 }
        #expect(ranges.map { $0.u32(4) } == [0, 0x40_0000])
        #expect(ranges.map { $0.u32(8) } == [0x2F_FFFF, 0x5F_FFFF])
        #expect(ranges.allSatisfy { $0.u16(0xC) == arrayHandle && $0.formatted[0xE] == 1 })
        #expect(ranges.allSatisfy { $0.u64(0xF) == 0 && $0.u64(0x17) == 0 })
    }

    @Test func lowMemoryOnlyHasOneMappedAddress() {
        let structures = SMBIOSBytes.structures(SMBIOS.build(SMBIOSBytes.platform(low: 64 << 20, high: 0)))
        let ranges = structures.filter { $0.type == 19 }
        #expect(ranges.map { [$0.u32(4), $0.u32(8)] } == [[0, 0xFFFF]])
    }

    @Test func largeMachinesFitBeforeACPI() {
        let blob = SMBIOS.build(SMBIOSBytes.platform(cpus: 64))
        #expect(blob.bytes.count <= Int(FirmwareLayout.acpi - FirmwareLayout.smbios))
        #expect(SMBIOSBytes.structures(blob).filter { $0.type == 4 }.count == 64)
    }
}
