import Boot
import Testing

@Suite struct ProgramImages {
    @Test func flatImageIsOneSegmentEnteredAtItsLoadAddress() throws {
        let image = try ProgramImage.flat([0xF4, 0xEB, 0xFE], loadAddress: 0x8000)
        #expect(image.format == .flat)
        #expect(image.entry == 0x8000)
        #expect(image.segments == [LoadSegment(address: 0x8000, bytes: [0xF4, 0xEB, 0xFE])])
        #expect(image.highestAddress == 0x8003)
    }

    @Test func emptyFlatImageIsRefused() {
        #expect(throws: BootError.emptyProgram) { try ProgramImage.flat([], loadAddress: 0x8000) }
        #expect(throws: BootError.emptyProgram) { try ProgramImage.parse([], loadAddress: 0x8000) }
        #expect(BootError.emptyProgram.description == "program file is empty")
    }

    @Test func flatImageRunningPastTheAddressSpaceIsRefused() throws {
        #expect(throws: BootError.programAddressOverflow(loadAddress: .max - 1)) {
            try ProgramImage.flat([1, 2], loadAddress: .max - 1)
        }
        #expect(try ProgramImage.flat([1], loadAddress: .max - 1).highestAddress == .max)
    }

    @Test func parsePicksELFByItsMagic() throws {
        let file = ELFBuilder(is64: true, entry: 0x10_0000, segments: [TestSegment(physicalAddress: 0x10_0000, data: [0xF4])])
        let image = try ProgramImage.parse(file.build(), loadAddress: 0x8000)
        #expect(image.format == .elf64)
        #expect(image.segments.map(\.address) == [0x10_0000])
    }

    @Test func parseTreatsAnythingElseAsFlat() throws {
        let image = try ProgramImage.parse([0x7F, 0x45, 0x4C, 0x00], loadAddress: 0x20_0000)
        #expect(image.format == .flat)
        #expect(image.entry == 0x20_0000)
    }

    @Test func parseReportsBrokenELFInsteadOfLoadingItFlat() {
        #expect(throws: BootError.truncatedHeader) { try ProgramImage.parse([0x7F, 0x45, 0x4C, 0x46, 2], loadAddress: 0) }
    }

    @Test func highestAddressCountsZeroFillOfTheHighestSegment() {
        let image = ProgramImage(segments: [
            LoadSegment(address: 0x30_0000, bytes: [1], zeroFill: 0xFFF),
            LoadSegment(address: 0x10_0000, bytes: [1, 2, 3]),
        ], entry: 0x10_0000, format: .elf64)
        #expect(image.highestAddress == 0x30_1000)
    }
}

@Suite struct CPUModes {
    @Test func defaultLoadAddresses() {
        #expect(CPUMode.real.defaultLoadAddress == 0x8000)
        #expect(CPUMode.protected.defaultLoadAddress == 0x10_0000)
        #expect(CPUMode.long.defaultLoadAddress == 0x10_0000)
    }

    @Test func formatsChooseTheirDefaultMode() {
        #expect(ProgramImage.Format.elf32.defaultMode == .protected)
        #expect(ProgramImage.Format.elf64.defaultMode == .long)
        #expect(ProgramImage.Format.flat.defaultMode == .long)
    }

    @Test func modesAreNamedForTheCommandLine() {
        #expect(CPUMode.allCases.map(\.rawValue) == ["real", "protected", "long"])
        #expect(CPUMode(rawValue: "protected") == .protected)
    }
}

@Suite struct ZeroWrites {
    @Test func noBytesNeedNoWrites() {
        #expect(MemoryWrite.zeros(at: 0x1000, count: 0).isEmpty)
    }

    @Test func largeRangesAreSplitIntoContiguousChunks() {
        let count: UInt64 = (3 << 20) + 5
        let writes = MemoryWrite.zeros(at: 0x40_0000, count: count)
        #expect(writes.map(\.address) == [0x40_0000, 0x50_0000, 0x60_0000, 0x70_0000])
        #expect(writes.map(\.bytes.count) == [1 << 20, 1 << 20, 1 << 20, 5])
        #expect(writes.allSatisfy { $0.bytes.allSatisfy { $0 == 0 } })
    }
}
