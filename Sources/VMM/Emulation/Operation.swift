/// An instruction the emulator executes; the raw value is its mnemonic, which also names its
/// counter in ``EmulationCounters``.
public enum Operation: String, Sendable, CaseIterable {
    // Data movement.
    case mov, movzx, movsx, movsxd, movbe, xchg, push, pop
    // String instructions, with or without REP/REPE/REPNE.
    case movs, stos, lods, cmps, scas
    // Arithmetic and logic.
    case add, or, adc, sbb, and, sub, xor, cmp, test, not, neg, inc, dec
    case rol, ror, rcl, rcr, shl, shr, sar
    case bt, bts, btr, btc, popcnt, bextr, crc32, xadd, cmpxchg, cmpxchg8b, cmpxchg16b
    // Interrupts and exceptions.
    case int3, int, into, int1, iret, ud0, ud1, ud2
    // System, cache and ordering.
    case clac, stac, fwait, nop, invpcid, clflush, clflushopt, clwb, lfence, mfence, sfence, rdtscp
    // Extended state: x87 control, MXCSR, XCR0 and the save/restore instructions.
    case fnstsw, fnstcw, fldcw, fnclex, ldmxcsr, stmxcsr
    case xgetbv, xsetbv, fxsave, fxrstor, xsave, xsaveopt, xsavec, xsaves, xrstor, xrstors

    /// The mnemonic.
    public var mnemonic: String { rawValue }
}
