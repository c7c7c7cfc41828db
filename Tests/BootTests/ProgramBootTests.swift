import Boot
import KVM
import Testing

private let code: [UInt8] = [0xFA, 0xF4, 0xEB, 0xFD]

private func flatBoot(_ mode: CPUMode, at address: UInt64? = nil) throws -> ProgramBoot {
    try ProgramBoot(image: ProgramImage.flat(code, loadAddress: address ?? mode.defaultLoadAddress), mode: mode)
}

private func bootError(_ image: ProgramImage, _ mode: CPUMode) -> BootError? {
    do {
        _ = try ProgramBoot(image: image, mode: mode)
        return nil
    } catch {
        return error
    }
}

/// A state that differs from everything `entryState` should produce, to show it overwrites what it owns
/// and keeps what it does not.
private func dirtyState() -> (Registers, SpecialRegisters) {
    var registers = Registers()
    registers.rax = 0x1111
    registers.rdx = 0x600
    registers.rip = 0xDEAD
    registers.rsp = 0xBEEF
    registers.rdi = 99
    registers.rflags = 0x246
    var special = SpecialRegisters()
    let junk = Segment(base: 0x9999, limit: 0x1, selector: 0x77, type: 0x5, present: false)
    special.cs = junk; special.ds = junk; special.es = junk; special.fs = junk; special.gs = junk; special.ss = junk
    special.tr = junk; special.ldt = junk
    special.gdt = DescriptorTable(base: 0x5555, limit: 7)
    special.idt = DescriptorTable(base: 0x6666, limit: 7)
    special.cr0 = 0x6000_0011
    special.cr2 = 0x1234
    special.cr3 = 0xABC000
    special.cr4 = 0x2000
    special.cr8 = 5
    special.efer = 0xD01
    special.apicBase = 0xFEE0_0900
    special.interruptBitmap = [1, 2, 3, 4]
    return (registers, special)
}

private func entryState(_ boot: ProgramBoot, vcpu: Int) -> (Registers, SpecialRegisters) {
    var (registers, special) = dirtyState()
    boot.entryState(vcpu: vcpu, registers: &registers, special: &special)
    return (registers, special)
}

private let busyTSS = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB, present: true, codeOrData: false)
private let ldt = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x2, present: true, codeOrData: false)

@Suite struct BootMemoryWrites {
    @Test func longModeWritesGDTPageTablesAndProgram() throws {
        let writes = try flatBoot(.long).memoryWrites
        #expect(writes == [GDT.memoryWrite] + PageTables.memoryWrites + [MemoryWrite(address: 0x10_0000, bytes: code)])
    }

    @Test(arguments: [CPUMode.real, .protected])
    func otherModesWriteGDTAndProgramOnly(mode: CPUMode) throws {
        let boot = try flatBoot(mode)
        #expect(boot.memoryWrites == [GDT.memoryWrite, MemoryWrite(address: mode.defaultLoadAddress, bytes: code)])
    }

    @Test func zeroFillFollowsTheFileBytes() throws {
        let image = ProgramImage(segments: [
            LoadSegment(address: 0x10_0000, bytes: code, zeroFill: 0x10),
            LoadSegment(address: 0x20_0000, bytes: [], zeroFill: 0x8),
        ], entry: 0x10_0000, format: .elf32)
        let writes = try ProgramBoot(image: image, mode: .protected).memoryWrites
        #expect(writes == [
            GDT.memoryWrite,
            MemoryWrite(address: 0x10_0000, bytes: code),
            MemoryWrite(address: 0x10_0004, bytes: [UInt8](repeating: 0, count: 0x10)),
            MemoryWrite(address: 0x20_0000, bytes: [UInt8](repeating: 0, count: 0x8)),
        ])
    }

    @Test func largeBssIsClearedInChunksCoveringExactlyItsRange() throws {
        let bss: UInt64 = (5 << 20) + 3
        let image = ProgramImage(segments: [LoadSegment(address: 0x10_0000, bytes: code, zeroFill: bss)],
                                 entry: 0x10_0000, format: .elf64)
        let zeroWrites = try ProgramBoot(image: image, mode: .long).memoryWrites.filter { $0.address >= 0x10_0004 }
        var next: UInt64 = 0x10_0004
        for write in zeroWrites {
            #expect(write.address == next)
            next += UInt64(write.bytes.count)
        }
        #expect(next == 0x10_0004 + bss)
    }

    @Test func requiredMemoryCoversStacksAndProgram() throws {
        #expect(try flatBoot(.real).requiredMemorySize == 0x8004)
        #expect(try flatBoot(.long).requiredMemorySize == 0x10_0004)
        #expect(try flatBoot(.protected, at: 0x8000).requiredMemorySize == 0xA_0000)
        #expect(try flatBoot(.real, at: 0x500).requiredMemorySize == 0x8000)
    }
}

@Suite struct RealModeEntry {
    @Test(arguments: [(0, 0x8000), (1, 0x7C00), (2, 0x7800), (31, 0x400)])
    func vcpusStartAtTheEntryWithOwnStacks(vcpu: Int, stack: UInt64) throws {
        let (registers, special) = entryState(try flatBoot(.real), vcpu: vcpu)
        #expect(registers.rip == 0x8000)
        #expect(registers.rsp == stack)
        #expect(registers.rdi == UInt64(vcpu))
        #expect(registers.rflags == 0x2)
        #expect(special.cs == Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB))
    }

    @Test func segmentsAndControlRegistersAreRealMode() throws {
        let (_, special) = entryState(try flatBoot(.real), vcpu: 0)
        let data = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x3)
        #expect([special.ds, special.es, special.fs, special.gs, special.ss] == Array(repeating: data, count: 5))
        #expect(special.cr0 == 0x30)
        #expect(special.cr3 == 0)
        #expect(special.cr4 == 0)
        #expect(special.efer == 0)
        #expect(special.idt == DescriptorTable(base: 0, limit: 0x3FF))
        #expect(special.tr == busyTSS)
        #expect(special.ldt == ldt)
    }

    @Test func entryAbove64KiBSplitsIntoCodeSegmentAndOffset() throws {
        let (registers, special) = entryState(try flatBoot(.real, at: 0x1_2345), vcpu: 0)
        #expect(special.cs.base == 0x1_0000)
        #expect(special.cs.selector == 0x1000)
        #expect(registers.rip == 0x2345)
    }

    @Test func stacksOfEntriesAbove64KiBStartAtTheTopOfTheStackSegment() throws {
        let boot = try flatBoot(.real, at: 0x9_0000)
        #expect(boot.maximumVCPUs == 64)
        #expect(boot.stackPointer(vcpu: 0) == 0)
        #expect(boot.stackPointer(vcpu: 1) == 0xFC00)
        #expect(boot.stackPointer(vcpu: 63) == 0x400)
    }

    @Test func everyVCPUBelowTheLimitHasAStackAboveZero() throws {
        let boot = try flatBoot(.real, at: 0x8100)
        #expect(boot.maximumVCPUs == 33)
        #expect(boot.stackPointer(vcpu: 32) == 0x100)
        #expect(try flatBoot(.real).maximumVCPUs == 32)
    }

    @Test func entryAt1MiBOrAboveIsRefused() throws {
        let image = try ProgramImage.flat(code, loadAddress: 0x10_0000)
        #expect(bootError(image, .real) == .realModeEntryTooHigh(0x10_0000))
        #expect(BootError.realModeEntryTooHigh(0x10_0000).description == "real-mode entry point 0x100000 is not below 1 MiB")
        #expect(bootError(try ProgramImage.flat(code, loadAddress: 0xF_FFFC), .real) == nil)
    }
}

@Suite struct ProtectedModeEntry {
    @Test(arguments: [(0, 0xA_0000), (1, 0x9_C000), (37, 0xC000)])
    func vcpusStartAtTheEntryWithOwnStacks(vcpu: Int, stack: UInt64) throws {
        let (registers, _) = entryState(try flatBoot(.protected), vcpu: vcpu)
        #expect(registers.rip == 0x10_0000)
        #expect(registers.rsp == stack)
        #expect(registers.rdi == UInt64(vcpu))
        #expect(registers.rflags == 0x2)
    }

    @Test func stacksStopAboveTheBootAreaAndBelowTheLegacyHole() throws {
        let boot = try flatBoot(.long)
        #expect(boot.maximumVCPUs == 38)
        #expect(boot.stackPointer(vcpu: 37) - 0x4000 == ProgramBoot.bootArea.upperBound)
    }

    @Test func flatSegmentsFromHyvesGDTWithPagingOff() throws {
        let (_, special) = entryState(try flatBoot(.protected), vcpu: 0)
        #expect(special.cs == GDT.code32Segment)
        #expect([special.ds, special.es, special.fs, special.gs, special.ss]
            == Array(repeating: GDT.dataSegment, count: 5))
        #expect(special.gdt == DescriptorTable(base: 0x1000, limit: 31))
        #expect(special.idt == DescriptorTable(base: 0, limit: 0))
        #expect(special.cr0 == 0x31)
        #expect(special.cr3 == 0)
        #expect(special.cr4 == 0)
        #expect(special.efer == 0)
        #expect(special.tr == busyTSS)
        #expect(special.ldt == ldt)
    }

    @Test func thirtyEightVCPUsGetStacks() throws {
        #expect(try flatBoot(.protected).maximumVCPUs == 38)
    }
}

@Suite struct LongModeEntry {
    @Test(arguments: [(0, 0xA_0000), (3, 0x9_4000)])
    func vcpusStartAtTheEntryWithOwnStacks(vcpu: Int, stack: UInt64) throws {
        let (registers, _) = entryState(try flatBoot(.long), vcpu: vcpu)
        #expect(registers.rip == 0x10_0000)
        #expect(registers.rsp == stack)
        #expect(registers.rdi == UInt64(vcpu))
        #expect(registers.rflags == 0x2)
    }

    @Test func pagingIsOnWithHyvesIdentityMapAnd64BitCode() throws {
        let (_, special) = entryState(try flatBoot(.long), vcpu: 1)
        #expect(special.cs == GDT.code64Segment)
        #expect(special.cs.long && !special.cs.defaultBig)
        #expect([special.ds, special.es, special.fs, special.gs, special.ss]
            == Array(repeating: GDT.dataSegment, count: 5))
        #expect(special.gdt == DescriptorTable(base: 0x1000, limit: 31))
        #expect(special.idt == DescriptorTable(base: 0, limit: 0))
        #expect(special.cr0 == 0x8000_0031)
        #expect(special.cr3 == 0x2000)
        #expect(special.cr4 == 0x20)
        #expect(special.efer == 0x500)
        #expect(special.tr == busyTSS)
        #expect(special.ldt == ldt)
    }

    @Test func elfEntryIsUsedAsIs() throws {
        let image = ProgramImage(segments: [LoadSegment(address: 0x20_0000, bytes: [UInt8](repeating: 0x90, count: 64))],
                                 entry: 0x20_0010, format: .elf64)
        let (registers, _) = entryState(try ProgramBoot(image: image, mode: .long), vcpu: 0)
        #expect(registers.rip == 0x20_0010)
    }
}

@Suite struct EntryStateKeepsWhatItDoesNotOwn {
    @Test(arguments: CPUMode.allCases)
    func unrelatedRegistersSurvive(mode: CPUMode) throws {
        let (before, beforeSpecial) = dirtyState()
        let (registers, special) = entryState(try flatBoot(mode), vcpu: 0)
        #expect(registers.rax == before.rax)
        #expect(registers.rdx == before.rdx)
        #expect(special.apicBase == beforeSpecial.apicBase)
        #expect(special.interruptBitmap == beforeSpecial.interruptBitmap)
        #expect(special.cr2 == beforeSpecial.cr2)
        #expect(special.cr8 == beforeSpecial.cr8)
    }
}

@Suite struct BootValidation {
    @Test(arguments: [
        LoadSegment(address: 0x1000, bytes: code),
        LoadSegment(address: 0x7FFF, bytes: code),
        LoadSegment(address: 0x0, bytes: code, zeroFill: 0x1000),
        LoadSegment(address: 0x0, bytes: [UInt8](repeating: 0, count: 0x9000)),
    ])
    func segmentsReachingIntoTheBootAreaAreRefused(segment: LoadSegment) {
        let image = ProgramImage(segments: [LoadSegment(address: 0x10_0000, bytes: code), segment],
                                 entry: 0x10_0000, format: .elf64)
        for mode in CPUMode.allCases where mode != .real {
            #expect(bootError(image, mode) == .overlapsBootArea)
        }
        #expect(BootError.overlapsBootArea.description == "program overlaps Hyve's boot area at 0x1000-0x7fff")
    }

    @Test func segmentsTouchingTheBootAreaFromEitherSideAreAccepted() throws {
        let image = ProgramImage(segments: [
            LoadSegment(address: 0x500, bytes: code, zeroFill: 0x1000 - 0x504),
            LoadSegment(address: 0x8000, bytes: code),
        ], entry: 0x8000, format: .flat)
        for mode in CPUMode.allCases {
            #expect(bootError(image, mode) == nil)
        }
    }

    @Test func entryOutsideTheProgramIsRefused() {
        let image = ProgramImage(segments: [LoadSegment(address: 0x10_0000, bytes: code, zeroFill: 0x100)],
                                 entry: 0x10_0004, format: .elf64)
        #expect(bootError(image, .long) == .entryOutsideProgram(0x10_0004))
        #expect(BootError.entryOutsideProgram(0x10_0004).description
            == "entry point 0x100004 is not inside a loaded segment of the program")
    }

    @Test func entryAbove4GiBIsRefusedOutsideRealMode() {
        let image = ProgramImage(segments: [LoadSegment(address: 1 << 32, bytes: code)], entry: 1 << 32, format: .elf64)
        #expect(bootError(image, .long) == .entryAbove4GiB(1 << 32))
        #expect(bootError(image, .protected) == .entryAbove4GiB(1 << 32))
    }
}

extension LoadSegment: CustomTestStringConvertible {
    /// Keeps test logs short: a segment's bytes can run to tens of kilobytes.
    public var testDescription: String {
        "segment at 0x\(String(address, radix: 16)) (\(bytes.count) bytes + \(zeroFill) zero-filled)"
    }
}
