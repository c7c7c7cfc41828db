import Synchronization

/// The VM's local APICs in user space (`--lapic user`) and the wiring between them: IPIs from
/// one APIC to others, messages from the I/O APIC and MSIs, local interrupts Hyve raises
/// (bhyve's `VM_LAPIC_LOCAL_IRQ`), EOIs of level-triggered vectors back to the I/O APIC, and
/// wake-ups of the vCPUs that have something new to take.
public final class LocalAPICBus: InterruptDelivery, LocalAPICOutput {
    private struct Hooks {
        var wake: (@Sendable (Int, Bool) -> Void)?
        var levelEOI: (@Sendable (UInt8) -> Void)?
    }

    /// One local APIC per vCPU, indexed by vCPU id (which is also the APIC ID). Built once in `init`.
    nonisolated(unsafe) public private(set) var apics: [LocalAPIC] = []
    private let hooks = Mutex(Hooks())

    /// `count` local APICs in their power-on state, their timers on `clock`; in x2APIC mode from
    /// the start when `x2APIC` is set (bhyve's `-x`).
    public init(count: Int, x2APIC: Bool, clock: any Clock) {
        apics = (0..<count).map { LocalAPIC(vcpu: $0, x2APIC: x2APIC, clock: clock, output: self) }
    }

    /// Connects the bus to the machine: `wake(vcpu, urgent)` kicks a vCPU that has something new
    /// (`urgent` for NMI, INIT and start-up, which wake a vCPU halted with interrupts disabled),
    /// `levelEOI(vector)` reaches the I/O APIC.
    public func connect(wake: @escaping @Sendable (Int, Bool) -> Void, levelEOI: @escaping @Sendable (UInt8) -> Void) {
        hooks.withLock {
            $0.wake = wake
            $0.levelEOI = levelEOI
        }
    }

    // MARK: InterruptDelivery

    public func deliver(_ message: MSIMessage) {
        guard let message = APICMessage(message) else { return }
        send(message)
    }

    /// Nothing to mirror: each message carries its trigger mode, which sets the TMR bit as the
    /// APIC accepts it, so EOIs of level-triggered vectors are known without the routes.
    public func routeChanged(pin: Int, message: MSIMessage?) {}

    public func sendMSI(address: UInt64, data: UInt32) {
        deliver(MSIMessage(address: address, data: data))
    }

    public func interrupt(vcpu: Int, vector: UInt8, levelTriggered: Bool) {
        guard apics.indices.contains(vcpu) else { return }
        apics[vcpu].receive(APICMessage(vector: vector, levelTriggered: levelTriggered, destination: UInt32(vcpu)))
    }

    /// bhyve's `VM_LAPIC_LOCAL_IRQ`: raises local interrupt `entry` on the vCPUs in `vcpus`, or
    /// on every vCPU when nil. Each APIC delivers it as its LVT entry says (fixed or NMI); with
    /// the APIC disabled LINT1 is an NMI, so asserting LINT1 everywhere is a machine-wide NMI.
    public func trigger(_ entry: LocalInterrupt, vcpus: CPUSet? = nil) {
        for apic in apics where vcpus?.contains(apic.vcpu) ?? true { apic.trigger(entry) }
    }

    // MARK: LocalAPICOutput

    func send(_ message: APICMessage) {
        for vcpu in message.targets(among: apics.map(\.addressing)) { apics[vcpu].receive(message) }
    }

    func levelEOI(_ vector: UInt8) {
        hooks.withLock { $0.levelEOI }?(vector)
    }

    func wake(vcpu: Int, urgent: Bool) {
        hooks.withLock { $0.wake }?(vcpu, urgent)
    }

    /// Every APIC back in its power-on state (a machine reset).
    public func reset() {
        for apic in apics { apic.reset() }
    }
}
