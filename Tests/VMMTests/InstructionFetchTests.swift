import Testing
import KVM
@testable import VMM

/// Finding the instruction KVM failed on: its reported bytes, or guest memory at CS:RIP.
@Suite struct InstructionFetchTests {
    let machine: EmulationMachine
    /// Three bytes before a page boundary in the 4 KiB-page region.
    static let nearBoundary = EmulationMachine.smallPages + 0x1000 - 3

    init() throws {
        machine = try EmulationMachine()
    }

    @Test func theReportedBytesAreUsedWhenTheyHoldTheWholeInstruction() throws {
        let instruction = try InstructionDecoder.decodeInstruction(at: machine, reported: [0xCC, 0xE6, 0x11, 0xF4])
        #expect(instruction.operation == .int3)
    }

    @Test func withoutReportedBytesTheInstructionIsFetchedAtCSRIP() throws {
        try machine.memory.write([0xF3, 0x48, 0x0F, 0xB8, 0xC3], at: EmulationMachine.codeAddress)
        let instruction = try InstructionDecoder.decodeInstruction(at: machine, reported: nil)
        #expect(instruction.operation == .popcnt && instruction.length == 5)
    }

    @Test func tooFewReportedBytesAreCompletedFromMemory() throws {
        try machine.memory.write([0xF0, 0x48, 0x0F, 0xC7, 0x0E], at: EmulationMachine.codeAddress)
        let instruction = try InstructionDecoder.decodeInstruction(at: machine, reported: [0xF0, 0x48])
        #expect(instruction.operation == .cmpxchg16b)
    }

    @Test func anInstructionEndingBeforeAnUnmappedPageDecodes() throws {
        try machine.unmapPage(Self.nearBoundary + 3)
        try machine.memory.write([0x0F, 0x01, 0xCA], at: Self.nearBoundary)
        machine.registers.rip = Self.nearBoundary
        #expect(try InstructionDecoder.decodeInstruction(at: machine, reported: nil).operation == .clac)
    }

    @Test func anInstructionRunningIntoAnUnmappedPageRaisesItsFetchFault() throws {
        try machine.unmapPage(Self.nearBoundary + 3)
        try machine.memory.write([0x48, 0x0F, 0xAE], at: Self.nearBoundary)
        machine.registers.rip = Self.nearBoundary
        #expect(throws: EmulationError.exception(GuestException(vector: 14, errorCode: 0,
                                                                faultAddress: Self.nearBoundary + 3))) {
            try InstructionDecoder.decodeInstruction(at: machine, reported: nil)
        }
    }

    @Test func realModeFetchesFromCSBasePlusIP() throws {
        let machine = try EmulationMachine(.real)
        try machine.memory.write([0xCF], at: 0xF_0100)
        #expect(try InstructionDecoder.decodeInstruction(at: machine, reported: nil).operation == .iret)
    }

    @Test func bytesThatAreNoInstructionNameTheirGuess() throws {
        try machine.memory.write([0x06], at: EmulationMachine.codeAddress)
        let bytes = "06" + String(repeating: " 00", count: 14)
        #expect(throws: EmulationError.unsupported("push [\(bytes)]: push is not a valid encoding in this mode")) {
            try InstructionDecoder.decodeInstruction(at: machine, reported: nil)
        }
    }
}
