import Boot
import Testing

private let code: [UInt8] = [0xFA, 0xF4, 0xEB, 0xFD]

private func elf64(entry: UInt64 = 0x10_0000, _ segments: [TestSegment]) -> ELFBuilder {
    ELFBuilder(is64: true, entry: entry, segments: segments)
}

private func elf32(entry: UInt64 = 0x10_0000, _ segments: [TestSegment]) -> ELFBuilder {
    ELFBuilder(is64: false, entry: entry, segments: segments)
}

private func parseError(_ bytes: [UInt8]) -> BootError? {
    do {
        _ = try ProgramImage.elf(bytes)
        return nil
    } catch {
        return error
    }
}

@Suite struct ValidELFFiles {
    @Test func elf64SegmentIsLoadedAtItsPhysicalAddressWithBss() throws {
        let file = elf64(entry: 0x10_0000, [TestSegment(physicalAddress: 0x10_0000, data: code, memorySize: 0x1000)])
        let image = try ProgramImage.elf(file.build())
        #expect(image.format == .elf64)
        #expect(image.entry == 0x10_0000)
        #expect(image.segments == [LoadSegment(address: 0x10_0000, bytes: code, zeroFill: 0x1000 - 4)])
        #expect(image.highestAddress == 0x10_1000)
    }

    @Test func elf32SegmentIsLoadedAtItsPhysicalAddressWithBss() throws {
        let file = elf32(entry: 0x20_0002, [TestSegment(physicalAddress: 0x20_0000, data: code, memorySize: 0x10)])
        let image = try ProgramImage.elf(file.build())
        #expect(image.format == .elf32)
        #expect(image.entry == 0x20_0002)
        #expect(image.segments == [LoadSegment(address: 0x20_0000, bytes: code, zeroFill: 0xC)])
    }

    @Test func severalSegmentsKeepFileOrderAndNonLoadHeadersAreSkipped() throws {
        let file = elf64([
            TestSegment(physicalAddress: 0x10_0000, data: code),
            TestSegment(type: 4, physicalAddress: 0, data: [1, 2, 3]),
            TestSegment(physicalAddress: 0x30_0000, data: [9, 9], memorySize: 0x2000),
        ])
        let image = try ProgramImage.elf(file.build())
        #expect(image.segments == [
            LoadSegment(address: 0x10_0000, bytes: code),
            LoadSegment(address: 0x30_0000, bytes: [9, 9], zeroFill: 0x2000 - 2),
        ])
        #expect(image.highestAddress == 0x30_2000)
    }

    @Test func loadSegmentsWithoutMemoryAreSkipped() throws {
        let file = elf64([
            TestSegment(physicalAddress: 0x50_0000, data: []),
            TestSegment(physicalAddress: 0x10_0000, data: code),
        ])
        let image = try ProgramImage.elf(file.build())
        #expect(image.segments == [LoadSegment(address: 0x10_0000, bytes: code)])
    }

    @Test func virtualEntryOfAHighLinkedKernelIsTranslatedToItsPhysicalAddress() throws {
        let file = elf64(entry: 0xFFFF_FFFF_8020_0010, [
            TestSegment(physicalAddress: 0x20_0000, virtualAddress: 0xFFFF_FFFF_8020_0000,
                        data: [UInt8](repeating: 0x90, count: 0x20)),
        ])
        let image = try ProgramImage.elf(file.build())
        #expect(image.segments.map(\.address) == [0x20_0000])
        #expect(image.entry == 0x20_0010)
    }

    @Test func entryOutsideEveryVirtualRangeIsKeptAsIs() throws {
        let file = elf64(entry: 0x40_0000, [TestSegment(physicalAddress: 0x10_0000, data: code)])
        #expect(try ProgramImage.elf(file.build()).entry == 0x40_0000)
    }

    @Test func elf32SegmentEndingExactlyAt4GiBIsAccepted() throws {
        let file = elf32(entry: 0xFFFF_F000, [TestSegment(physicalAddress: 0xFFFF_F000, data: code, memorySize: 0x1000)])
        #expect(try ProgramImage.elf(file.build()).highestAddress == 1 << 32)
    }
}

@Suite struct MalformedELFFiles {
    private let good = elf64([TestSegment(physicalAddress: 0x10_0000, data: code)])

    @Test func badMagicIsRefused() {
        var bytes = good.build()
        bytes[1] = 0x45 + 1
        #expect(parseError(bytes) == .badMagic)
        #expect(parseError([]) == .badMagic)
        #expect(BootError.badMagic.description == "not an ELF file (bad magic)")
    }

    @Test(arguments: [4, 15, 16, 40, 63])
    func fileEndingInsideTheHeaderIsTruncated(length: Int) {
        #expect(parseError(Array(good.build().prefix(length))) == .truncatedHeader)
    }

    @Test func elf32HeaderIsShorterThanElf64() throws {
        let file = elf32([TestSegment(physicalAddress: 0x10_0000, data: code)])
        #expect(parseError(Array(file.build().prefix(51))) == .truncatedHeader)
    }

    @Test func unknownClassIsRefused() {
        var bytes = good.build()
        bytes[4] = 3
        #expect(parseError(bytes) == .unsupportedClass(3))
    }

    @Test func bigEndianIsRefused() {
        var bytes = good.build()
        bytes[5] = 2
        #expect(parseError(bytes) == .unsupportedDataEncoding(2))
        #expect(BootError.unsupportedDataEncoding(2).description == "unsupported ELF data encoding 2 (need little-endian)")
    }

    @Test func unknownVersionIsRefused() {
        var identVersion = good.build()
        identVersion[6] = 2
        #expect(parseError(identVersion) == .unsupportedVersion(2))
        var headerVersion = good.build()
        headerVersion.patch(UInt32(0), at: 20)
        #expect(parseError(headerVersion) == .unsupportedVersion(0))
    }

    @Test func sharedObjectIsRefused() {
        var file = good
        file.type = 3
        #expect(parseError(file.build()) == .unsupportedType(3))
        #expect(BootError.unsupportedType(3).description == "unsupported ELF type 3 (need a static executable, ET_EXEC)")
    }

    @Test func foreignMachineIsRefused() {
        var file = good
        file.machine = 183
        #expect(parseError(file.build()) == .unsupportedMachine(183))
        #expect(BootError.unsupportedMachine(183).description == "unsupported ELF machine 183 (need x86 or x86-64)")
    }

    @Test func classMustMatchMachine() {
        let x86In64 = ELFBuilder(is64: true, machine: 3, entry: 0x10_0000, segments: good.segments)
        #expect(parseError(x86In64.build()) == .classMachineMismatch(classBits: 64, machine: 3))
        let x86_64In32 = ELFBuilder(is64: false, machine: 62, entry: 0x10_0000, segments: good.segments)
        #expect(parseError(x86_64In32.build()) == .classMachineMismatch(classBits: 32, machine: 62))
    }

    @Test func programHeaderSizeSmallerThanTheClassNeedsIsRefused() {
        var bytes = good.build()
        bytes.patch(UInt16(32), at: 54)
        #expect(parseError(bytes) == .badProgramHeaderSize(32))
    }

    @Test func programHeaderTablePastTheEndIsTruncated() {
        let file = elf64([
            TestSegment(physicalAddress: 0x10_0000, data: [], memorySize: 0x100),
            TestSegment(physicalAddress: 0x20_0000, data: [], memorySize: 0x100),
            TestSegment(physicalAddress: 0x30_0000, data: [], memorySize: 0x100),
        ])
        let bytes = file.build()
        #expect(parseError(Array(bytes.prefix(file.programHeaderOffset(2) + 20))) == .truncatedProgramHeader(index: 2))
        #expect(BootError.truncatedProgramHeader(index: 2).description
            == "truncated ELF file: program header 2 extends past the end of the file")
    }

    @Test func programHeaderCountBeyondTheFileIsTruncated() {
        var bytes = good.build()
        bytes.patch(UInt16(40), at: 56)
        #expect(parseError(bytes) == .truncatedProgramHeader(index: 1))
    }

    @Test func programHeaderOffsetThatOverflowsIsTruncated() {
        var bytes = good.build()
        bytes.patch(UInt64.max - 8, at: 32)
        #expect(parseError(bytes) == .truncatedProgramHeader(index: 0))
    }

    @Test func segmentDataPastTheEndIsTruncated() {
        let bytes = good.build()
        #expect(parseError(Array(bytes.dropLast())) == .truncatedSegment(index: 0))
    }

    @Test func bssOnlySegmentMayPointPastTheEndOfTheFile() throws {
        var bytes = elf64([TestSegment(physicalAddress: 0x10_0000, data: [], memorySize: 0x100),
                           TestSegment(physicalAddress: 0x20_0000, data: code)]).build()
        bytes.patch(UInt64.max, at: 64 + 8)
        let image = try ProgramImage.elf(bytes)
        #expect(image.segments.first == LoadSegment(address: 0x10_0000, bytes: [], zeroFill: 0x100))
    }

    @Test func segmentOffsetThatOverflowsIsTruncated() {
        var bytes = good.build()
        bytes.patch(UInt64.max - 1, at: good.programHeaderOffset(0) + 8)
        #expect(parseError(bytes) == .truncatedSegment(index: 0))
    }

    @Test func fileSizeLargerThanMemorySizeIsRefused() {
        let file = elf32([TestSegment(physicalAddress: 0x10_0000, data: code, memorySize: 2)])
        #expect(parseError(file.build()) == .segmentFileSizeExceedsMemorySize(index: 0, fileSize: 4, memorySize: 2))
        #expect(BootError.segmentFileSizeExceedsMemorySize(index: 0, fileSize: 4, memorySize: 2).description
            == "ELF segment 0 has a file size (0x4) larger than its memory size (0x2)")
    }

    @Test func elf64SegmentWrappingTheAddressSpaceIsRefused() {
        let file = elf64([TestSegment(physicalAddress: 0xFFFF_FFFF_FFFF_F000, data: code, memorySize: 0x2000)])
        #expect(parseError(file.build()) == .segmentAddressOverflow(index: 0))
    }

    @Test func elf32SegmentPast4GiBIsRefused() {
        let file = elf32([TestSegment(physicalAddress: 0xFFFF_F000, data: code, memorySize: 0x2000)])
        #expect(parseError(file.build()) == .segmentAddressOverflow(index: 0))
    }

    @Test func fileWithoutLoadSegmentIsRefused() {
        let notes = elf64([TestSegment(type: 4, physicalAddress: 0x10_0000, data: code)])
        #expect(parseError(notes.build()) == .noLoadableSegment)
        let none = elf32([])
        #expect(parseError(none.build()) == .noLoadableSegment)
        #expect(BootError.noLoadableSegment.description == "ELF file has no loadable segment")
    }
}
