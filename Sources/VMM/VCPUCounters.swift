import KVM
import Synchronization

/// Per-vCPU event counts for `VM_STATS`. Written by the vCPU thread only, read from anywhere;
/// relaxed atomics keep the exit path free of locks.
final class VCPUCounters: Sendable {
    let exits = Atomic<UInt64>(0)
    let portIO = Atomic<UInt64>(0)
    let mmio = Atomic<UInt64>(0)
    let halt = Atomic<UInt64>(0)
    let shutdown = Atomic<UInt64>(0)
    let interrupted = Atomic<UInt64>(0)
    let interruptWindow = Atomic<UInt64>(0)
    let ioapicEOI = Atomic<UInt64>(0)
    let internalError = Atomic<UInt64>(0)
    let other = Atomic<UInt64>(0)
    let requests = Atomic<UInt64>(0)
    let exceptionsInjected = Atomic<UInt64>(0)
    let nmisInjected = Atomic<UInt64>(0)
    let tripleFaults = Atomic<UInt64>(0)

    @inline(__always)
    func count(_ exit: VCPUExit) {
        exits.increment()
        switch exit {
        case .io: portIO.increment()
        case .mmio: mmio.increment()
        case .halt: halt.increment()
        case .shutdown: shutdown.increment()
        case .interrupted: interrupted.increment()
        case .interruptWindowOpen: interruptWindow.increment()
        case .ioapicEOI: ioapicEOI.increment()
        case .internalError: internalError.increment()
        default: other.increment()
        }
    }

    /// The counters by the names `--get-stats` prints, worded after bhyve's `vmm_stat` descriptions.
    var snapshot: [String: UInt64] {
        [
            "total number of vm exits": exits.load(ordering: .relaxed),
            "number of times in/out was intercepted": portIO.load(ordering: .relaxed),
            "vm exits due to mmio access": mmio.load(ordering: .relaxed),
            "number of times hlt was intercepted": halt.load(ordering: .relaxed),
            "vm exits due to shutdown": shutdown.load(ordering: .relaxed),
            "vm exits due to a kick or signal": interrupted.load(ordering: .relaxed),
            "vm exits due to interrupt window opening": interruptWindow.load(ordering: .relaxed),
            "vm exits due to i/o apic eoi": ioapicEOI.load(ordering: .relaxed),
            "vm exits due to kvm internal error": internalError.load(ordering: .relaxed),
            "number of vm exits for other reasons": other.load(ordering: .relaxed),
            "number of control requests served": requests.load(ordering: .relaxed),
            "number of exceptions injected": exceptionsInjected.load(ordering: .relaxed),
            "number of nmis injected": nmisInjected.load(ordering: .relaxed),
            "number of triple faults from nested exceptions": tripleFaults.load(ordering: .relaxed),
        ]
    }
}

extension Atomic where Value == UInt64 {
    /// Adds one with relaxed ordering: a counter needs no ordering with anything else.
    @inline(__always)
    func increment() {
        _ = wrappingAdd(1, ordering: .relaxed)
    }
}

extension VCPU {
    /// This vCPU's counters for `VM_STATS`, by name; readable from any thread.
    public var statistics: [String: UInt64] { control.counters.snapshot }
}
