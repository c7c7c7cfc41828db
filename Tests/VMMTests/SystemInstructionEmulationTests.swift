import Dispatch
import Glibc
import Synchronization
import Testing
import KVM
@testable import VMM

/// The guest-kernel instructions this kind of host's KVM leaves to the VMM: interrupts and IRET,
/// #UD, CLAC/STAC, FWAIT, INVPCID, POPCNT, MOVBE, BEXTR, CMPXCHG8B/16B, and the single-step trap.
@Suite struct SystemInstructionEmulationTests {
    static let data: UInt64 = 0x1_0000
    static let gdt: UInt64 = 0x5000
    static let idt: UInt64 = 0x6000
    let machine: EmulationMachine

    init() throws {
        machine = try EmulationMachine()
        machine.registers.rax = Self.data
    }

    /// Kernel code 0x08, kernel data 0x10, user data 0x1B, user code 0x23 (64-bit or 32-bit code).
    func installGDT(in machine: EmulationMachine, longMode: Bool) throws {
        let code: UInt64 = longMode ? 0x00AF_9B00_0000_FFFF : 0x00CF_9B00_0000_FFFF
        let entries: [UInt64] = [0, code, 0x00CF_9300_0000_FFFF, 0x00CF_F300_0000_FFFF, code | (3 << 45)]
        for (index, entry) in entries.enumerated() { try machine.store64(entry, at: Self.gdt + UInt64(index) * 8) }
        machine.specialRegisters.gdt = DescriptorTable(base: Self.gdt, limit: UInt16(entries.count * 8 - 1))
    }

    func enterUserMode(_ machine: EmulationMachine) {
        machine.specialRegisters.cs.dpl = 3
        machine.specialRegisters.cs.selector = 0x23
        machine.specialRegisters.ss.dpl = 3
        machine.specialRegisters.ss.selector = 0x1B
    }

    // MARK: Interrupts

    @Test func int3HandsBackABreakpointWithRIPPastIt() throws {
        let outcome = try machine.run([0xCC])
        #expect(outcome == .exception(GuestException(vector: 3, kind: .softwareException)))
        #expect(machine.registers.rip == EmulationMachine.codeAddress + 1)
    }

    @Test func intNChecksTheGateDPLAgainstCPL() throws {
        machine.specialRegisters.idt = DescriptorTable(base: Self.idt, limit: 0xFFF)
        try machine.memory.write([0, 0, 0x08, 0, 0, 0x8E, 0, 0], at: Self.idt + 0x80 * 16)
        #expect(try machine.run([0xCD, 0x80]) == .exception(GuestException(vector: 0x80, kind: .softwareInterrupt)))
        #expect(machine.registers.rip == EmulationMachine.codeAddress + 2)
        enterUserMode(machine)
        let rip = machine.registers.rip
        #expect(try machine.run([0xCD, 0x80]) == .exception(.generalProtection(0x80 * 8 + 2)))
        #expect(machine.registers.rip == rip)
        try machine.memory.write([0xEE], at: Self.idt + 0x80 * 16 + 5)
        #expect(try machine.run([0xCD, 0x80]) == .exception(GuestException(vector: 0x80, kind: .softwareInterrupt)))
        machine.specialRegisters.idt.limit = 0x80 * 16
        #expect(try machine.run([0xCD, 0x80]) == .exception(.generalProtection(0x80 * 8 + 2)))
    }

    @Test(arguments: [[UInt8]([0x0F, 0x0B]), [0x0F, 0xB9, 0x00], [0x0F, 0xFF, 0xC0]])
    func undefinedInstructionsRaiseUDAtTheInstruction(bytes: [UInt8]) throws {
        #expect(try machine.run(bytes) == .exception(.invalidOpcode))
        #expect(machine.registers.rip == EmulationMachine.codeAddress)
    }

    @Test func iretqToTheSameLevelPopsTheFullFrameAndEndsNMIBlocking() throws {
        try installGDT(in: machine, longMode: true)
        let frame: [UInt64] = [0x12_3456, 0x08, 0x246, 0x7_0000, 0x10]
        for (index, value) in frame.enumerated() { try machine.store64(value, at: machine.registers.rsp + UInt64(index) * 8) }
        #expect(try machine.run([0x48, 0xCF]) == .completed)
        #expect(machine.registers.rip == 0x12_3456)
        #expect(machine.registers.rsp == 0x7_0000)
        #expect(machine.registers.rflags == 0x246)
        #expect(machine.specialRegisters.cs.selector == 0x08 && machine.specialRegisters.cs.long)
        #expect(machine.nmiUnblocks == 1)
    }

    @Test func iretqToUserModeLoadsUserCSAndSS() throws {
        try installGDT(in: machine, longMode: true)
        let frame: [UInt64] = [0x40_0000, 0x23, 0x3202, 0x7_FFF0, 0x1B]
        for (index, value) in frame.enumerated() { try machine.store64(value, at: machine.registers.rsp + UInt64(index) * 8) }
        #expect(try machine.run([0x48, 0xCF]) == .completed)
        #expect(machine.specialRegisters.cs.dpl == 3 && machine.specialRegisters.cs.selector == 0x23)
        #expect(machine.specialRegisters.ss.dpl == 3 && machine.specialRegisters.ss.selector == 0x1B)
        #expect(machine.registers.rflags == 0x3202)
        #expect(machine.registers.rsp == 0x7_FFF0)
    }

    @Test func iretToAMorePrivilegedLevelRaisesGP() throws {
        try installGDT(in: machine, longMode: true)
        enterUserMode(machine)
        let frame: [UInt64] = [0x40_0000, 0x08, 0x202, 0x7_FFF0, 0x10]
        for (index, value) in frame.enumerated() { try machine.store64(value, at: machine.registers.rsp + UInt64(index) * 8) }
        #expect(try machine.run([0x48, 0xCF]) == .exception(.generalProtection(0x08)))
        #expect(machine.specialRegisters.cs.selector == 0x23)
    }

    @Test func protectedModeIretReturnsToTheSameLevelAndToAnOuterOne() throws {
        let machine = try EmulationMachine(.protected32)
        try installGDT(in: machine, longMode: false)
        let rsp = machine.registers.rsp
        for (index, value) in [0x1234, 0x08, 0x202].enumerated() as EnumeratedSequence<[UInt32]> {
            try machine.memory.store(value, at: rsp + UInt64(index) * 4)
        }
        #expect(try machine.run([0xCF]) == .completed)
        #expect(machine.registers.rip == 0x1234)
        #expect(machine.registers.rsp == rsp + 12)
        #expect(machine.registers.rflags == 0x202)
        // To CPL 3: SS:ESP come off the stack, and DS (DPL 0) becomes unusable.
        machine.registers.rsp = rsp
        for (index, value) in [0x5678, 0x23, 0x202, 0x9000, 0x1B].enumerated() as EnumeratedSequence<[UInt32]> {
            try machine.memory.store(value, at: rsp + UInt64(index) * 4)
        }
        #expect(try machine.run([0xCF]) == .completed)
        #expect(machine.registers.rip == 0x5678 && machine.registers.rsp == 0x9000)
        #expect(machine.specialRegisters.cs.dpl == 3 && machine.specialRegisters.ss.selector == 0x1B)
        #expect(machine.specialRegisters.ds.unusable)
        #expect(!machine.specialRegisters.cs.long && machine.specialRegisters.cs.defaultBig)
    }

    @Test func realModeIretPopsIPCSAndFlags() throws {
        let machine = try EmulationMachine(.real)
        for (index, value) in [0x0010, 0x2000, 0x0202].enumerated() as EnumeratedSequence<[UInt16]> {
            try machine.memory.store(value, at: 0x8000 + UInt64(index) * 2)
        }
        #expect(try machine.run([0xCF]) == .completed)
        #expect(machine.registers.rip == 0x10)
        #expect(machine.specialRegisters.cs.base == 0x2_0000 && machine.specialRegisters.cs.selector == 0x2000)
        #expect(machine.registers.rflags == 0x202)
        #expect(machine.registers.rsp == 0x8006)
    }

    // MARK: System instructions

    @Test func clacAndStacChangeACAtCPL0Only() throws {
        #expect(try machine.run([0x0F, 0x01, 0xCB]) == .completed)
        #expect(machine.registers.rflags & RFLAGS.alignmentCheck != 0)
        #expect(try machine.run([0x0F, 0x01, 0xCA]) == .completed)
        #expect(machine.registers.rflags & RFLAGS.alignmentCheck == 0)
        enterUserMode(machine)
        #expect(try machine.run([0x0F, 0x01, 0xCB]) == .exception(.invalidOpcode))
    }

    @Test func fwaitRaisesMFOnlyWithAPendingX87Exception() throws {
        #expect(try machine.run([0x9B]) == .completed)
        machine.xsaveImage[2] = 0x81
        #expect(try machine.run([0x9B]) == .exception(.floatingPointError))
        machine.specialRegisters.cr0 |= 0xA
        #expect(try machine.run([0x9B]) == .exception(.deviceNotAvailable))
    }

    @Test func invpcidChecksTypeDescriptorAndPrivilegeBeforeFlushing() throws {
        try machine.memory.write([UInt8](repeating: 0, count: 16), at: Self.data)
        machine.registers.rcx = 2
        #expect(try machine.run([0x66, 0x0F, 0x38, 0x82, 0x08]) == .completed)
        #expect(machine.invalidations == 1)
        machine.registers.rcx = 4
        #expect(try machine.run([0x66, 0x0F, 0x38, 0x82, 0x08]) == .exception(.generalProtection()))
        machine.registers.rcx = 1
        try machine.store64(5, at: Self.data)
        #expect(try machine.run([0x66, 0x0F, 0x38, 0x82, 0x08]) == .exception(.generalProtection()))
        try machine.store64(0x1000, at: Self.data)
        #expect(try machine.run([0x66, 0x0F, 0x38, 0x82, 0x08]) == .exception(.generalProtection()))
        try machine.store64(0, at: Self.data)
        enterUserMode(machine)
        #expect(try machine.run([0x66, 0x0F, 0x38, 0x82, 0x08]) == .exception(.generalProtection()))
        #expect(machine.invalidations == 1)
    }

    @Test func cacheLineInstructionsNeedAReachableOperandOnly() throws {
        #expect(try machine.run([0x66, 0x0F, 0xAE, 0x30]) == .completed)
        try machine.unmapPage(EmulationMachine.smallPages)
        machine.registers.rax = EmulationMachine.smallPages
        #expect(try machine.run([0x66, 0x0F, 0xAE, 0x38]) == .exception(
            GuestException(vector: 14, errorCode: 0, faultAddress: EmulationMachine.smallPages)))
    }

    @Test func popcntCountsBitsAndClearsEveryFlagButZF() throws {
        try machine.store64(0xF0F0_F0F0_F0F0_F0F1, at: Self.data)
        machine.registers.rflags |= RFLAGS.status
        #expect(try machine.run([0xF3, 0x48, 0x0F, 0xB8, 0x08]) == .completed)
        #expect(machine.registers.rcx == 33)
        #expect(machine.registers.rflags & RFLAGS.status == 0)
        machine.registers.rdx = 0
        #expect(try machine.run([0xF3, 0x0F, 0xB8, 0xCA]) == .completed)
        #expect(machine.registers.rcx == 0)
        #expect(machine.registers.rflags & RFLAGS.status == RFLAGS.zero)
    }

    @Test func movbeSwapsBytesOnLoadAndStore() throws {
        try machine.store64(0x1122_3344_5566_7788, at: Self.data)
        #expect(try machine.run([0x48, 0x0F, 0x38, 0xF0, 0x08]) == .completed)
        #expect(machine.registers.rcx == 0x8877_6655_4433_2211)
        #expect(try machine.run([0x66, 0x0F, 0x38, 0xF0, 0x10]) == .completed)
        #expect(machine.registers.rdx & 0xFFFF == 0x8877)
        machine.registers.rcx = 0xAABB_CCDD
        #expect(try machine.run([0x0F, 0x38, 0xF1, 0x08]) == .completed)
        #expect(try machine.load64(Self.data) == 0x1122_3344_DDCC_BBAA)
        #expect(try machine.run([0x0F, 0x38, 0xF0, 0xC8]) == .exception(.invalidOpcode))
    }

    @Test func bextrExtractsTheFieldTheControlRegisterNames() throws {
        try machine.store64(0xABCD, at: Self.data)
        machine.registers.rbx = 0x0804
        #expect(try machine.run([0xC4, 0xE2, 0x60, 0xF7, 0x08]) == .completed)
        #expect(machine.registers.rcx == 0xBC)
        #expect(machine.registers.rflags & RFLAGS.zero == 0)
    }

    @Test func cmpxchg8bExchangesOrLoadsZeroExtendingTheHalves() throws {
        try machine.store64(0x0000_0002_0000_0001, at: Self.data)
        machine.registers.rdx = 0xFFFF_FFFF_0000_0002
        machine.registers.rax = 0xFFFF_FFFF_0000_0001
        machine.registers.rcx = 4
        machine.registers.rbx = 3
        let address = Self.data
        machine.registers.rsi = address
        #expect(try machine.run([0xF0, 0x0F, 0xC7, 0x0E]) == .completed)
        #expect(try machine.load64(address) == 0x0000_0004_0000_0003)
        #expect(machine.registers.rflags & RFLAGS.zero != 0)
        #expect(try machine.run([0x0F, 0xC7, 0x0E]) == .completed)
        #expect(machine.registers.rflags & RFLAGS.zero == 0)
        #expect(machine.registers.rax == 3 && machine.registers.rdx == 4)
    }

    @Test func cmpxchg16bNeedsAnAlignedMemoryOperand() throws {
        machine.registers.rsi = Self.data + 8
        #expect(try machine.run([0xF0, 0x48, 0x0F, 0xC7, 0x0E]) == .exception(.generalProtection()))
        #expect(try machine.run([0x48, 0x0F, 0xC7, 0xC8]) == .exception(.invalidOpcode))
    }

    @Test func cmpxchg16bIsAtomicAgainstAConcurrentWriter() throws {
        let address = Self.data
        try machine.memory.write([UInt8](repeating: 0, count: 16), at: address)
        let memory = machine.memory
        let done = Atomic<Bool>(false)
        let increments = Atomic<UInt64>(0)
        let writer = DispatchGroup()
        DispatchQueue.global().async(group: writer) {
            // Another vCPU increments the low quadword with its own locked 128-bit operations for
            // as long as the emulator runs.
            while !done.load(ordering: .acquiring) {
                var current = (low: try! memory.load(UInt64.self, at: address),
                               high: try! memory.load(UInt64.self, at: address + 8))
                while true {
                    let result = try! memory.compareExchange(at: address, expected: current,
                                                             desired: (current.low + 1, current.high))
                    if result.exchanged { break }
                    current = result.original
                }
                increments.add(1, ordering: .relaxed)
            }
        }
        while increments.load(ordering: .relaxed) == 0 { sched_yield() }
        // Meanwhile the emulator increments the high quadword with LOCK CMPXCHG16B retry loops: any
        // lost update on either side shows in the final counts.
        let rounds: UInt64 = 3000
        machine.registers.rsi = address
        machine.registers.rax = 0
        machine.registers.rdx = 0
        for _ in 0..<rounds {
            repeat {
                machine.registers.rip = EmulationMachine.codeAddress
                machine.registers.rbx = machine.registers.rax
                machine.registers.rcx = machine.registers.rdx + 1
                #expect(try machine.run([0xF0, 0x48, 0x0F, 0xC7, 0x0E]) == .completed)
            } while machine.registers.rflags & RFLAGS.zero == 0
        }
        done.store(true, ordering: .releasing)
        writer.wait()
        #expect(increments.load(ordering: .relaxed) > 0)
        #expect(try machine.load64(address) == increments.load(ordering: .relaxed))
        #expect(try machine.load64(address + 8) == rounds)
    }

    @Test func rdtscpReadsTheGuestTSCAndTSCAux() throws {
        machine.registers.rcx = .max
        #expect(try machine.run([0x0F, 0x01, 0xF9]) == .completed)
        #expect(machine.registers.rax == 0x5678_9ABC && machine.registers.rdx == 0x1234)
        #expect(machine.registers.rcx == 3)
        machine.specialRegisters.cr4 |= 1 << 2
        enterUserMode(machine)
        #expect(try machine.run([0x0F, 0x01, 0xF9]) == .exception(.generalProtection()))
    }

    @Test func crc32AccumulatesTheCastagnoliCRC() throws {
        // CRC-32C of "123456789" is 0xE3069283 (initial value and final XOR 0xFFFFFFFF).
        try machine.memory.write(Array("123456789".utf8), at: Self.data)
        machine.registers.rcx = 0xFFFF_FFFF
        machine.registers.rsi = Self.data
        #expect(try machine.run([0xF2, 0x48, 0x0F, 0x38, 0xF1, 0x0E]) == .completed)
        machine.registers.rsi = Self.data + 8
        #expect(try machine.run([0xF2, 0x0F, 0x38, 0xF0, 0x0E]) == .completed)
        #expect(machine.registers.rcx ^ 0xFFFF_FFFF == 0xE306_9283)
    }

    @Test func anInstructionCompletedWithTFSetRaisesTheSingleStepTrap() throws {
        machine.registers.rflags |= RFLAGS.trap
        #expect(try machine.run([0x0F, 0x01, 0xCB]) == .exception(.singleStep))
        #expect(machine.registers.rip == EmulationMachine.codeAddress + 3)
        #expect(machine.registers.rflags & RFLAGS.alignmentCheck != 0)
    }
}
