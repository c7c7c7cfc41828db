/// Why emulating an instruction stopped short.
public enum EmulationError: Error, Sendable, Equatable {
    /// The instruction raises an exception; nothing has changed.
    case exception(GuestException)
    /// The instruction, or this form of it, is beyond the emulator.
    case unsupported(String)
    /// The host failed: a KVM call, or guest memory the VMM cannot reach. The VM cannot go on.
    case hostFailure(String)
}
