import Boot
import KVM
import Testing

private let code: [UInt8] = (0..<0x100).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
private let initrd = Initrd(bytes: (0..<0x3000).map { UInt8(truncatingIfNeeded: $0 >> 3) }, commandLine: "initrd.img")

/// A vmlinux-like ELF64: code linked high but loaded at 16 MiB, with a GNU note before the PVH note.
private func vmlinux(entryNote: [UInt8]? = nil, loadAddress: UInt64 = 0x100_0000, bss: UInt64 = 0x1000) -> [UInt8] {
    let entryNote = entryNote ?? elfNote(name: "Xen", type: 18, descriptor: le64(loadAddress + 0x40))
    return ELFBuilder(is64: true, entry: 0xFFFF_FFFF_8100_0000, segments: [
        TestSegment(physicalAddress: loadAddress, virtualAddress: 0xFFFF_FFFF_8100_0000, data: code,
                    memorySize: UInt64(code.count) + bss),
        TestSegment(type: 4, physicalAddress: 0,
                    data: elfNote(name: "GNU", type: 3, descriptor: [1, 2, 3, 4, 5, 6, 7, 8]) + entryNote),
    ]).build()
}

private func le64(_ value: UInt64) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.appendLittleEndian(value)
    return bytes
}

private func boot(_ kernel: [UInt8] = vmlinux(), initrd: Initrd? = initrd,
                  commandLine: String = "console=hvc0", memoryMap: [E820Entry] = standardMemoryMap) throws -> KernelBoot {
    try KernelBoot(kernel: kernel, initrd: initrd, commandLine: commandLine, memoryMap: memoryMap,
                   rsdpAddress: hyveRSDP)
}

@Suite struct PVHKernelBoot {
    @Test func vmlinuxLoadsAtItsPhysicalAddressesAndEntersAtTheNote() throws {
        let boot = try boot()
        #expect(boot.format == .pvh)
        #expect(boot.entry == KernelEntry(mode: .protected, instructionPointer: 0x100_0040, rbx: 0x1_0000))
        #expect(boot.kernelRange == 0x100_0000..<0x100_1100)
        #expect(boot.initrdRange == 0xFFF_D000..<0x1000_0000)
        let startInfo = try #require(boot.written(at: 0x1_0000))
        #expect(boot.memoryWrites == [GDT.memoryWrite] + [
            MemoryWrite(address: 0x100_0000, bytes: code),
            MemoryWrite(address: 0x100_0100, bytes: [UInt8](repeating: 0, count: 0x1000)),
            MemoryWrite(address: 0x1_0000, bytes: startInfo),
            MemoryWrite(address: 0x2_0000, bytes: Array("console=hvc0".utf8) + [0]),
            MemoryWrite(address: 0x2_8000, bytes: Array("initrd.img".utf8) + [0]),
            MemoryWrite(address: 0xFFF_D000, bytes: initrd.bytes),
        ])
    }

    @Test func startInfoDescribesCommandLineRSDPModuleAndMemoryMap() throws {
        let page = try #require(try boot().written(at: 0x1_0000))
        #expect(page.count == 4096)
        #expect(page.littleEndianUInt32(at: 0x00) == 0x336E_C578)
        #expect(page.littleEndianUInt32(at: 0x04) == 1)
        #expect(page.littleEndianUInt32(at: 0x08) == 0)
        #expect(page.littleEndianUInt32(at: 0x0C) == 1)
        #expect(page.littleEndianUInt64(at: 0x10) == 0x1_0040)
        #expect(page.littleEndianUInt64(at: 0x18) == 0x2_0000)
        #expect(page.littleEndianUInt64(at: 0x20) == hyveRSDP)
        #expect(page.littleEndianUInt64(at: 0x28) == 0x1_0080)
        #expect(page.littleEndianUInt32(at: 0x30) == 4)
        #expect(page.littleEndianUInt32(at: 0x34) == 0)

        #expect(page.littleEndianUInt64(at: 0x40) == 0xFFF_D000)
        #expect(page.littleEndianUInt64(at: 0x48) == 0x3000)
        #expect(page.littleEndianUInt64(at: 0x50) == 0x2_8000)
        #expect(page.littleEndianUInt64(at: 0x58) == 0)

        let expectedMap: [(UInt64, UInt64, UInt32)] = [
            (0, 0x9_FC00, 1), (0x9_FC00, 0x400, 2), (0xF_0000, 0x1_0000, 2), (0x10_0000, 0xFF0_0000, 1),
        ]
        for (index, (address, length, type)) in expectedMap.enumerated() {
            let offset = 0x80 + index * 24
            #expect(page.littleEndianUInt64(at: offset) == address)
            #expect(page.littleEndianUInt64(at: offset + 8) == length)
            #expect(page.littleEndianUInt32(at: offset + 16) == type)
            #expect(page.littleEndianUInt32(at: offset + 20) == 0)
        }
        #expect(page[(0x80 + 4 * 24)...].allSatisfy { $0 == 0 })
    }

    @Test func bootstrapProcessorEntersFlatProtectedModeWithStartInfoInEBX() throws {
        let (registers, special) = try boot().bootstrapState()
        #expect(registers.rip == 0x100_0040)
        #expect(registers.rbx == 0x1_0000)
        #expect(registers.rax == 0 && registers.rsi == 0 && registers.rbp == 0)
        #expect(registers.rflags == 0x2)
        #expect(special.cs == GDT.code32Segment)
        #expect(special.ds == GDT.dataSegment && special.es == GDT.dataSegment && special.ss == GDT.dataSegment)
        #expect(special.cr0 == 0x31 && special.cr4 == 0 && special.efer == 0)
        #expect(special.tr == Segment(base: 0, limit: 0x67, selector: 0, type: 0xB, present: true, codeOrData: false))
    }

    @Test func withoutInitrdThereIsNoModuleList() throws {
        let boot = try boot(initrd: nil, commandLine: "")
        let page = try #require(boot.written(at: 0x1_0000))
        #expect(page.littleEndianUInt32(at: 0x0C) == 0)
        #expect(page.littleEndianUInt64(at: 0x10) == 0)
        #expect(page[0x40..<0x60].allSatisfy { $0 == 0 })
        #expect(boot.written(at: 0x2_0000) == [0])
        #expect(boot.written(at: 0x2_8000) == nil)
        #expect(boot.initrdRange == nil)
    }

    @Test func initrdWithoutModuleStringGetsNoStringAddress() throws {
        let boot = try boot(initrd: Initrd(bytes: [1, 2, 3]))
        let page = try #require(boot.written(at: 0x1_0000))
        #expect(page.littleEndianUInt64(at: 0x40) == 0xFFF_F000)
        #expect(page.littleEndianUInt64(at: 0x48) == 3)
        #expect(page.littleEndianUInt64(at: 0x50) == 0)
        #expect(boot.written(at: 0x2_8000) == nil)
    }

    @Test func fourByteNoteInAnELF32Kernel() throws {
        let kernel = ELFBuilder(is64: false, entry: 0x10_0000, segments: [
            TestSegment(physicalAddress: 0x10_0000, data: code),
            TestSegment(type: 4, physicalAddress: 0, data: elfNote(name: "Xen", type: 18, descriptor: [0x10, 0, 0x10, 0])),
        ]).build()
        let boot = try boot(kernel)
        #expect(boot.format == .pvh)
        #expect(boot.entry.instructionPointer == 0x10_0010)
    }

    @Test func initrdGoesBelowAKernelAtTheTopOfRAM() throws {
        let boot = try boot(vmlinux(loadAddress: 0x3F0_0000, bss: 0xF_FF00), memoryMap: memoryMap(top: 0x400_0000))
        #expect(boot.kernelRange == 0x3F0_0000..<0x400_0000)
        #expect(boot.initrdRange == 0x3EF_D000..<0x3F0_0000)
    }
}

@Suite struct PVHBootErrors {
    @Test func noteWithAnOddDescriptor() {
        let kernel = vmlinux(entryNote: elfNote(name: "Xen", type: 18, descriptor: [1, 2]))
        #expect(kernelBootError(kernel) == .badPVHNote(descriptorSize: 2))
    }

    @Test func elfWithoutPVHNoteOrMultibootHeader() {
        let kernel = vmlinux(entryNote: elfNote(name: "Xen", type: 17, descriptor: le64(0x100_0040)))
        #expect(kernelBootError(kernel) == .noPVHNoteOrMultibootHeader)
        #expect(KernelBootError.noPVHNoteOrMultibootHeader.description
            == "ELF kernel has neither a PVH entry note (Xen, type 18) nor a multiboot header")
    }

    @Test func truncatedELF() {
        #expect(kernelBootError(Array(vmlinux().prefix(40))) == .image(.truncatedHeader))
        let kernel = vmlinux()
        #expect(kernelBootError(Array(kernel.prefix(kernel.count - 0x40))) == .image(.truncatedSegment(index: 0)))
        // The note segment is the file's last 0x30 bytes.
        #expect(kernelBootError(Array(kernel.prefix(kernel.count - 8)))
            == .truncatedKernel(size: kernel.count - 8, needed: UInt64(kernel.count)))
    }

    @Test func entryOutsideTheKernel() {
        let kernel = vmlinux(entryNote: elfNote(name: "Xen", type: 18, descriptor: le64(0x200_0000)))
        #expect(kernelBootError(kernel) == .image(.entryOutsideProgram(0x200_0000)))
    }

    @Test(arguments: [
        (UInt64(0x2000), KernelLayout.ReservedArea.bootArea),
        (0x1_8000, .bootData),
        (0xE_FF80, .firmware),
        (0xF_8000, .firmware),
    ])
    func kernelOverlappingReservedMemory(address: UInt64, area: KernelLayout.ReservedArea) {
        #expect(kernelBootError(vmlinux(loadAddress: address, bss: 0)) == .kernelOverlaps(area))
    }

    @Test func kernelBeyondRAM() {
        #expect(kernelBootError(vmlinux(loadAddress: 0xFFF_FF00)) == .kernelOutsideRAM(0xFFF_FF00..<0x1000_1000))
    }

    @Test func commandLineTooLong() {
        #expect(kernelBootError(vmlinux(), commandLine: String(repeating: "q", count: 0x8000))
            == .commandLineTooLong(length: 0x8000, limit: 0x7FFF))
    }

    @Test func moduleStringTooLong() {
        let initrd = Initrd(bytes: [1], commandLine: String(repeating: "m", count: 0x8000))
        #expect(kernelBootError(vmlinux(), initrd: initrd) == .moduleCommandLineTooLong(length: 0x8000, limit: 0x7FFF))
    }

    @Test func initrdLargerThanFreeRAM() {
        // 15 MiB free below the kernel at 16 MiB, less than 1 MiB above it.
        let fits = Initrd(bytes: [UInt8](repeating: 0, count: 0xF0_0000))
        #expect(kernelBootError(vmlinux(), initrd: fits, memoryMap: memoryMap(top: 0x110_0000)) == nil)
        let initrd = Initrd(bytes: [UInt8](repeating: 0, count: 0xF0_0001))
        #expect(kernelBootError(vmlinux(), initrd: initrd, memoryMap: memoryMap(top: 0x110_0000))
            == .initrdTooLarge(size: 0xF0_0001, limit: 0x1_0000_0000))
    }
}

@Suite struct LinuxKernelRecognition {
    @Test func bzImageIsLinux() {
        #expect(KernelBoot.isLinux(BzImageBuilder().build()))
    }

    @Test func vmlinuxWithALinuxNoteIsLinux() {
        let kernel = vmlinux(entryNote: elfNote(name: "Linux", type: 0x100, descriptor: [0, 0, 0, 0])
            + elfNote(name: "Xen", type: 18, descriptor: le64(0x100_0040)))
        #expect(KernelBoot.isLinux(kernel))
    }

    @Test func pvhKernelWithoutALinuxNoteIsNotLinux() {
        #expect(!KernelBoot.isLinux(vmlinux()))
    }

    @Test func multibootKernelAndGarbageAreNotLinux() {
        #expect(!KernelBoot.isLinux(multibootHeader(flags: 0) + [UInt8](repeating: 0, count: 64)))
        #expect(!KernelBoot.isLinux([0x7F, 0x45, 0x4C, 0x46]))
        #expect(!KernelBoot.isLinux([]))
    }
}
