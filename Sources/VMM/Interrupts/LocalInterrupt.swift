/// The local vector table's entries: the interrupt sources wired to one local APIC. Version 0x14
/// with maximum LVT index 6 means all seven exist, CMCI included.
public enum LocalInterrupt: Int, CaseIterable, Sendable, CustomStringConvertible {
    case timer, thermal, performanceCounter, lint0, lint1, error, cmci

    /// The entry bhyve numbers `pin` (`APIC_LVT_LINT0` … `APIC_LVT_CMCI`, as `VM_LAPIC_LOCAL_IRQ`
    /// takes it): LINT0, LINT1, timer, error, performance counter, thermal, CMCI.
    public init?(bhyvePin pin: Int) {
        let order: [LocalInterrupt] = [.lint0, .lint1, .timer, .error, .performanceCounter, .thermal, .cmci]
        guard order.indices.contains(pin) else { return nil }
        self = order[pin]
    }

    /// The entry's offset in the xAPIC page.
    var offset: UInt32 {
        switch self {
        case .cmci: 0x2F0
        case .timer: 0x320
        case .thermal: 0x330
        case .performanceCounter: 0x340
        case .lint0: 0x350
        case .lint1: 0x360
        case .error: 0x370
        }
    }

    /// The entry at xAPIC page offset `offset`.
    init?(offset: UInt32) {
        guard let entry = Self.allCases.first(where: { $0.offset == offset }) else { return nil }
        self = entry
    }

    /// The bits a write may change: vector and mask everywhere; the timer mode on the timer (no
    /// TSC-deadline mode: it is not advertised); the delivery mode wherever it exists; polarity
    /// and trigger mode on the LINT pins. Delivery status and remote IRR are read-only.
    var writableBits: UInt32 {
        let common = LocalAPICRegisters.LVT.vectorMask | LocalAPICRegisters.LVT.masked
        switch self {
        case .timer: return common | LocalAPICRegisters.LVT.periodic
        case .error: return common
        case .thermal, .performanceCounter, .cmci: return common | LocalAPICRegisters.LVT.deliveryModeMask
        case .lint0, .lint1:
            return common | LocalAPICRegisters.LVT.deliveryModeMask | LocalAPICRegisters.LVT.activeLow
                | LocalAPICRegisters.LVT.levelTriggered
        }
    }

    public var description: String {
        switch self {
        case .timer: "timer"
        case .thermal: "thermal"
        case .performanceCounter: "performance counter"
        case .lint0: "LINT0"
        case .lint1: "LINT1"
        case .error: "error"
        case .cmci: "CMCI"
        }
    }
}
