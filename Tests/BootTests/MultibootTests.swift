import Boot
import KVM
import Testing

private let initrd = Initrd(bytes: (0..<0x2800).map { UInt8(truncatingIfNeeded: $0 * 3) }, commandLine: "rootfs.cpio")
private let code: [UInt8] = (0..<0x100).map { UInt8(truncatingIfNeeded: $0 &+ 0x40) }
private let prologue = [UInt8](repeating: 0x90, count: 0x40)

/// A flat kernel loaded at 1 MiB from its first byte, its header 0x40 bytes in, with 4 KiB of bss.
private func flatKernel(flags: UInt32 = 0x0001_0003, header: UInt32 = 0x10_0040, load: UInt32 = 0x10_0000,
                        loadEnd: UInt32 = 0, bssEnd: UInt32 = 0x10_1160, entry: UInt32 = 0x10_0080) -> [UInt8] {
    prologue + multibootHeader(flags: flags, addresses: [header, load, loadEnd, bssEnd, entry]) + code
}

private func boot(_ kernel: [UInt8] = flatKernel(), initrd: Initrd? = initrd,
                  commandLine: String = "kernel -v") throws -> KernelBoot {
    try KernelBoot(kernel: kernel, initrd: initrd, commandLine: commandLine, memoryMap: standardMemoryMap,
                   rsdpAddress: hyveRSDP)
}

@Suite struct MultibootKernelBoot {
    @Test func flatKernelLoadsAtTheHeaderAddresses() throws {
        let kernel = flatKernel()
        let boot = try boot(kernel)
        #expect(boot.format == .multiboot)
        #expect(boot.entry == KernelEntry(mode: .protected, instructionPointer: 0x10_0080, rax: 0x2BAD_B002,
                                          rbx: 0x1_0000))
        #expect(boot.kernelRange == 0x10_0000..<0x10_1160)
        #expect(boot.initrdRange == 0xFFF_D000..<0xFFF_F800)
        let info = try #require(boot.written(at: 0x1_0000))
        #expect(boot.memoryWrites == [
            GDT.memoryWrite,
            MemoryWrite(address: 0x10_0000, bytes: kernel),
            MemoryWrite(address: 0x10_0160, bytes: [UInt8](repeating: 0, count: 0x1000)),
            MemoryWrite(address: 0x1_0000, bytes: info),
            MemoryWrite(address: 0x2_0000, bytes: Array("kernel -v".utf8) + [0]),
            MemoryWrite(address: 0x2_8000, bytes: Array("rootfs.cpio".utf8) + [0]),
            MemoryWrite(address: 0xFFF_D000, bytes: initrd.bytes),
        ])
    }

    @Test func informationDescribesMemoryCommandLineModuleMapAndLoader() throws {
        let info = try #require(try boot().written(at: 0x1_0000))
        #expect(info.count == 4096)
        #expect(info.littleEndianUInt32(at: 0) == 0x24D)
        #expect(info.littleEndianUInt32(at: 4) == 639)
        #expect(info.littleEndianUInt32(at: 8) == 0x3_FC00)
        #expect(info.littleEndianUInt32(at: 12) == 0)
        #expect(info.littleEndianUInt32(at: 16) == 0x2_0000)
        #expect(info.littleEndianUInt32(at: 20) == 1)
        #expect(info.littleEndianUInt32(at: 24) == 0x1_0080)
        #expect(info[28..<44].allSatisfy { $0 == 0 })
        #expect(info.littleEndianUInt32(at: 44) == 96)
        #expect(info.littleEndianUInt32(at: 48) == 0x1_0100)
        #expect(info[52..<64].allSatisfy { $0 == 0 })
        #expect(info.littleEndianUInt32(at: 64) == 0x1_0F00)
        #expect(info[68..<0x80].allSatisfy { $0 == 0 })

        #expect(info.littleEndianUInt32(at: 0x80) == 0xFFF_D000)
        #expect(info.littleEndianUInt32(at: 0x84) == 0xFFF_F800)
        #expect(info.littleEndianUInt32(at: 0x88) == 0x2_8000)
        #expect(info.littleEndianUInt32(at: 0x8C) == 0)

        let expectedMap: [(UInt64, UInt64, UInt32)] = [
            (0, 0x9_FC00, 1), (0x9_FC00, 0x400, 2), (0xF_0000, 0x1_0000, 2), (0x10_0000, 0xFF0_0000, 1),
        ]
        for (index, (address, length, type)) in expectedMap.enumerated() {
            let offset = 0x100 + index * 24
            #expect(info.littleEndianUInt32(at: offset) == 20)
            #expect(info.littleEndianUInt64(at: offset + 4) == address)
            #expect(info.littleEndianUInt64(at: offset + 12) == length)
            #expect(info.littleEndianUInt32(at: offset + 20) == type)
        }
        #expect(info.string(at: 0xF00) == "Hyve")
    }

    @Test func bootstrapProcessorEntersProtectedModeWithTheMagicInEAX() throws {
        let (registers, special) = try boot().bootstrapState()
        #expect(registers.rip == 0x10_0080)
        #expect(registers.rax == 0x2BAD_B002)
        #expect(registers.rbx == 0x1_0000)
        #expect(registers.rflags == 0x2)
        #expect(special.cs == GDT.code32Segment)
        #expect(special.ds == GDT.dataSegment && special.ss == GDT.dataSegment)
        #expect(special.cr0 == 0x31 && special.cr4 == 0 && special.efer == 0)
    }

    @Test func withoutInitrdThereAreNoModules() throws {
        let boot = try boot(initrd: nil, commandLine: "")
        let info = try #require(boot.written(at: 0x1_0000))
        #expect(info.littleEndianUInt32(at: 0) == 0x245)
        #expect(info.littleEndianUInt32(at: 20) == 0 && info.littleEndianUInt32(at: 24) == 0)
        #expect(boot.written(at: 0x2_0000) == [0])
        #expect(boot.initrdRange == nil)
    }

    @Test func loadStartsBeforeTheHeaderAndEndsAtLoadEnd() throws {
        // 0x200 bytes not loaded, then 0x80 bytes loaded at 2 MiB with the header 0x10 bytes in.
        let kernel = [UInt8](repeating: 0xEE, count: 0x1F0)
            + [UInt8](repeating: 0x11, count: 0x10)
            + multibootHeader(flags: 0x0001_0000, addresses: [0x20_0010, 0x20_0000, 0x20_0080, 0, 0x20_0040])
            + [UInt8](repeating: 0x22, count: 0x200)
        let boot = try boot(kernel, initrd: nil)
        #expect(boot.memoryWrites[1] == MemoryWrite(address: 0x20_0000, bytes: Array(kernel[0x1F0..<0x270])))
        #expect(boot.kernelRange == 0x20_0000..<0x20_0080)
        #expect(boot.entry.instructionPointer == 0x20_0040)
    }

    @Test func elfKernelLoadsByItsProgramHeaders() throws {
        let header = multibootHeader(flags: 0x0000_0003)
        let kernel = ELFBuilder(is64: false, entry: 0x10_0010, segments: [
            TestSegment(physicalAddress: 0x10_0000, data: header + code, memorySize: 0x1000),
        ]).build()
        let boot = try boot(kernel)
        #expect(boot.format == .multiboot)
        #expect(boot.entry.instructionPointer == 0x10_0010)
        #expect(boot.memoryWrites[1] == MemoryWrite(address: 0x10_0000, bytes: header + code))
        #expect(boot.kernelRange == 0x10_0000..<0x10_1000)
    }

    @Test func pvhNoteWinsOverAMultibootHeader() throws {
        let kernel = ELFBuilder(is64: false, entry: 0x10_0010, segments: [
            TestSegment(physicalAddress: 0x10_0000, data: multibootHeader(flags: 0x3) + code),
            TestSegment(type: 4, physicalAddress: 0, data: elfNote(name: "Xen", type: 18, descriptor: [0x20, 0, 0x10, 0])),
        ]).build()
        let boot = try boot(kernel)
        #expect(boot.format == .pvh)
        #expect(boot.entry.instructionPointer == 0x10_0020)
    }

    @Test func videoModeRequestIsAcceptedAndLeftAtTextMode() throws {
        let info = try #require(try boot(flatKernel(flags: 0x0001_0007)).written(at: 0x1_0000))
        #expect(info.littleEndianUInt32(at: 0) & 0x1800 == 0)
    }
}

@Suite struct MultibootErrors {
    @Test func badChecksum() {
        let kernel = prologue + multibootHeader(flags: 0x0001_0000, checksumError: 1) + code
        #expect(kernelBootError(kernel) == .badMultibootChecksum(offset: 0x40))
        #expect(KernelBootError.badMultibootChecksum(offset: 0x40).description
            == "multiboot header at offset 0x40 has a bad checksum")
    }

    @Test func unsupportedRequirement() {
        #expect(kernelBootError(flatKernel(flags: 0x0001_0008)) == .unsupportedMultibootFlags(0x0001_0008))
    }

    @Test func flatKernelWithoutLoadAddresses() {
        #expect(kernelBootError(prologue + multibootHeader(flags: 0x3) + code) == .multibootNeedsLoadAddresses)
    }

    @Test func headerCutBeforeItsAddresses() {
        let kernel = Array(multibootHeader(flags: 0x0001_0000, addresses: [0x10_0000, 0x10_0000, 0, 0, 0x10_0000])
            .prefix(20))
        #expect(kernelBootError(kernel) == .truncatedKernel(size: 20, needed: 32))
    }

    @Test func loadEndBeyondTheFile() {
        #expect(kernelBootError(flatKernel(loadEnd: 0x10_0200)) == .truncatedKernel(size: 0x160, needed: 0x200))
    }

    /// Header below the load address, load starting before the file, load end below load, bss end below
    /// the loaded bytes' end.
    private static let inconsistent: [(UInt32, UInt32, UInt32, UInt32)] = [
        (0x10_0040, 0x10_0041, 0, 0),
        (0x10_0040, 0x10_0000 - 1, 0, 0),
        (0x10_0040, 0x10_0000, 0x0F_FFFF, 0),
        (0x10_0040, 0x10_0000, 0, 0x10_0100),
    ]

    @Test(arguments: inconsistent)
    func inconsistentAddresses(header: UInt32, load: UInt32, loadEnd: UInt32, bssEnd: UInt32) {
        #expect(kernelBootError(flatKernel(header: header, load: load, loadEnd: loadEnd, bssEnd: bssEnd))
            == .badMultibootAddresses)
    }

    @Test func headerOutsideTheFirst8KiB() {
        let late = [UInt8](repeating: 0, count: 8192) + multibootHeader(flags: 0x3)
        #expect(kernelBootError(late) == .unrecognizedKernel)
        let straddling = [UInt8](repeating: 0, count: 8184) + multibootHeader(flags: 0x3)
        #expect(kernelBootError(straddling) == .unrecognizedKernel)
    }

    @Test func entryOutsideTheLoadedBytes() {
        #expect(kernelBootError(flatKernel(entry: 0x30_0000)) == .image(.entryOutsideProgram(0x30_0000)))
    }

    @Test func kernelInTheFirmwareArea() {
        #expect(kernelBootError(flatKernel(header: 0xF_0040, load: 0xF_0000, bssEnd: 0)) == .kernelOverlaps(.firmware))
    }

    @Test func initrdLargerThanRAM() {
        let initrd = Initrd(bytes: [UInt8](repeating: 0, count: 0x1000_0000))
        #expect(kernelBootError(flatKernel(), initrd: initrd) == .initrdTooLarge(size: 0x1000_0000, limit: 0xFFFF_FFFF))
    }
}
