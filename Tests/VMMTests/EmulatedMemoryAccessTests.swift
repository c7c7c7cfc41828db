import Testing
import KVM
@testable import VMM

/// How emulated instructions reach memory: page-crossing operands, faults that leave everything as
/// it was, segmentation, alignment checks, MMIO, and the string instructions.
@Suite struct EmulatedMemoryAccessTests {
    let machine: EmulationMachine
    /// Eight bytes before a page boundary in the 4 KiB-page region.
    static let boundary: UInt64 = EmulationMachine.smallPages + 0x1000
    static let beforeBoundary = boundary - 4

    init() throws {
        machine = try EmulationMachine()
    }

    @Test func anOperandCrossingAPageGoesToBothPagesTranslations() throws {
        // Map the second page elsewhere, so the split follows each page's translation.
        try machine.store64(0x30_0000 | 0x7, at: EmulationMachine.pageTable + 8)
        machine.registers.rax = Self.beforeBoundary
        machine.registers.rcx = 0x8877_6655_4433_2211
        #expect(try machine.run([0x48, 0x89, 0x08]) == .completed)
        #expect(try machine.memory.read(Self.beforeBoundary, count: 4) == [0x11, 0x22, 0x33, 0x44])
        #expect(try machine.memory.read(0x30_0000, count: 4) == [0x55, 0x66, 0x77, 0x88])
        #expect(try machine.run([0x48, 0x8B, 0x10]) == .completed)
        #expect(machine.registers.rdx == 0x8877_6655_4433_2211)
    }

    @Test func aFaultOnTheSecondPageLeavesMemoryAndRegistersUnchanged() throws {
        try machine.unmapPage(Self.boundary)
        try machine.store64(0xAAAA_AAAA_AAAA_AAAA, at: Self.beforeBoundary - 4)
        machine.registers.rax = Self.beforeBoundary
        machine.registers.rcx = 0x8877_6655_4433_2211
        let before = machine.registers
        let outcome = try machine.run([0x48, 0x89, 0x08])
        #expect(outcome == .exception(GuestException(vector: 14, errorCode: 0x2, faultAddress: Self.boundary)))
        #expect(machine.registers == before)
        #expect(try machine.load64(Self.beforeBoundary - 4) == 0xAAAA_AAAA_AAAA_AAAA)
        // A read-modify-write of a read-only page faults before anything changes, too.
        try machine.makeReadOnly(Self.beforeBoundary)
        try machine.store64(1, at: Self.beforeBoundary - 8)
        machine.registers.rax = Self.beforeBoundary - 8
        // CR0.WP makes read-only pages binding on supervisor writes.
        #expect(try machine.run([0x48, 0xFF, 0x00]) == .exception(GuestException(vector: 14, errorCode: 0x3,
                                                                                    faultAddress: Self.beforeBoundary - 8)))
        #expect(try machine.load64(Self.beforeBoundary - 8) == 1)
        #expect(machine.registers.rflags == before.rflags)
    }

    @Test func userModeAccessToASupervisorPageFaultsWithTheUserBit() throws {
        try machine.makeSupervisorOnly(Self.boundary)
        machine.specialRegisters.ss.dpl = 3
        machine.specialRegisters.cs.dpl = 3
        machine.registers.rax = Self.boundary
        #expect(try machine.run([0x8B, 0x08]) == .exception(GuestException(vector: 14, errorCode: 0x5,
                                                                              faultAddress: Self.boundary)))
    }

    @Test func nonCanonicalAddressesRaiseGPOrSSThroughRSPAndRBP() throws {
        machine.registers.rax = 0x0000_8000_0000_0000
        #expect(try machine.run([0x8B, 0x08]) == .exception(.generalProtection()))
        machine.registers.rbp = 0x0000_8000_0000_0000
        #expect(try machine.run([0x8B, 0x4D, 0x00]) == .exception(.stackFault()))
        // FS adds its base first.
        machine.specialRegisters.fs.base = 0xFFFF_8000_0000_0000
        machine.registers.rax = 0x1_0000
        #expect(try machine.run([0x64, 0x8B, 0x08]) == .exception(
            GuestException(vector: 14, errorCode: 0, faultAddress: 0xFFFF_8000_0001_0000)))
    }

    @Test func misalignedUserAccessesWithAMAndACRaiseAlignmentCheck() throws {
        machine.specialRegisters.ss.dpl = 3
        machine.specialRegisters.cs.dpl = 3
        machine.specialRegisters.cr0 |= 1 << 18
        machine.registers.rflags |= RFLAGS.alignmentCheck
        machine.registers.rax = 0x1_0002
        #expect(try machine.run([0x8B, 0x08]) == .exception(.alignmentCheck))
        #expect(try machine.run([0x66, 0x8B, 0x08]) == .completed)
    }

    @Test func protectedModeSegmentsCheckLimitsAndTypes() throws {
        let machine = try EmulationMachine(.protected32)
        machine.specialRegisters.ds.limit = 0xFFF
        machine.specialRegisters.ds.base = 0x2_0000
        machine.registers.rax = 0xFFC
        try machine.store64(0x1234, at: 0x2_0FFC)
        #expect(try machine.run([0x8B, 0x08]) == .completed)
        #expect(machine.registers.rcx == 0x1234)
        machine.registers.rax = 0xFFD
        #expect(try machine.run([0x8B, 0x08]) == .exception(.generalProtection()))
        machine.specialRegisters.ss.limit = 0xFFF
        machine.registers.rbp = 0x1000
        #expect(try machine.run([0x8B, 0x45, 0x00]) == .exception(.stackFault()))
        // A read-only data segment refuses writes; an expand-down one refuses offsets up to its limit.
        machine.specialRegisters.ds.type = 0x1
        machine.registers.rax = 0x10
        #expect(try machine.run([0x89, 0x08]) == .exception(.generalProtection()))
        machine.specialRegisters.ds.type = 0x7
        #expect(try machine.run([0x89, 0x08]) == .exception(.generalProtection()))
        machine.registers.rax = 0x2000
        #expect(try machine.run([0x89, 0x08]) == .completed)
        #expect(try machine.load64(0x2_2000) & 0xFFFF_FFFF == 0x1234)
    }

    @Test func realModeOffsetsWrapAtSixtyFourKilobytes() throws {
        let machine = try EmulationMachine(.real)
        machine.specialRegisters.ds.base = 0x1_0000
        machine.registers.rbx = 0xFFFF
        machine.registers.rsi = 0xFFFF
        try machine.store64(0xBEEF, at: 0x1_FFFE)
        #expect(try machine.run([0x8B, 0x00]) == .completed)
        #expect(machine.registers.rax & 0xFFFF == 0xBEEF)
        #expect(machine.registers.rip == 0x102)
    }

    @Test func accessesOutsideRAMGoToTheMMIOBusInAlignedPieces() throws {
        let device = RecordingDevice()
        try machine.mmio.register(device, base: 0xFEB0_0000, size: 0x1000, label: "test")
        machine.registers.rax = 0xFEB0_0008
        machine.registers.rcx = 0x1122_3344_5566_7788
        #expect(try machine.run([0x48, 0x89, 0x08]) == .completed)
        #expect(device.registers[0xFEB0_0008] == 0x1122_3344_5566_7788)
        machine.registers.rax = 0xFEB0_0004
        #expect(try machine.run([0x48, 0x8B, 0x10]) == .completed)
        #expect(device.accesses.map(\.size) == [8, 4, 4])
        #expect(device.accesses.last?.address == 0xFEB0_0008)
        #expect(machine.registers.rdx == 0x5566_7788_0000_0000)
    }

    // MARK: Strings

    @Test func repStosFillsBackwardsWithTheDirectionFlag() throws {
        machine.registers.rdi = 0x1_0010
        machine.registers.rcx = 3
        machine.registers.rax = 0xAABB_CCDD
        machine.registers.rflags |= RFLAGS.direction
        #expect(try machine.run([0xF3, 0xAB]) == .completed)
        #expect(machine.registers.rcx == 0)
        #expect(machine.registers.rdi == 0x1_0004)
        #expect(try machine.load64(0x1_0008) == 0xAABB_CCDD_AABB_CCDD)
        #expect(try machine.load64(0x1_0010) & 0xFFFF_FFFF == 0xAABB_CCDD)
        #expect(try machine.load64(0x1_0000) == 0)
    }

    @Test func repMovsCopiesAndCountsDownAndAZeroCountDoesNothing() throws {
        try machine.memory.write(Array(1...16), at: 0x1_0000)
        machine.registers.rsi = 0x1_0000
        machine.registers.rdi = 0x2_0000
        machine.registers.rcx = 16
        #expect(try machine.run([0xF3, 0xA4]) == .completed)
        #expect(try machine.memory.read(0x2_0000, count: 16) == Array(1...16))
        #expect(machine.registers.rsi == 0x1_0010 && machine.registers.rdi == 0x2_0010)
        let rip = machine.registers.rip
        #expect(try machine.run([0xF3, 0xA4]) == .completed)
        #expect(machine.registers.rip == rip + 2)
        #expect(machine.registers.rsi == 0x1_0010)
    }

    @Test func thirtyTwoBitAddressesWrapAndClearTheUpperHalves() throws {
        machine.registers.rsi = 0xFFFF_FFFF_0000_6000
        machine.registers.rdi = 0x1_0000
        machine.registers.rcx = 0xFFFF_FFFF_0000_0002
        try machine.store64(0x0A0B, at: 0x6000)
        #expect(try machine.run([0x67, 0xF3, 0xA4]) == .completed)
        #expect(machine.registers.rsi == 0x6002)
        #expect(machine.registers.rcx == 0)
        #expect(try machine.load64(0x1_0000) & 0xFFFF == 0x0A0B)
    }

    @Test func aFaultInTheMiddleOfARepKeepsTheIterationsDone() throws {
        try machine.unmapPage(Self.boundary)
        machine.registers.rdi = Self.boundary - 16
        machine.registers.rcx = 4
        let rip = machine.registers.rip
        let outcome = try machine.run([0xF3, 0x48, 0xAB])
        #expect(outcome == .exception(GuestException(vector: 14, errorCode: 0x2, faultAddress: Self.boundary)))
        #expect(machine.registers.rcx == 2)
        #expect(machine.registers.rdi == Self.boundary)
        #expect(machine.registers.rip == rip)
    }

    @Test func aLongRepStopsAfterABatchAndLeavesRIPOnTheInstruction() throws {
        let count = UInt64(InstructionEmulator.maximumStringIterations + 10)
        machine.registers.rdi = 0x2_0000
        machine.registers.rcx = count
        let rip = machine.registers.rip
        #expect(try machine.run([0xF3, 0xAA]) == .completed)
        #expect(machine.registers.rcx == 10)
        #expect(machine.registers.rip == rip)
        #expect(try machine.run([0xF3, 0xAA]) == .completed)
        #expect(machine.registers.rcx == 0)
        #expect(machine.registers.rip == rip + 2)
    }

    @Test func repeCmpsStopsAtTheFirstDifference() throws {
        try machine.memory.write([1, 2, 3, 4], at: 0x1_0000)
        try machine.memory.write([1, 2, 9, 4], at: 0x2_0000)
        machine.registers.rsi = 0x1_0000
        machine.registers.rdi = 0x2_0000
        machine.registers.rcx = 4
        #expect(try machine.run([0xF3, 0xA6]) == .completed)
        #expect(machine.registers.rcx == 1)
        #expect(machine.registers.rsi == 0x1_0003)
        #expect(machine.registers.rflags & (RFLAGS.zero | RFLAGS.carry) == RFLAGS.carry)
        machine.registers.rdi = 0x2_0000
        machine.registers.rcx = 4
        machine.registers.rax = 9
        #expect(try machine.run([0xF2, 0xAE]) == .completed)
        #expect(machine.registers.rdi == 0x2_0003)
        #expect(machine.registers.rflags & RFLAGS.zero == RFLAGS.zero)
    }

    @Test func lodsLoadsTheAccumulator() throws {
        try machine.store64(0x99, at: 0x1_0000)
        machine.registers.rsi = 0x1_0000
        machine.registers.rax = 0xFFFF
        #expect(try machine.run([0xAC]) == .completed)
        #expect(machine.registers.rax == 0xFF99)
        #expect(machine.registers.rsi == 0x1_0001)
    }
}
