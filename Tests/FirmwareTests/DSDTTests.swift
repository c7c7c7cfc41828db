import Foundation
import Testing
import Firmware

/// A machine like bhyve's usual one: two PCI devices on INTA, COM1 and COM2, an HPET and a
/// 64-bit BAR window.
private func testPlatform() -> PlatformDescription {
    var platform = PlatformDescription(cpus: 2, lowMemory: 1 << 30, highMemory: 0)
    platform.hpet = HPETInfo(capabilities: 0x8086_A201)
    platform.pciMMIO64Window = 0x8_0000_0000...0xF_FFFF_FFFF
    platform.serialPorts = Array(SerialPort.standard.prefix(2))
    platform.pciInterrupts = [
        PCIInterruptRoute(slot: 4, function: 0, pin: 0, ioapicPin: 17, link: 1),
        PCIInterruptRoute(slot: 3, function: 0, pin: 0, ioapicPin: 16, link: 0),
    ]
    return platform
}

private func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

private func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
    guard needle.count <= haystack.count else { return 0 }
    return (0...(haystack.count - needle.count)).count { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

/// Checks for a byte sequence without dumping the whole table on failure.
private func expect(_ body: [UInt8], contains needle: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(occurrences(of: needle, in: body) > 0, "missing: \(hex(needle))", sourceLocation: sourceLocation)
}

private func expect(_ body: [UInt8], lacks needle: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(occurrences(of: needle, in: body) == 0, "unexpected: \(hex(needle))", sourceLocation: sourceLocation)
}

@Suite struct DSDTTableTests {
    @Test func headerIdentifiesHyvesDSDT() {
        let table = DSDT.build(testPlatform())
        #expect(Array(table[0..<4]) == ascii("DSDT"))
        #expect(Int(table[4]) | Int(table[5]) << 8 | Int(table[6]) << 16 | Int(table[7]) << 24 == table.count)
        #expect(table[8] == 2)
        #expect(Array(table[10..<16]) == ascii("HYVE  "))
        #expect(Array(table[16..<24]) == ascii("HVDSDT  "))
        #expect(Array(table[36...]) == DSDT.body(testPlatform()))
    }

    @Test func checksumMakesTheTableSumToZero() {
        for platform in [testPlatform(), PlatformDescription(cpus: 1, lowMemory: 1 << 28, highMemory: 0)] {
            #expect(DSDT.build(platform).reduce(UInt8(0), &+) == 0)
        }
    }

    @Test func bodyStartsWithS5ThenPICMAndPIC() {
        let expected: [UInt8] = [0x08] + ascii("_S5_") + [0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00]
            + [0x08] + ascii("PICM") + [0x00]
            + [0x14, 0x0C] + ascii("_PIC") + [0x01, 0x70, 0x68] + ascii("PICM")
            + [0x10]
        #expect(Array(DSDT.body(testPlatform()).prefix(expected.count)) == expected)
    }

    @Test func s5CarriesThePlatformsSoftOffSleepType() {
        var platform = testPlatform()
        platform.acpi.softOffSleepType = 7
        #expect(Array(DSDT.body(platform).prefix(14)) == [0x08] + ascii("_S5_") + [0x12, 0x08, 0x04, 0x0A, 0x07, 0x0A, 0x07, 0x00, 0x00])
    }

    @Test func sameInputSameBytes() {
        #expect(DSDT.build(testPlatform()) == DSDT.build(testPlatform()))
    }
}

@Suite struct DSDTRootBridgeTests {
    @Test func rootBridgeIsAPNP0A03DeviceUnderSB() {
        let body = DSDT.body(testPlatform())
        expect(body, contains: [0x5C] + ascii("_SB_") + [0x5B, 0x82])
        expect(body, contains: ascii("PC00") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x0A, 0x03]
            + [0x08] + ascii("_UID") + [0x00] + [0x08] + ascii("_BBN") + [0x00])
    }

    @Test func crsDescribesBusConfigPortsLegacyIOAndTheWindows() {
        let zero8: [UInt8] = Array(repeating: 0, count: 8)
        let descriptors: [UInt8] =
            [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00]
            + [0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08]
            + [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x0C, 0x00, 0x00, 0xF8, 0x0C]
            + [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0x1F, 0x00, 0x00, 0x00, 0x13]
            + [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x20, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xE0]
            + [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0,
               0xFF, 0xFF, 0xFF, 0xDF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20]
            + [0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x01] + zero8 + [0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]
            + [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x00, 0x00] + zero8 + [0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]
            + [0x79, 0x00]
        #expect(descriptors.count == 146)
        // BytePrefix size and 146 bytes: 148 bytes of contents, two-byte PkgLength 150 = 0x96.
        let expected = [0x08] + ascii("_CRS") + [0x11, 0x46, 0x09, 0x0A, 0x92] + descriptors
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func withoutA64BitWindowThereIsNoQWordMemory() {
        var platform = testPlatform()
        platform.pciMMIO64Window = nil
        expect(DSDT.body(platform), lacks: [0x8A, 0x2B, 0x00])
        expect(DSDT.body(testPlatform()), contains: [0x8A, 0x2B, 0x00])
    }

    @Test func ioWindowStartingAtD00LeavesNoLegacyGap() {
        var platform = testPlatform()
        platform.pciIOWindow = 0x0D00...0xFFFF
        let body = DSDT.body(platform)
        expect(body, contains: [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF3])
        expect(body, lacks: [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0x1F])
    }

    @Test func apicRoutingTableMapsEachSlotPinToItsIOAPICPin() {
        let expected: [UInt8] = [0x08] + ascii("APRT") + [0x12, 0x1A, 0x02]
            + [0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x03, 0x00, 0x00, 0x00, 0x0A, 0x10]
            + [0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x04, 0x00, 0x00, 0x00, 0x0A, 0x11]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func picRoutingTableNamesTheLinkDevices() {
        let link: (String) -> [UInt8] = { [0x5C, 0x2F, 0x04] + ascii("_SB_PC00ISA_LNK" + $0) }
        let expected: [UInt8] = [0x08] + ascii("PPRT") + [0x12, 0x3C, 0x02]
            + [0x12, 0x1C, 0x04, 0x0C, 0xFF, 0xFF, 0x03, 0x00, 0x00] + link("A") + [0x00]
            + [0x12, 0x1C, 0x04, 0x0C, 0xFF, 0xFF, 0x04, 0x00, 0x00] + link("B") + [0x00]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func prtReturnsTheAPICTableOnlyWhenPICMIsSet() {
        let expected: [UInt8] = [0x14, 0x16] + ascii("_PRT") + [0x00]
            + [0xA0, 0x0A] + ascii("PICM") + [0xA4] + ascii("APRT")
            + [0xA4] + ascii("PPRT")
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func functionsSharingASlotPinShareOneRoutingEntry() {
        var platform = testPlatform()
        platform.pciInterrupts.append(PCIInterruptRoute(slot: 3, function: 1, pin: 0, ioapicPin: 16, link: 0))
        platform.pciInterrupts.append(PCIInterruptRoute(slot: 3, function: 2, pin: 1, ioapicPin: 18, link: 2))
        let body = DSDT.body(platform)
        // Three entries: 3/INTA, 3/INTB, 4/INTA, in that order.
        expect(body, contains: [0x08] + ascii("APRT") + [0x12, 0x26, 0x03]
            + [0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x03, 0x00, 0x00, 0x00, 0x0A, 0x10]
            + [0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x12]
            + [0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x04, 0x00, 0x00, 0x00, 0x0A, 0x11])
    }

    @Test func noPCIInterruptsMeansNoPRT() {
        var platform = testPlatform()
        platform.pciInterrupts = []
        let body = DSDT.body(platform)
        expect(body, lacks: ascii("_PRT"))
        expect(body, lacks: ascii("APRT"))
    }
}

@Suite struct DSDTLPCBridgeTests {
    @Test func pirqBytesAreFieldsOfAPCIConfigRegion() {
        let expected: [UInt8] = [0x08] + ascii("_ADR") + [0x0C, 0x00, 0x00, 0x1F, 0x00]
            + [0x5B, 0x80] + ascii("PIRQ") + [0x02, 0x0A, 0x60, 0x0A, 0x0C]
            + [0x5B, 0x81, 0x30] + ascii("PIRQ") + [0x00]
            + ascii("PIRA") + [8] + ascii("PIRB") + [8] + ascii("PIRC") + [8] + ascii("PIRD") + [8]
            + [0x00, 0x20]
            + ascii("PIRE") + [8] + ascii("PIRF") + [8] + ascii("PIRG") + [8] + ascii("PIRH") + [8]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func pirvAcceptsOnlyEnabledPermittedIRQs() {
        // If (Arg0 & 0x80) { Return (0) } Return ((0xDEF8 >> (Arg0 & 0x0F)) & 1)
        let expected: [UInt8] = [0x14, 0x1D] + ascii("PIRV") + [0x01]
            + [0xA0, 0x08, 0x7B, 0x68, 0x0A, 0x80, 0x00, 0xA4, 0x00]
            + [0xA4, 0x7B, 0x7A, 0x0B, 0xF8, 0xDE, 0x7B, 0x68, 0x0A, 0x0F, 0x00, 0x00, 0x01, 0x00]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func linkStatusFollowsItsPIRQByte() {
        let expected: [UInt8] = [0x14, 0x16] + ascii("_STA") + [0x00]
            + [0xA0, 0x0C] + ascii("PIRVPIRA") + [0xA4, 0x0A, 0x0B]
            + [0xA4, 0x0A, 0x09]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func linksOfferLevelActiveLowSharedPermittedIRQs() {
        let prs: [UInt8] = [0x08] + ascii("_PRS") + [0x11, 0x09, 0x0A, 0x06, 0x23, 0xF8, 0xDE, 0x18, 0x79, 0x00]
        let body = DSDT.body(testPlatform())
        for letter in "ABCDEFGH" {
            let header = ascii("LNK\(letter)") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x0C, 0x0F]
            expect(body, contains: header)
        }
        #expect(occurrences(of: prs, in: body) == 8)
    }

    @Test func serialPortsAreUARTDevicesWithTheirPortAndIRQ() {
        let com1: [UInt8] = [0x5B, 0x82, 0x2B] + ascii("COM1")
            + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x05, 0x01]
            + [0x08] + ascii("_UID") + [0x01]
            + [0x08] + ascii("_CRS") + [0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00]
        let body = DSDT.body(testPlatform())
        expect(body, contains: com1)
        expect(body, contains: ascii("COM2") + [0x08] + ascii("_HID"))
        expect(body, contains: [0x47, 0x01, 0xF8, 0x02, 0xF8, 0x02, 0x01, 0x08, 0x22, 0x08, 0x00])
        expect(body, lacks: ascii("COM3"))
    }

    @Test func hpetIsDescribedOnlyWhenPresent() {
        let hpet: [UInt8] = ascii("HPET") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x01, 0x03]
            + [0x08] + ascii("_UID") + [0x00]
            + [0x08] + ascii("_CRS") + [0x11, 0x11, 0x0A, 0x0E, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xD0, 0xFE, 0x00, 0x04, 0x00, 0x00, 0x79, 0x00]
        expect(DSDT.body(testPlatform()), contains: hpet)
        var platform = testPlatform()
        platform.hpet = nil
        expect(DSDT.body(platform), lacks: ascii("HPET"))
    }

    @Test func fwCfgIsDescribedOnlyWhenPresent() {
        let fwCfg: [UInt8] = ascii("FWCF") + [0x08] + ascii("_HID") + [0x0D] + ascii("QEMU0002") + [0x00]
            + [0x08] + ascii("_STA") + [0x0A, 0x0B]
            + [0x08] + ascii("_CRS") + [0x11, 0x0D, 0x0A, 0x0A, 0x47, 0x01, 0x10, 0x05, 0x10, 0x05, 0x01, 0x0C, 0x79, 0x00]
        var platform = testPlatform()
        expect(DSDT.body(platform), lacks: ascii("FWCF"))
        platform.fwCfg = FwCfgPorts(base: 0x510, count: 12)
        expect(DSDT.body(platform), contains: fwCfg)
    }

    @Test func legacyDevicesClaimTheirPortsAndIRQs() {
        let body = DSDT.body(testPlatform())
        expect(body, contains: ascii("PIC_") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x00, 0x00, 0x08] + ascii("_CRS")
            + [0x11, 0x18, 0x0A, 0x15, 0x47, 0x01, 0x20, 0x00, 0x20, 0x00, 0x01, 0x02, 0x47, 0x01, 0xA0, 0x00, 0xA0, 0x00, 0x01, 0x02,
               0x22, 0x04, 0x00, 0x79, 0x00])
        expect(body, contains: ascii("TIMR") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x01, 0x00, 0x08] + ascii("_CRS")
            + [0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0x40, 0x00, 0x40, 0x00, 0x01, 0x04, 0x22, 0x01, 0x00, 0x79, 0x00])
        expect(body, contains: ascii("RTC_") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x0B, 0x00, 0x08] + ascii("_CRS")
            + [0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x22, 0x00, 0x01, 0x79, 0x00])
    }

    @Test func motherboardResourcesReserveChipsetPortsAndECAM() {
        let io: (UInt16, UInt8) -> [UInt8] = { [0x47, 0x01, UInt8($0 & 0xFF), UInt8($0 >> 8), UInt8($0 & 0xFF), UInt8($0 >> 8), 0x01, $1] }
        let expected: [UInt8] = ascii("SIO_") + [0x08] + ascii("_HID") + [0x0C, 0x41, 0xD0, 0x0C, 0x02]
            + [0x08] + ascii("_CRS") + [0x11, 0x42, 0x05, 0x0A, 0x4E]
            + io(0x4D0, 2) + io(0x61, 1) + io(0x72, 6) + io(0xB2, 1)
            + io(0x400, 4) + io(0x404, 2) + io(0x408, 4) + io(0x40C, 2)
            + [0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xE0, 0x00, 0x00, 0x00, 0x10]
            + [0x79, 0x00]
        expect(DSDT.body(testPlatform()), contains: expected)
    }

    @Test func resetPortOutsideTheConfigPortsIsReserved() {
        var platform = testPlatform()
        platform.acpi.resetPort = 0x92
        expect(DSDT.body(platform), contains: [0x47, 0x01, 0x92, 0x00, 0x92, 0x00, 0x01, 0x01])
        expect(DSDT.body(testPlatform()), lacks: [0x47, 0x01, 0xF9, 0x0C])
    }
}

/// Runs ACPICA's own tools over the table: the disassembler must read every byte, the compiler
/// must accept the result, and the interpreter must run the link methods against a simulated
/// PCI config space.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CI"] == "true"
    || (FileManager.default.isExecutableFile(atPath: "/usr/bin/iasl")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/acpiexec")),
    "needs acpica-tools (required when CI=true)"))
struct DSDTACPICATests {
    private struct Run {
        let status: Int32
        let output: String
    }

    private static func run(_ tool: String, _ arguments: [String], in directory: URL) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    private static func withTable<T>(_ platform: PlatformDescription = testPlatform(), _ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-dsdt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(DSDT.build(platform)).write(to: directory.appendingPathComponent("dsdt.aml"))
        return try body(directory)
    }

    @Test func iaslDisassemblesItWithoutErrors() throws {
        var platform = testPlatform()
        platform.fwCfg = FwCfgPorts(base: 0x510, count: 12)
        try Self.withTable(platform) { directory in
            let result = try Self.run("/usr/bin/iasl", ["-d", "dsdt.aml"], in: directory)
            #expect(result.status == 0)
            #expect(!result.output.contains("Error"), "\(result.output)")
            let asl = try String(contentsOf: directory.appendingPathComponent("dsdt.dsl"), encoding: .utf8)
            for name in ["_S5_", "PICM", "_PIC", "_PRT", "PPRT", "APRT", "PIRV", "COM1", "COM2", "HPET", "SIO", "FWCF", "QEMU0002"] {
                #expect(asl.contains(name), "\(name) missing from the disassembly")
            }
            for letter in "ABCDEFGH" {
                #expect(asl.contains("Device (LNK\(letter))"))
                #expect(asl.contains("PIR\(letter),"))
            }
            #expect(asl.contains("\\_SB.PC00.ISA.LNKA"))
            #expect(asl.contains("IRQ (Level, ActiveLow, Shared, )"))
            #expect(asl.contains("{3,4,5,6,7,9,10,11,12,14,15}"))

            let compiled = try Self.run("/usr/bin/iasl", ["-p", "recompiled", "dsdt.dsl"], in: directory)
            #expect(compiled.status == 0)
            #expect(compiled.output.contains("0 Errors, 0 Warnings"), "\(compiled.output)")
        }
    }

    @Test func aBareMachinesTableRoundTripsThroughIASL() throws {
        try Self.withTable(PlatformDescription(cpus: 1, lowMemory: 1 << 28, highMemory: 0)) { directory in
            let result = try Self.run("/usr/bin/iasl", ["-d", "dsdt.aml"], in: directory)
            #expect(result.status == 0)
            #expect(!result.output.contains("Error"), "\(result.output)")
            let compiled = try Self.run("/usr/bin/iasl", ["-p", "recompiled", "dsdt.dsl"], in: directory)
            #expect(compiled.output.contains("0 Errors, 0 Warnings"), "\(compiled.output)")
        }
    }

    /// Evaluations in order, each with what ACPICA printed for it.
    private static func evaluate(_ commands: [String]) throws -> [String] {
        try withTable { directory in
            // 0x80 fills the simulated config space: every PIRQ starts disabled, as at reset.
            let result = try run("/usr/bin/acpiexec", ["-fv", "0x80", "-b", commands.joined(separator: "; "), "dsdt.aml"], in: directory)
            #expect(result.status == 0)
            #expect(!result.output.contains("AE_"), "\(result.output)")
            return result.output.components(separatedBy: "\nEvaluating ").dropFirst().map { $0 }
        }
    }

    @Test func linkMethodsReadAndSteerThePIRQBytes() throws {
        let isa = "\\_SB.PC00.ISA"
        let results = try Self.evaluate([
            "evaluate \(isa).LNKA._STA",
            "evaluate \(isa).LNKA._CRS",
            "evaluate \(isa).LNKA._SRS (23 00 08 18 79 00)",
            "evaluate \(isa).PIRA",
            "evaluate \(isa).LNKA._STA",
            "evaluate \(isa).LNKA._CRS",
            "evaluate \(isa).LNKA._DIS",
            "evaluate \(isa).PIRA",
            "evaluate \(isa).LNKA._STA",
            "evaluate \(isa).LNKB._SRS (23 00 01 18 79 00)",
            "evaluate \(isa).PIRB",
            "evaluate \(isa).LNKB._STA",
        ])
        try #require(results.count == 12)
        #expect(results[0].contains("[Integer] = 0000000000000009"))
        #expect(results[1].contains("23 00 00 18 79 00"))
        #expect(results[3].contains("[Integer] = 000000000000000B"))      // IRQ 11
        #expect(results[4].contains("[Integer] = 000000000000000B"))      // enabled
        #expect(results[5].contains("23 00 08 18 79 00"))
        #expect(results[7].contains("[Integer] = 000000000000008B"))      // _DIS keeps the IRQ, sets bit 7
        #expect(results[8].contains("[Integer] = 0000000000000009"))
        #expect(results[10].contains("[Integer] = 0000000000000008"))     // IRQ 8 is stored…
        #expect(results[11].contains("[Integer] = 0000000000000009"))     // …but is not one a link may use
    }

    @Test func prtFollowsTheInterruptModelThePICMethodSelects() throws {
        let results = try Self.evaluate([
            "evaluate \\_SB.PC00._PRT",
            "evaluate \\_PIC 1",
            "evaluate \\_SB.PC00._PRT",
        ])
        try #require(results.count == 3)
        #expect(results[0].contains("Name LNKA Device"))
        #expect(results[0].contains("Name LNKB Device"))
        #expect(results[0].contains("[Integer] = 000000000003FFFF"))
        #expect(results[2].contains("[Integer] = 0000000000000010"))
        #expect(results[2].contains("[Integer] = 0000000000000011"))
        #expect(!results[2].contains("LNKA"))
    }
}
