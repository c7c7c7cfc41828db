/// Why a VM stopped running: bhyve's `vm_suspend_how`, plus the two ends Hyve adds for its test
/// device and for failures.
public enum SuspendReason: Sendable, Equatable, CustomStringConvertible {
    /// Port 0xCF9, ACPI reset or `--force-reset`.
    case reset
    /// ACPI S5 or `--force-poweroff`.
    case powerOff
    /// Every active vCPU halted with interrupts disabled.
    case halt
    /// A fault while delivering a double fault (`KVM_EXIT_SHUTDOWN`).
    case tripleFault
    /// The guest wrote `value` to pc-testdev's isa-debug-exit port.
    case debugExit(UInt32)
    /// Hyve could not go on (an unhandled exit, a KVM error, strict-I/O violation).
    case failure(String)

    public var description: String {
        switch self {
        case .reset: "reset"
        case .powerOff: "poweroff"
        case .halt: "halt"
        case .tripleFault: "triple fault"
        case .debugExit(let value): "debug exit 0x\(String(value, radix: 16))"
        case .failure(let message): "failure: \(message)"
        }
    }
}
