import CKVM

extension InternalError {
    /// The instruction bytes KVM attached to an emulation failure (`struct emulation_failure`), or
    /// nil when it attached none. KVM copies what it fetched at CS:RIP (on this kind of host, the
    /// full 15-byte window), so the bytes usually run past the failing instruction's end.
    public var instructionBytes: [UInt8]? {
        guard suberror == Self.emulationFailure, data.count >= 3,
              data[0] & UInt64(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0 else { return nil }
        // Words 1 and 2 overlay insn_size (one byte) and insn_bytes[15].
        let block = (0..<8).map { UInt8(truncatingIfNeeded: data[1] >> (8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: data[2] >> (8 * UInt64($0))) }
        let size = min(Int(block[0]), 15)
        return Array(block[1..<1 + size])
    }
}
