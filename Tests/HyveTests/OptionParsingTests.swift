import Testing
import Hyve
import VMM

let mebibyte: UInt64 = 1 << 20
let sizeExamples: [(String, UInt64)] = [
    ("64M", 64 * mebibyte), ("512", 512 * mebibyte), ("1G", 1024 * mebibyte), ("2g", 2048 * mebibyte),
    ("4096K", 4 * mebibyte), ("1T", 1024 * 1024 * mebibyte), ("256MiB", 256 * mebibyte), (" 8M ", 8 * mebibyte),
]

@Suite struct MemorySizeTests {
    @Test(arguments: sizeExamples)
    func sizesFollowBhyveSuffixesWithMebibytesByDefault(text: String, bytes: UInt64) throws {
        #expect(try MemorySize.parse(text) == bytes)
    }

    @Test(arguments: ["abc", "", "M", "-1", "12Q", "1.5G", "0x10M", "١٢M"])
    func malformedSizesAreRefused(text: String) {
        #expect(throws: HyveError.self) { try MemorySize.parse(text) }
    }

    @Test func zeroAndTinySizesAreRefused() {
        #expect(throws: HyveError("memory size '0' is too small (at least 1 MiB)")) { try MemorySize.parse("0") }
        #expect(throws: HyveError.self) { try MemorySize.parse("1023K") }
    }

    @Test func sizesThatAreNotPageMultiplesOrTooLargeAreRefused() {
        #expect(throws: HyveError("memory size '1025K' is not a multiple of 4 KiB")) { try MemorySize.parse("1025K") }
        #expect(throws: HyveError.self) { try MemorySize.parse("2T") }
        #expect(throws: HyveError.self) { try MemorySize.parse("99999999999999999999G") }
    }
}

@Suite struct PinSpecTests {
    @Test func pinningMapsVCPUsToHostCPUs() throws {
        #expect(try PinSpec.parse(["0:1", "1:0"]) == [0: 1, 1: 0])
        #expect(try PinSpec.parse([]) == [:])
    }

    @Test(arguments: ["0", "0:", ":1", "a:b", "0:1:2", "-1:0"])
    func malformedPinningIsRefused(spec: String) {
        #expect(throws: HyveError("invalid pinning '\(spec)' (expected vcpu:hostcpu)")) { try PinSpec.parse([spec]) }
    }

    @Test func pinningOneVCPUTwiceIsRefused() {
        #expect(throws: HyveError("vCPU 0 is pinned twice")) { try PinSpec.parse(["0:0", "0:1"]) }
    }
}

@Suite struct ExitStatusTests {
    @Test func suspendReasonsMapToBhyvesExitCodes() {
        #expect(ExitStatus.forReason(.reset) == 0)
        #expect(ExitStatus.forReason(.powerOff) == 1)
        #expect(ExitStatus.forReason(.halt) == 2)
        #expect(ExitStatus.forReason(.tripleFault) == 3)
        #expect(ExitStatus.forReason(.failure("x")) == 4)
    }

    @Test func debugExitValueBecomesOddStatusKeptToEightBits() {
        #expect(ExitStatus.forReason(.debugExit(0)) == 1)
        #expect(ExitStatus.forReason(.debugExit(0x21)) == 0x43)
        #expect(ExitStatus.forReason(.debugExit(0x80)) == 1)
        #expect(ExitStatus.forReason(.debugExit(0xFFFF_FFFF)) == 0xFF)
    }
}

@Suite struct DiagnosticTests {
    @Test func multiLineMessagesAreFoldedOntoOneLine() {
        #expect(Diagnostic.line(program: "hyve", "Error: bad\n  Usage: hyve\n\n") == "hyve: Error: bad Usage: hyve")
    }
}
