import VMM

/// The process exit status `hyve` reports for how the VM ended: bhyve's codes 0 reset, 1 poweroff,
/// 2 halt, 3 triple fault, 4 error, and `(v << 1) | 1` for a write of `v` to isa-debug-exit.
public enum ExitStatus {
    public static let reset: Int32 = 0
    public static let powerOff: Int32 = 1
    public static let halt: Int32 = 2
    public static let tripleFault: Int32 = 3
    public static let error: Int32 = 4

    public static func forReason(_ reason: SuspendReason) -> Int32 {
        switch reason {
        case .reset: reset
        case .powerOff: powerOff
        case .halt: halt
        case .tripleFault: tripleFault
        // A process status keeps 8 bits, as with QEMU's isa-debug-exit.
        case .debugExit(let value): Int32(truncatingIfNeeded: ((value << 1) | 1) & 0xFF)
        case .failure: error
        }
    }
}
