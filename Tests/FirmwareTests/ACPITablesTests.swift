import Testing
import Firmware

/// A built blob read the way a guest reads it: from the RSDP, following pointers.
struct ACPIGuestView {
    let blob: FirmwareBlob
    let reader: ACPIReader

    init(_ blob: FirmwareBlob) {
        self.blob = blob
        reader = ACPIReader(blob.bytes)
    }

    func offset(_ address: UInt64) -> Int { Int(address - blob.address) }

    /// The complete table at `address`, by the length in its header.
    func table(at address: UInt64) -> [UInt8] {
        let start = offset(address)
        return Array(blob.bytes[start..<start + Int(reader.u32(start + 4))])
    }

    func signature(at address: UInt64) -> String { reader.ascii(offset(address), 4) }

    var rsdp: [UInt8] { Array(blob.bytes[0..<36]) }
    var rsdtAddress: UInt64 { UInt64(reader.u32(16)) }
    var xsdtAddress: UInt64 { reader.u64(24) }

    var xsdtEntries: [UInt64] {
        let xsdt = ACPIReader(table(at: xsdtAddress))
        return stride(from: 36, to: xsdt.bytes.count, by: 8).map { xsdt.u64($0) }
    }

    var rsdtEntries: [UInt64] {
        let rsdt = ACPIReader(table(at: rsdtAddress))
        return stride(from: 36, to: rsdt.bytes.count, by: 4).map { UInt64(rsdt.u32($0)) }
    }

    var fadtAddress: UInt64 { xsdtEntries[0] }
    var facsAddress: UInt64 { UInt64(ACPIReader(table(at: fadtAddress)).u32(36)) }
    var dsdtAddress: UInt64 { ACPIReader(table(at: fadtAddress)).u64(140) }

    /// Every table but the RSDP: those the XSDT lists, the RSDT and XSDT themselves, FACS, DSDT.
    var allTables: [(address: UInt64, bytes: [UInt8])] {
        ([rsdtAddress, xsdtAddress] + xsdtEntries + [facsAddress, dsdtAddress]).map { ($0, table(at: $0)) }
    }
}

@Suite struct ACPITablesTests {
    static let configurations: [(cpus: Int, hpet: Bool, serial: Bool)] = [
        (1, true, true), (4, true, true), (1, false, true), (4, false, false), (4, true, false),
    ]

    func build(cpus: Int, hpet: Bool, serial: Bool, dsdt: [UInt8] = ACPIFixture.emptyDSDT) -> ACPIGuestView {
        ACPIGuestView(ACPITables.build(ACPIFixture.platform(cpus: cpus, hpet: hpet, serial: serial), dsdt: dsdt))
    }

    @Test func rsdpStartsTheBlobAtF2400() {
        let view = build(cpus: 1, hpet: true, serial: true)
        #expect(view.blob.address == 0xF2400)
        #expect(view.reader.ascii(0, 8) == "RSD PTR ")
        #expect(view.reader.u8(15) == 2)
        #expect(view.reader.u32(20) == 36)
        #expect(view.reader.sum(0..<20) == 0)
        #expect(view.reader.sum(0..<36) == 0)
    }

    @Test(arguments: configurations)
    func xsdtAndRSDTListTheSameTablesFADTFirst(cpus: Int, hpet: Bool, serial: Bool) {
        let view = build(cpus: cpus, hpet: hpet, serial: serial)
        #expect(view.signature(at: view.rsdtAddress) == "RSDT")
        #expect(view.signature(at: view.xsdtAddress) == "XSDT")
        let expected = ["FACP", "APIC"] + (hpet ? ["HPET"] : []) + ["MCFG"] + (serial ? ["SPCR"] : [])
        #expect(view.xsdtEntries.map(view.signature(at:)) == expected)
        #expect(view.rsdtEntries == view.xsdtEntries)
    }

    @Test(arguments: configurations)
    func fadtPointsAtTheFACSAndTheGivenDSDT(cpus: Int, hpet: Bool, serial: Bool) {
        let dsdt = ACPITableHeader(signature: "DSDT", revision: 2).table(body: [0x10, 0x05, 0x5C, 0x5F, 0x53, 0x42])
        let view = build(cpus: cpus, hpet: hpet, serial: serial, dsdt: dsdt)
        let fadt = ACPIReader(view.table(at: view.fadtAddress))
        #expect(view.signature(at: view.facsAddress) == "FACS")
        #expect(view.facsAddress % 64 == 0)
        #expect(UInt64(fadt.u32(40)) == view.dsdtAddress)
        #expect(view.table(at: view.dsdtAddress) == dsdt)
    }

    @Test(arguments: configurations)
    func everyTableIsAlignedChecksummedInsideTheBlobAndApart(cpus: Int, hpet: Bool, serial: Bool) {
        let view = build(cpus: cpus, hpet: hpet, serial: serial)
        var ranges: [Range<UInt64>] = [view.blob.address..<view.blob.address + 36]
        for (address, bytes) in view.allTables {
            let signature = String(decoding: bytes[0..<4], as: UTF8.self)
            #expect(address % 16 == 0, "\(signature)")
            if signature != "FACS" {
                #expect(ACPIReader(bytes).sum(0..<bytes.count) == 0, "\(signature)")
            }
            ranges.append(address..<address + UInt64(bytes.count))
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        for (first, second) in zip(ranges, ranges.dropFirst()) {
            #expect(first.upperBound <= second.lowerBound)
        }
        #expect(ranges.last?.upperBound == view.blob.address + UInt64(view.blob.bytes.count))
        #expect(view.blob.address + UInt64(view.blob.bytes.count) <= 0x10_0000)
    }

    @Test func tablesFollowTheRSDPInBhyveOrder() {
        let view = build(cpus: 4, hpet: true, serial: true)
        let order = ([0xF2400, view.rsdtAddress, view.xsdtAddress] + view.xsdtEntries + [view.facsAddress, view.dsdtAddress])
            .sorted()
            .map { $0 == 0xF2400 ? "RSD " : view.signature(at: $0) }
        #expect(order == ["RSD ", "RSDT", "XSDT", "FACP", "APIC", "HPET", "MCFG", "FACS", "SPCR", "DSDT"])
        #expect(view.rsdtAddress == 0xF2430)
    }

    @Test(arguments: [1, 4])
    func madtHasOneLocalAPICPerVCPU(cpus: Int) {
        let view = build(cpus: cpus, hpet: true, serial: true)
        let madt = ACPIReader(view.table(at: view.xsdtEntries[1]))
        let localAPICs = stride(from: 44, to: 44 + 8 * cpus, by: 8).map { madt.u8($0) }
        #expect(localAPICs == Array(repeating: 0, count: cpus))
        #expect(madt.u8(44 + 8 * cpus) == 1)
    }

    @Test func anotherBaseMovesEveryPointer() {
        let platform = ACPIFixture.platform(cpus: 2)
        let view = ACPIGuestView(ACPITables.build(platform, dsdt: ACPIFixture.emptyDSDT, at: 0xE0000))
        #expect(view.blob.address == 0xE0000)
        #expect(view.rsdtAddress == 0xE0030)
        #expect(view.xsdtEntries.allSatisfy { (0xE0000..<0xE0000 + UInt64(view.blob.bytes.count)).contains($0) })
        #expect(view.xsdtEntries.map(view.signature(at:)) == ["FACP", "APIC", "HPET", "MCFG", "SPCR"])
    }

    @Test func aLargeDSDTStillFitsBelowOneMebibyte() {
        let dsdt = ACPITableHeader(signature: "DSDT", revision: 2).table(body: Array(repeating: 0xA3, count: 40_000))
        let view = build(cpus: 4, hpet: true, serial: true, dsdt: dsdt)
        #expect(view.table(at: view.dsdtAddress) == dsdt)
        #expect(view.blob.address + UInt64(view.blob.bytes.count) <= 0x10_0000)
    }
}

@Suite struct ACPITablesIASLTests {
    @Test(arguments: [(1, true), (4, true), (1, false), (4, false)])
    func iaslDisassemblesEveryTableWithoutComplaint(cpus: Int, hpet: Bool) throws {
        let view = ACPIGuestView(ACPITables.build(ACPIFixture.platform(cpus: cpus, hpet: hpet), dsdt: ACPIFixture.emptyDSDT))
        #expect(view.allTables.count == (hpet ? 9 : 8))
        for (_, bytes) in view.allTables {
            let name = String(decoding: bytes[0..<4], as: UTF8.self)
            let result = try ACPIFixture.disassemble(bytes, name: name)
            let listing = String(decoding: result.product, as: UTF8.self)
            #expect(result.status == 0, "\(name): \(result.output)")
            #expect(!result.output.contains("Error"), "\(name): \(result.output)")
            #expect(listing.contains("\"\(name)\""), "\(name): \(result.output)")
            #expect(!listing.contains("****"), "\(name): \(listing)")
        }
    }

    /// iasl cannot disassemble a lone RSDP (it has no standard header), so compile one from the
    /// same field values instead and compare the bytes, checksums included.
    @Test func rsdpMatchesWhatIASLCompilesFromItsFields() throws {
        let view = ACPIGuestView(ACPITables.build(ACPIFixture.platform(cpus: 2), dsdt: ACPIFixture.emptyDSDT))
        let hex = { (value: UInt64, digits: Int) in
            String(repeating: "0", count: digits - String(value, radix: 16).count) + String(value, radix: 16, uppercase: true)
        }
        let source = """
            [0008]                          Signature : "RSD PTR "
            [0001]                           Checksum : 00
            [0006]                             Oem ID : "HYVE  "
            [0001]                           Revision : 02
            [0004]                       RSDT Address : \(hex(view.rsdtAddress, 8))
            [0004]                             Length : 00000024
            [0008]                       XSDT Address : \(hex(view.xsdtAddress, 16))
            [0001]                  Extended Checksum : 00
            [0003]                           Reserved : 000000

            """
        let result = try ACPIFixture.compileDataTable(source, name: "rsdp")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.product == view.rsdp)
    }
}
