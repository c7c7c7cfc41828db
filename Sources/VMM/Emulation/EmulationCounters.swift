import Synchronization

/// How often each instruction was emulated because KVM could not, by mnemonic; shared by the
/// vCPUs of one VM.
public final class EmulationCounters: Sendable {
    private let counts = Mutex<[String: UInt64]>([:])

    public init() {}

    /// Counts one emulation of `mnemonic`.
    public func record(_ mnemonic: String) {
        counts.withLock { $0[mnemonic, default: 0] += 1 }
    }

    /// The counts so far.
    public func snapshot() -> [String: UInt64] {
        counts.withLock { $0 }
    }

    /// The counts as one line, most frequent first: "int3 1, xsaveopt 40, …" (empty when none).
    public var summary: String {
        snapshot().sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}
