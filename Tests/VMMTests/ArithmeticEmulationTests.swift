import Testing
import KVM
@testable import VMM

/// bhyve's MMIO opcode set and the ALU family on a synthetic vCPU: results, flags and RIP.
@Suite struct ArithmeticEmulationTests {
    static let data: UInt64 = 0x1_0000
    let machine: EmulationMachine

    init() throws {
        machine = try EmulationMachine()
        machine.registers.rax = Self.data
    }

    /// Runs `bytes` and expects it to complete, moving RIP past it.
    func complete(_ bytes: [UInt8], length: Int? = nil) throws {
        let rip = machine.registers.rip
        #expect(try machine.run(bytes) == .completed)
        #expect(machine.registers.rip == rip + UInt64(length ?? bytes.count))
    }

    func flags(_ mask: UInt64) -> UInt64 { machine.registers.rflags & mask }

    // MARK: Moves

    @Test func movStoresTheLowBytesOfARegister() throws {
        try machine.store64(0xAAAA_AAAA_AAAA_AAAA, at: Self.data)
        machine.registers.rcx = 0x1122_3344_5566_7788
        try complete([0x89, 0x08])
        #expect(try machine.load64(Self.data) == 0xAAAA_AAAA_5566_7788)
    }

    @Test func movLoadsSixtyFourBitsAndThirtyTwoBitLoadsClearTheUpperHalf() throws {
        try machine.store64(0x0102_0304_0506_0708, at: Self.data)
        try complete([0x48, 0x8B, 0x10])
        #expect(machine.registers.rdx == 0x0102_0304_0506_0708)
        machine.registers.rdx = .max
        try complete([0x8B, 0x10])
        #expect(machine.registers.rdx == 0x0506_0708)
    }

    @Test func byteRegisterFourIsAHWithoutREXAndSPLWithIt() throws {
        try machine.store64(0x5A, at: Self.data)
        machine.registers.rsp = 0x8_0000
        try complete([0x8A, 0x20])
        #expect(machine.registers.rax == Self.data | 0x5A00)
        machine.registers.rax = Self.data
        try complete([0x40, 0x8A, 0x20])
        #expect(machine.registers.rsp == 0x8_005A)
    }

    @Test func movOfAThirtyTwoBitImmediateSignExtendsItToSixtyFourBits() throws {
        try complete([0x48, 0xC7, 0x00, 0xFE, 0xFF, 0xFF, 0xFF])
        #expect(try machine.load64(Self.data) == 0xFFFF_FFFF_FFFF_FFFE)
    }

    @Test func movThroughA64BitMoffsAndRIPRelativeAddressing() throws {
        try machine.store64(0x1234, at: Self.data)
        try complete([0x48, 0xA1] + Array(withUnsafeBytes(of: Self.data.littleEndian, Array.init)))
        #expect(machine.registers.rax == 0x1234)
        // RIP-relative: the displacement counts from the next instruction.
        let rip = machine.registers.rip
        let target = Self.data + 0x100
        try machine.store64(0x5678, at: target)
        let displacement = UInt32(truncatingIfNeeded: target &- (rip + 7))
        try complete([0x48, 0x8B, 0x0D] + Array(withUnsafeBytes(of: displacement.littleEndian, Array.init)))
        #expect(machine.registers.rcx == 0x5678)
    }

    @Test func movzxZeroExtendsAndMovsxSignExtends() throws {
        try machine.store64(0x8180, at: Self.data)
        machine.registers.rcx = .max
        try complete([0x0F, 0xB6, 0x08])
        #expect(machine.registers.rcx == 0x80)
        try complete([0x48, 0x0F, 0xBE, 0x08])
        #expect(machine.registers.rcx == 0xFFFF_FFFF_FFFF_FF80)
        try complete([0x0F, 0xBF, 0x08])
        #expect(machine.registers.rcx == 0xFFFF_8180)
        try machine.store64(0x8000_0000, at: Self.data)
        try complete([0x48, 0x63, 0x08])
        #expect(machine.registers.rcx == 0xFFFF_FFFF_8000_0000)
    }

    // MARK: Arithmetic and flags

    @Test func addSetsOverflowSignAdjustAndParity() throws {
        try machine.store64(0x7FFF_FFFF, at: Self.data)
        machine.registers.rcx = 1
        try complete([0x01, 0x08])
        #expect(try machine.load64(Self.data) == 0x8000_0000)
        #expect(flags(RFLAGS.status) == RFLAGS.overflow | RFLAGS.sign | RFLAGS.adjust | RFLAGS.parity)
    }

    @Test func subtractingMoreThanThereIsBorrows() throws {
        try machine.store64(2, at: Self.data)
        machine.registers.rcx = 1
        try complete([0x2B, 0x08])
        #expect(machine.registers.rcx == 0xFFFF_FFFF)
        #expect(flags(RFLAGS.status) == RFLAGS.carry | RFLAGS.sign | RFLAGS.adjust | RFLAGS.parity)
    }

    @Test func cmpSetsFlagsWithoutWriting() throws {
        try machine.store64(5, at: Self.data)
        try complete([0x83, 0x38, 0x05])
        #expect(flags(RFLAGS.zero | RFLAGS.carry) == RFLAGS.zero)
        #expect(try machine.load64(Self.data) == 5)
        try complete([0x83, 0x38, 0x06])
        #expect(flags(RFLAGS.zero | RFLAGS.carry | RFLAGS.sign) == RFLAGS.carry | RFLAGS.sign)
    }

    @Test func adcAndSbbUseTheCarryFlag() throws {
        try machine.store64(0xFFFF_FFFF, at: Self.data)
        machine.registers.rcx = 0
        machine.registers.rflags |= RFLAGS.carry
        try complete([0x11, 0x08])
        #expect(try machine.load64(Self.data) == 0)
        #expect(flags(RFLAGS.carry | RFLAGS.zero) == RFLAGS.carry | RFLAGS.zero)
        try complete([0x19, 0x08])
        #expect(try machine.load64(Self.data) == 0xFFFF_FFFF)
        #expect(flags(RFLAGS.carry) == RFLAGS.carry)
    }

    @Test func logicClearsCarryAndOverflow() throws {
        try machine.store64(0xF0, at: Self.data)
        machine.registers.rflags |= RFLAGS.carry | RFLAGS.overflow
        machine.registers.rcx = 0x0F
        try complete([0x21, 0x08])
        #expect(try machine.load64(Self.data) == 0)
        #expect(flags(RFLAGS.status) == RFLAGS.zero | RFLAGS.parity)
        try complete([0x80, 0x08, 0x80])
        #expect(try machine.load64(Self.data) == 0x80)
        #expect(flags(RFLAGS.sign) == RFLAGS.sign)
        machine.registers.rax = 0x0F
        try complete([0x34, 0xFF])
        #expect(machine.registers.rax == 0xF0)
    }

    @Test func group1WithAnOperandSizePrefixWorksOnWords() throws {
        try machine.store64(0xFFFF_0001, at: Self.data)
        try complete([0x66, 0x81, 0x00, 0xFF, 0xFF])
        #expect(try machine.load64(Self.data) == 0xFFFF_0000)
        #expect(flags(RFLAGS.carry | RFLAGS.zero) == RFLAGS.carry | RFLAGS.zero)
    }

    @Test func testAndTheUnaryOperations() throws {
        try machine.store64(5, at: Self.data)
        try complete([0xF7, 0x00, 0x02, 0x00, 0x00, 0x00])
        #expect(flags(RFLAGS.zero) == RFLAGS.zero)
        try complete([0xF7, 0x18])
        #expect(try machine.load64(Self.data) == 0xFFFF_FFFB)
        #expect(flags(RFLAGS.carry | RFLAGS.sign) == RFLAGS.carry | RFLAGS.sign)
        try complete([0xF7, 0x10])
        #expect(try machine.load64(Self.data) == 4)
        try machine.store64(0, at: Self.data)
        try complete([0xF7, 0x18])
        #expect(flags(RFLAGS.carry | RFLAGS.zero) == RFLAGS.zero)
    }

    @Test func incrementAndDecrementLeaveTheCarryFlag() throws {
        try machine.store64(0xFF, at: Self.data)
        machine.registers.rflags |= RFLAGS.carry
        try complete([0xFE, 0x00])
        #expect(try machine.load64(Self.data) == 0)
        #expect(flags(RFLAGS.status) == RFLAGS.carry | RFLAGS.zero | RFLAGS.adjust | RFLAGS.parity)
        machine.registers.rflags &= ~RFLAGS.carry
        try complete([0xFF, 0x08])
        #expect(try machine.load64(Self.data) == 0xFFFF_FFFF)
        #expect(flags(RFLAGS.carry) == 0)
    }

    @Test func shiftsAndRotatesSetCarryAndOverflow() throws {
        try machine.store64(0x8000_0001, at: Self.data)
        try complete([0xD1, 0x20])
        #expect(try machine.load64(Self.data) == 2)
        #expect(flags(RFLAGS.carry | RFLAGS.overflow) == RFLAGS.carry | RFLAGS.overflow)
        try machine.store64(0x80, at: Self.data)
        try complete([0xC0, 0x38, 0x03])
        #expect(try machine.load64(Self.data) == 0xF0)
        #expect(flags(RFLAGS.carry | RFLAGS.sign) == RFLAGS.sign)
        machine.registers.rcx = 4
        try complete([0xD2, 0x28])
        #expect(try machine.load64(Self.data) == 0x0F)
        #expect(flags(RFLAGS.carry) == 0)
        machine.registers.rflags |= RFLAGS.carry
        try complete([0xD0, 0x18])
        #expect(try machine.load64(Self.data) == 0x87)
        #expect(flags(RFLAGS.carry) == RFLAGS.carry)
    }

    @Test func aShiftCountOfZeroChangesNothing() throws {
        try machine.store64(0x81, at: Self.data)
        machine.registers.rflags |= RFLAGS.overflow
        machine.registers.rcx = 0x20
        try complete([0xD3, 0x20])
        #expect(try machine.load64(Self.data) == 0x81)
        #expect(flags(RFLAGS.overflow) == RFLAGS.overflow)
    }

    @Test func btWithARegisterOffsetReachesOutsideTheOperand() throws {
        try machine.store64(0x0000_0008_8000_0000, at: Self.data)
        machine.registers.rcx = 35
        try complete([0x0F, 0xA3, 0x08])
        #expect(flags(RFLAGS.carry) == RFLAGS.carry)
        // −1 is bit 31 of the doubleword below the operand.
        machine.registers.rax = Self.data + 4
        machine.registers.rcx = 0xFFFF_FFFF
        try complete([0x0F, 0xA3, 0x08])
        #expect(flags(RFLAGS.carry) == RFLAGS.carry)
        machine.registers.rcx = 0
        try complete([0x0F, 0xA3, 0x08])
        #expect(flags(RFLAGS.carry) == 0)
    }

    @Test func btsBtrAndBtcUpdateTheBitAndReportItsOldValue() throws {
        try machine.store64(0, at: Self.data)
        try complete([0xF0, 0x0F, 0xBA, 0x28, 0x25])
        #expect(try machine.load64(Self.data) == 0x20)
        #expect(flags(RFLAGS.carry) == 0)
        machine.registers.rcx = 5
        try complete([0x0F, 0xB3, 0x08])
        #expect(try machine.load64(Self.data) == 0)
        #expect(flags(RFLAGS.carry) == RFLAGS.carry)
        try complete([0x0F, 0xBB, 0x08])
        #expect(try machine.load64(Self.data) == 0x20)
    }

    @Test func xchgXaddAndCmpxchgWithMemory() throws {
        try machine.store64(7, at: Self.data)
        machine.registers.rcx = 9
        try complete([0x87, 0x08])
        #expect(machine.registers.rcx == 7)
        #expect(try machine.load64(Self.data) == 9)
        try complete([0xF0, 0x0F, 0xC1, 0x08])
        #expect(machine.registers.rcx == 9)
        #expect(try machine.load64(Self.data) == 16)
        // CMPXCHG: RAX (0x10000) differs from memory: RAX is loaded.
        try complete([0x0F, 0xB1, 0x08])
        #expect(machine.registers.rax == 16)
        #expect(flags(RFLAGS.zero) == 0)
        machine.registers.rcx = 1
        machine.registers.rax = 16
        machine.registers.rdx = Self.data
        try complete([0xF0, 0x0F, 0xB1, 0x0A])
        #expect(try machine.load64(Self.data) == 1)
        #expect(flags(RFLAGS.zero) == RFLAGS.zero)
    }

    @Test func pushAndPopThroughMemory() throws {
        try machine.store64(0x1111, at: Self.data)
        let rsp = machine.registers.rsp
        try complete([0xFF, 0x30])
        #expect(machine.registers.rsp == rsp - 8)
        #expect(try machine.load64(rsp - 8) == 0x1111)
        try complete([0x6A, 0xFE])
        #expect(try machine.load64(rsp - 16) == 0xFFFF_FFFF_FFFF_FFFE)
        try complete([0x8F, 0x00])
        #expect(try machine.load64(Self.data) == 0xFFFF_FFFF_FFFF_FFFE)
        // POP [RSP] addresses memory with RSP's value after the pop.
        try complete([0x8F, 0x04, 0x24])
        #expect(machine.registers.rsp == rsp)
        #expect(try machine.load64(rsp) == 0x1111)
    }

    @Test func lockIsInvalidWithoutAMemoryDestination() throws {
        #expect(try machine.run([0xF0, 0x89, 0x08]) == .exception(.invalidOpcode))
        #expect(try machine.run([0xF0, 0x03, 0x08]) == .exception(.invalidOpcode))
        #expect(try machine.run([0xF0, 0x01, 0xC8]) == .exception(.invalidOpcode))
        #expect(machine.registers.rip == EmulationMachine.codeAddress)
    }

    @Test(arguments: [
        (Operation.shl, UInt64(0x81), UInt64(1), 1, UInt64(0x02), true, Optional(true)),
        (.shr, 0x81, 1, 1, 0x40, true, true),
        (.sar, 0x81, 1, 1, 0xC0, true, false),
        (.rol, 0x81, 1, 1, 0x03, true, true),
        (.ror, 0x81, 1, 1, 0xC0, true, false),
        (.shl, 0x8000_0000_0000_0001, 63, 8, 0x8000_0000_0000_0000, false, nil),
        (.shr, 0x8000_0000_0000_0000, 63, 8, 1, false, nil),
        (.rcl, 0x80, 1, 1, 0x00, true, true),
        (.rcr, 0x01, 1, 1, 0x00, true, false),
    ])
    func shiftResultsAndFlags(operation: Operation, value: UInt64, count: UInt64, size: Int,
                              result: UInt64, carry: Bool, overflow: Bool?) throws {
        let shifted = try #require(ALU.shift(operation, value, count: count, size: size, rflags: 0))
        #expect(shifted.value == result)
        #expect((shifted.flags & RFLAGS.carry != 0) == carry)
        // OF is defined for a count of 1 only.
        if let overflow { #expect((shifted.flags & RFLAGS.overflow != 0) == overflow) }
    }
}
