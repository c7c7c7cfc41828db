import KVM

extension InstructionDecoder {
    /// Decodes the instruction at the context's CS:RIP: from `reported` (the bytes KVM attached to
    /// its exit) when they hold a whole instruction, otherwise from guest memory, fetched up to the
    /// end of RIP's page first and across into the next page only if the instruction goes on, so
    /// that an instruction ending just before a page the guest cannot fetch still decodes.
    ///
    /// - Throws: ``EmulationError/exception(_:)`` with the #PF of a fetch, and
    ///   ``EmulationError/unsupported(_:)`` for bytes that are no instruction (naming the mnemonic
    ///   guess and the bytes).
    public static func decodeInstruction(at context: any EmulationContext,
                                         reported: [UInt8]?) throws(EmulationError) -> DecodedInstruction {
        let special = context.specialRegisters
        let mode = InstructionMode(special, rflags: context.registers.rflags)
        if let reported, let decoded = try? decode(reported, mode: mode) { return decoded }
        let rip = context.registers.rip
        let start = mode.is64Bit ? rip : (special.cs.base &+ (rip & 0xFFFF_FFFF)) & 0xFFFF_FFFF
        let inFirstPage = Int(GuestPaging.pageSize - start % GuestPaging.pageSize)
        var bytes = try context.read(linear: start, count: min(inFirstPage, maximumLength), for: .execute)
        while true {
            do throws(DecodeError) {
                return try decode(bytes, mode: mode)
            } catch {
                guard case .truncated = error, bytes.count < maximumLength else {
                    throw .unsupported("\(error.mnemonicGuess) [\(DecodedInstruction.hex(bytes))]: \(error)")
                }
                bytes += try context.read(linear: start &+ UInt64(bytes.count), count: maximumLength - bytes.count,
                                          for: .execute)
            }
        }
    }
}
