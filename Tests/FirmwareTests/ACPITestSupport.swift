import Foundation
import Firmware

/// Little-endian reads from an ACPI table or blob, for assertions at the specification's offsets.
struct ACPIReader {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func u8(_ offset: Int) -> UInt8 { bytes[offset] }
    func u16(_ offset: Int) -> UInt16 { UInt16(read(offset, 2)) }
    func u32(_ offset: Int) -> UInt32 { UInt32(read(offset, 4)) }
    func u64(_ offset: Int) -> UInt64 { read(offset, 8) }
    func ascii(_ offset: Int, _ count: Int) -> String { String(decoding: bytes[offset..<offset + count], as: UTF8.self) }

    /// A Generic Address Structure as (space, bit width, bit offset, access size, address).
    func gas(_ offset: Int) -> ACPIGAS {
        ACPIGAS(space: u8(offset), bitWidth: u8(offset + 1), bitOffset: u8(offset + 2),
                accessSize: u8(offset + 3), address: u64(offset + 4))
    }

    /// The byte sum of `range`, zero when its checksum is right.
    func sum(_ range: Range<Int>) -> UInt8 { bytes[range].reduce(0, &+) }

    private func read(_ offset: Int, _ count: Int) -> UInt64 {
        (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}

struct ACPIGAS: Equatable, CustomStringConvertible {
    var space: UInt8
    var bitWidth: UInt8
    var bitOffset: UInt8
    var accessSize: UInt8
    var address: UInt64

    static let zero = ACPIGAS(space: 0, bitWidth: 0, bitOffset: 0, accessSize: 0, address: 0)

    var description: String { "GAS(\(space), \(bitWidth), \(bitOffset), \(accessSize), 0x\(String(address, radix: 16)))" }
}

enum ACPIFixture {
    static let hpetCapabilities: UInt32 = 0x8086_A701

    static func platform(cpus: Int, hpet: Bool = true, serial: Bool = true) -> PlatformDescription {
        var platform = PlatformDescription(cpus: cpus, lowMemory: 1 << 30, highMemory: 0)
        platform.hpet = hpet ? HPETInfo(capabilities: hpetCapabilities) : nil
        platform.serialPorts = serial ? [SerialPort.standard[0]] : []
        return platform
    }

    /// A DSDT with no definition block contents: just a header with a correct checksum.
    static let emptyDSDT = ACPITableHeader(signature: "DSDT", revision: 2).table(body: [])

    struct IASLResult {
        var status: Int32
        var output: String
        /// The file iasl wrote: the disassembled listing or the compiled table.
        var product: [UInt8]
    }

    /// Runs `iasl -d` on `table` and returns the disassembled listing.
    static func disassemble(_ table: [UInt8], name: String) throws -> IASLResult {
        try iasl(input: table, name: name, arguments: ["-d"], product: "\(name).dsl")
    }

    /// Compiles an iasl data-table source (the `[len] Field : value` format) to a binary table.
    static func compileDataTable(_ source: String, name: String) throws -> IASLResult {
        try iasl(input: Array(source.utf8), name: name, arguments: ["-p", name], product: "\(name).aml")
    }

    /// Runs iasl on `input`, written to `name.dat` in a fresh directory, and reads back `product`.
    private static func iasl(input: [UInt8], name: String, arguments: [String], product: String) throws -> IASLResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-acpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("\(name).dat")
        try Data(input).write(to: file)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/iasl")
        process.arguments = arguments + [file.path]
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let produced = (try? Data(contentsOf: directory.appendingPathComponent(product))).map { [UInt8]($0) } ?? []
        return IASLResult(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                          product: produced)
    }
}
