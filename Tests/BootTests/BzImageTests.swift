import Boot
import KVM
import Testing

private let initrd = Initrd(bytes: (0..<0x1234).map { UInt8(truncatingIfNeeded: $0) }, commandLine: "initrd.img")

private func boot(_ builder: BzImageBuilder = BzImageBuilder(), initrd: Initrd? = initrd,
                  commandLine: String = "console=ttyS0 root=/dev/vda",
                  memoryMap: [E820Entry] = standardMemoryMap) throws -> KernelBoot {
    try KernelBoot(kernel: builder.build(), initrd: initrd, commandLine: commandLine, memoryMap: memoryMap,
                   rsdpAddress: hyveRSDP)
}

@Suite struct BzImage64BitBoot {
    @Test func relocatableKernelLoadsAtItsPreferredAddress() throws {
        let builder = BzImageBuilder()
        let boot = try boot(builder)
        #expect(boot.format == .bzImage)
        #expect(boot.entry == KernelEntry(mode: .long, instructionPointer: 0x100_0200, rsi: 0x1_0000))
        #expect(boot.kernelRange == 0x100_0000..<0x140_0000)
        // As high as possible below the top of RAM (256 MiB), page-aligned.
        #expect(boot.initrdRange == 0xFFF_E000..<0xFFF_F234)
        let zeroPage = try #require(boot.written(at: 0x1_0000))
        let commandLine = Array("console=ttyS0 root=/dev/vda".utf8) + [0]
        #expect(boot.memoryWrites == [GDT.memoryWrite] + PageTables.memoryWrites + [
            MemoryWrite(address: 0x100_0000, bytes: builder.kernel),
            MemoryWrite(address: 0x1_0000, bytes: zeroPage),
            MemoryWrite(address: 0x2_0000, bytes: commandLine),
            MemoryWrite(address: 0xFFF_E000, bytes: initrd.bytes),
        ])
    }

    @Test func zeroPageCarriesTheHeaderAndTheLoaderFields() throws {
        let image = BzImageBuilder().build()
        let page = try #require(try boot().written(at: 0x1_0000))
        #expect(page.count == 4096)

        var expectedHeader = Array(image[0x1F1..<BzImageBuilder.headerEnd])
        expectedHeader.patch(UInt8(0xFF), at: 0x210 - 0x1F1)
        expectedHeader.patch(UInt32(0x100_0000), at: 0x214 - 0x1F1)
        expectedHeader.patch(UInt32(0xFFF_E000), at: 0x218 - 0x1F1)
        expectedHeader.patch(UInt32(0x1234), at: 0x21C - 0x1F1)
        expectedHeader.patch(UInt32(0x2_0000), at: 0x228 - 0x1F1)
        #expect(Array(page[0x1F1..<BzImageBuilder.headerEnd]) == expectedHeader)
        #expect(page[BzImageBuilder.headerEnd] == 0)
        #expect(page[0x211] == 0x01)
        #expect(page.littleEndianUInt64(at: 0x070) == hyveRSDP)

        #expect(page[0x1E8] == 4)
        let expectedMap: [(UInt64, UInt64, UInt32)] = [
            (0, 0x9_FC00, 1), (0x9_FC00, 0x400, 2), (0xF_0000, 0x1_0000, 2), (0x10_0000, 0xFF0_0000, 1),
        ]
        for (index, (address, length, type)) in expectedMap.enumerated() {
            let offset = 0x2D0 + index * 20
            #expect(page.littleEndianUInt64(at: offset) == address)
            #expect(page.littleEndianUInt64(at: offset + 8) == length)
            #expect(page.littleEndianUInt32(at: offset + 16) == type)
        }
        #expect(page[(0x2D0 + 4 * 20)...].allSatisfy { $0 == 0 })
        // Everything the loader does not own stays zero.
        #expect(page[..<0x070].allSatisfy { $0 == 0 })
        #expect(page[0x078..<0x1E8].allSatisfy { $0 == 0 })
        #expect(page[0x1E9..<0x1F1].allSatisfy { $0 == 0 })
    }

    @Test func bootstrapProcessorEntersLongModeWithTheZeroPageInRSI() throws {
        let (registers, special) = try boot().bootstrapState()
        #expect(registers.rip == 0x100_0200)
        #expect(registers.rsi == 0x1_0000)
        #expect(registers.rax == 0 && registers.rbx == 0 && registers.rbp == 0 && registers.rdi == 0)
        #expect(registers.rflags == 0x2)
        #expect(special.cs == GDT.code64Segment)
        #expect(special.ds == GDT.dataSegment && special.ss == GDT.dataSegment)
        #expect(special.gdt == GDT.descriptorTable)
        #expect(special.cr0 == 0x8000_0031)
        #expect(special.cr3 == PageTables.pml4Address)
        #expect(special.cr4 == 0x20)
        #expect(special.efer == 0x500)
    }

    @Test func setupSectorsOfZeroMeanFour() throws {
        var builder = BzImageBuilder()
        builder.storedSetupSectors = 0
        let boot = try boot(builder)
        #expect(boot.written(at: 0x100_0000) == builder.kernel)
    }

    @Test func nonRelocatableKernelLoadsAtOneMiBAndClaimsItsRunAddress() throws {
        var builder = BzImageBuilder()
        builder.relocatable = 0
        let boot = try boot(builder)
        #expect(boot.entry.instructionPointer == 0x10_0200)
        #expect(boot.written(at: 0x10_0000) == builder.kernel)
        #expect(boot.written(at: 0x1_0000)?.littleEndianUInt32(at: 0x214) == 0x10_0000)
        // It moves itself to 16 MiB and unpacks into init_size bytes there.
        #expect(boot.kernelRange == 0x10_0000..<0x140_0000)
    }

    @Test func misalignedPreferredAddressFallsBackToOneMiB() throws {
        var builder = BzImageBuilder()
        builder.preferredAddress = 0x100_1000
        let boot = try boot(builder)
        #expect(boot.entry.instructionPointer == 0x10_0200)
        #expect(boot.written(at: 0x10_0000) == builder.kernel)
        #expect(boot.kernelRange == 0x10_0000..<0x140_1000)
    }

    @Test func protocol206KernelWithoutPreferredAddressOrInitSize() throws {
        var builder = BzImageBuilder()
        builder.version = 0x0206
        let boot = try boot(builder)
        #expect(boot.entry == KernelEntry(mode: .protected, instructionPointer: 0x10_0000, rsi: 0x1_0000))
        // Relocatable, it runs at 1 MiB rounded up to its 2 MiB alignment; how much room it then needs
        // protocol 2.06 does not say.
        #expect(boot.kernelRange == 0x10_0000..<0x20_0000)
    }

    @Test func initrdStaysBelowInitrdAddressMax() throws {
        var builder = BzImageBuilder()
        builder.initrdAddressMax = 0x07FF_FFFF
        let boot = try boot(builder)
        #expect(boot.initrdRange == 0x7FF_E000..<0x7FF_F234)
        #expect(boot.written(at: 0x1_0000)?.littleEndianUInt32(at: 0x218) == 0x7FF_E000)
    }

    @Test func withoutInitrdTheRamdiskFieldsAreZero() throws {
        let boot = try boot(initrd: nil, commandLine: "")
        let page = try #require(boot.written(at: 0x1_0000))
        #expect(page.littleEndianUInt32(at: 0x218) == 0 && page.littleEndianUInt32(at: 0x21C) == 0)
        #expect(boot.initrdRange == nil)
        #expect(boot.written(at: 0x2_0000) == [0])
        #expect(boot.memoryWrites.count == 1 + PageTables.memoryWrites.count + 3)
    }

    @Test func commandLineOfExactlyCmdlineSizeFits() throws {
        var builder = BzImageBuilder()
        builder.commandLineSize = 16
        let boot = try boot(builder, commandLine: String(repeating: "x", count: 16))
        #expect(boot.written(at: 0x2_0000) == [UInt8](repeating: 0x78, count: 16) + [0])
    }
}

@Suite struct BzImage32BitBoot {
    private var builder: BzImageBuilder {
        var builder = BzImageBuilder()
        builder.extendedLoadFlags = 0
        return builder
    }

    @Test func kernelWithoutA64BitEntryIsEnteredInProtectedModeAtItsStart() throws {
        let boot = try boot(builder)
        #expect(boot.entry == KernelEntry(mode: .protected, instructionPointer: 0x100_0000, rsi: 0x1_0000))
        #expect(!boot.memoryWrites.contains(PageTables.memoryWrites[0]))
        // KEEP_SEGMENTS: the kernel keeps Hyve's flat segments instead of loading selector 0x18.
        #expect(boot.written(at: 0x1_0000)?[0x211] == 0x41)
        let (registers, special) = boot.bootstrapState()
        #expect(registers.rip == 0x100_0000 && registers.rsi == 0x1_0000)
        #expect(registers.rbp == 0 && registers.rdi == 0)
        #expect(special.cs == GDT.code32Segment)
        #expect(special.ds == GDT.dataSegment)
        #expect(special.cr0 == 0x31 && special.cr4 == 0 && special.efer == 0)
    }
}

@Suite struct BzImageErrors {
    @Test func truncatedProtectedModeKernel() {
        let image = BzImageBuilder().build()
        #expect(kernelBootError(Array(image.dropLast(1))) == .truncatedKernel(size: 0x11FF, needed: 0x1200))
    }

    @Test func truncatedSetupSectors() {
        let image = BzImageBuilder().build()
        #expect(kernelBootError(Array(image.prefix(0x300))) == .truncatedKernel(size: 0x300, needed: 0xA00))
        #expect(kernelBootError(Array(image.prefix(0x207))) == .truncatedKernel(size: 0x207, needed: 0x208))
    }

    @Test func tooShortForTheSignatureIsUnrecognized() {
        #expect(kernelBootError(Array(BzImageBuilder().build().prefix(0x205))) == .unrecognizedKernel)
        #expect(kernelBootError([UInt8](repeating: 0x90, count: 0x4000)) == .unrecognizedKernel)
    }

    @Test func badBootSectorMagic() {
        var builder = BzImageBuilder()
        builder.bootFlag = 0x1234
        #expect(kernelBootError(builder.build()) == .badBootSectorMagic(0x1234))
    }

    @Test func protocolOlderThan206IsRefused() {
        var builder = BzImageBuilder()
        builder.version = 0x0205
        #expect(kernelBootError(builder.build()) == .protocolTooOld(0x0205))
    }

    @Test func zImageIsRefused() {
        var builder = BzImageBuilder()
        builder.loadFlags = 0
        #expect(kernelBootError(builder.build()) == .notLoadedHigh)
    }

    @Test func commandLineLongerThanCmdlineSize() {
        var builder = BzImageBuilder()
        builder.commandLineSize = 255
        #expect(kernelBootError(builder.build(), commandLine: String(repeating: "a", count: 256))
            == .commandLineTooLong(length: 256, limit: 255))
    }

    @Test func initrdLargerThanTheRoomBelowInitrdAddressMax() throws {
        var builder = BzImageBuilder()
        builder.initrdAddressMax = 0x037F_FFFF
        // The kernel ends at 20 MiB, leaving 36 MiB below the 56 MiB limit.
        let fits = Initrd(bytes: [UInt8](repeating: 1, count: 0x240_0000))
        #expect(try boot(builder, initrd: fits).initrdRange == 0x140_0000..<0x380_0000)
        let tooLarge = Initrd(bytes: [UInt8](repeating: 1, count: 0x240_0001))
        #expect(kernelBootError(builder.build(), initrd: tooLarge)
            == .initrdTooLarge(size: 0x240_0001, limit: 0x380_0000))
    }

    @Test func kernelRunningAtAPreferredAddressBeyondRAM() {
        var builder = BzImageBuilder()
        builder.preferredAddress = 0x2000_0000
        #expect(kernelBootError(builder.build()) == .kernelOutsideRAM(0x10_0000..<0x2040_0000))
    }

    @Test func kernelUnpackingBeyondRAM() {
        var builder = BzImageBuilder()
        builder.initSize = 0x1000_0000
        #expect(kernelBootError(builder.build()) == .kernelOutsideRAM(0x10_0000..<0x1100_0000))
    }

    @Test func tooManyMemoryMapEntries() {
        let map = (0..<129).map { E820Entry(address: UInt64($0) << 20, length: 1 << 20, kind: .ram) }
        #expect(kernelBootError(BzImageBuilder().build(), memoryMap: map)
            == .tooManyMemoryMapEntries(count: 129, limit: 128))
    }

    @Test func bootDataMustBeRAM() {
        let map = [E820Entry(address: 0x10_0000, length: 0xFF0_0000, kind: .ram)]
        #expect(kernelBootError(BzImageBuilder().build(), memoryMap: map) == .bootDataOutsideRAM)
    }

    @Test(arguments: [
        (KernelBootError.truncatedKernel(size: 0x11FF, needed: 0x1200),
         "truncated kernel: the file has 0x11ff bytes but its header describes 0x1200"),
        (.badBootSectorMagic(0x1234), "not a bzImage: boot sector signature is 0x1234, not 0xaa55"),
        (.protocolTooOld(0x0205), "Linux boot protocol 2.05 is too old (need 2.06 or later)"),
        (.protocolTooOld(0x0110), "Linux boot protocol 1.16 is too old (need 2.06 or later)"),
        (.commandLineTooLong(length: 256, limit: 255), "kernel command line is 256 bytes long; at most 255 fit"),
        (.initrdTooLarge(size: 0x240_0000, limit: 0x380_0000),
         "initrd of 0x2400000 bytes does not fit in guest RAM above the kernel and below 0x3800000"),
        (.kernelOverlaps(.firmware), "kernel overlaps the firmware area at 0xf0000-0xfffff"),
        (.kernelOverlaps(.bootArea), "kernel overlaps Hyve's boot area at 0x1000-0x7fff"),
        (.kernelOverlaps(.bootData), "kernel overlaps Hyve's kernel boot data at 0x10000-0x2ffff"),
        (.kernelOutsideRAM(0x10_0000..<0x1100_0000), "kernel at 0x100000-0x10ffffff is not in guest RAM"),
        (.image(.badMagic), "not an ELF file (bad magic)"),
    ])
    func errorsDescribeThemselvesInOneLine(error: KernelBootError, text: String) {
        #expect(error.description == text)
    }
}
