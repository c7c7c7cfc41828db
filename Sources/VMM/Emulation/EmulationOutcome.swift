/// The result of emulating one instruction.
public enum EmulationOutcome: Sendable, Equatable {
    /// Registers and memory are updated and RIP is past the instruction (or still at a REP string
    /// instruction that has iterations left).
    case completed
    /// An event for the guest. For a fault nothing has changed; for a software exception or
    /// interrupt (INT3, INT n, INTO, INT1) RIP has moved past the instruction.
    case exception(GuestException)
    /// Hyve cannot emulate the instruction; the reason says what it is.
    case unsupported(String)
    /// The host failed while emulating.
    case hostFailure(String)
}
