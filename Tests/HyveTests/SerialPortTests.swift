import Foundation
import Testing
import Hyve
import TestSupport

@Suite struct SerialPortSpecTests {
    @Test func bhyveLPCOptionsParse() throws {
        #expect(try SerialPortSpec.parse("com1,stdio") == SerialPortSpec(port: 1, backend: .stdio))
        #expect(try SerialPortSpec.parse("COM2,file=/tmp/x") == SerialPortSpec(port: 2, backend: .file("/tmp/x")))
        #expect(try SerialPortSpec.parse("com4,socket=/run/c4") == SerialPortSpec(port: 4, backend: .socket("/run/c4")))
    }

    @Test(arguments: [
        ("com5,stdio", "unknown LPC device 'com5' in 'com5,stdio' (expected com1 to com4)"),
        ("com1", "'com1' needs a back end: stdio, file=PATH or socket=PATH"),
        ("com1,tcp=1.2.3.4:5", "unknown serial back end 'tcp=1.2.3.4:5' in 'com1,tcp=1.2.3.4:5' (expected stdio, file=PATH or socket=PATH)"),
        ("com1,file=", "'com1,file=' names no path"),
    ])
    func malformedLPCOptionsAreRefusedInOneLine(text: String, message: String) {
        #expect(throws: HyveError(message)) { try SerialPortSpec.parse(text) }
    }

    @Test func aPortTwiceOrTwoStdioConsolesAreRefused() {
        #expect(throws: HyveError("COM1 is configured twice")) { try SerialPortSpec.parse(["com1,stdio", "com1,file=/x"]) }
        #expect(throws: HyveError("only one serial port can use stdio")) { try SerialPortSpec.parse(["com1,stdio", "com2,stdio"]) }
    }
}

/// A guest talking to COM1 through `hyve -l com1,…`.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct SerialPortGuestTests {
    /// Reads `handle` until `text` has arrived (or the stream ends) and returns all of it.
    func read(_ handle: FileHandle, until text: String) -> String {
        var received = Data()
        while !String(decoding: received, as: UTF8.self).contains(text) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            received.append(chunk)
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func guestEchoesTerminalInputThroughCOM1OnStdio() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HyveBinary.path)
        process.arguments = ["-l", "com1,stdio", "--program", try GuestPrograms.path("uart-echo.bin")]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        #expect(read(output.fileHandleForReading, until: "uart: ready\n") == "uart: ready\n")
        input.fileHandleForWriting.write(Data("hello.".utf8))
        #expect(read(output.fileHandleForReading, until: "uart: done\n") == "HELLOuart: done\n")
        process.waitUntilExit()
        #expect(process.terminationStatus == (0x50 << 1) | 1)
    }

    @Test func guestOutputOnCOM1GoesToAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-com1-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HyveBinary.path)
        process.arguments = ["-l", "com1,file=\(path)", "--program", try GuestPrograms.path("uart-echo.bin")]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while (try? String(contentsOfFile: path, encoding: .utf8)) != "uart: ready\n" && Date() < deadline {
            usleep(20_000)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "uart: ready\n")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
    }
}
