import Testing
@testable import KVM

@Suite struct InternalErrorTests {
    /// The words of an emulation failure exit as this kind of host reports `int3` at CPL 0: flags 1
    /// (instruction bytes valid), then insn_size 15 and the 15 bytes at CS:RIP, then exit information.
    static let int3Exit: [UInt64] = [1, 0xF4_11E6_CC0F, 0, 0x1000, 0, 0, 0, 0]

    @Test func theInstructionBytesOfAnEmulationFailureComeFromWordsOneAndTwo() {
        let failure = InternalError(suberror: InternalError.emulationFailure, data: Self.int3Exit)
        #expect(failure.instructionBytes == [0xCC, 0xE6, 0x11, 0xF4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func noBytesWithoutTheirFlagOrForOtherSuberrors() {
        var words = Self.int3Exit
        words[0] = 0
        #expect(InternalError(suberror: InternalError.emulationFailure, data: words).instructionBytes == nil)
        #expect(InternalError(suberror: 3, data: Self.int3Exit).instructionBytes == nil)
        #expect(InternalError(suberror: InternalError.emulationFailure, data: [1]).instructionBytes == nil)
    }

    @Test func aShortFetchReportsOnlyTheBytesKVMGot() {
        let failure = InternalError(suberror: InternalError.emulationFailure, data: [1, 0x0B_0F02, 0])
        #expect(failure.instructionBytes == [0x0F, 0x0B])
    }
}
