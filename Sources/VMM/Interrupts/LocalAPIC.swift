import Synchronization

/// What a ``LocalAPIC`` needs from the machine around it: the other local APICs, the I/O APIC
/// and its vCPU.
protocol LocalAPICOutput: AnyObject, Sendable {
    /// Delivers an IPI (or a self-IPI) to the local APICs it addresses.
    func send(_ message: APICMessage)
    /// A level-triggered vector was EOI'd: the I/O APIC clears Remote-IRR for it.
    func levelEOI(_ vector: UInt8)
    /// Something arrived for vCPU `vcpu` to act on; `urgent` for what wakes a vCPU halted with
    /// interrupts disabled (NMI, INIT, start-up).
    func wake(vcpu: Int, urgent: Bool)
}

/// One vCPU's local APIC in user space (`--lapic user`): bhyve's vlapic behind a lock. The
/// register semantics are ``LocalAPICRegisters``'; this class adds the clock timer behind the
/// APIC timer and carries out what register operations produce — IPIs, EOIs forwarded to the
/// I/O APIC, wake-ups of the vCPU — after its lock is released, so that APICs never hold each
/// other's locks.
public final class LocalAPIC: Sendable {
    private struct State {
        var registers: LocalAPICRegisters
        var clockTimer: (any ClockTimer)?
        /// The deadline the clock timer is armed at.
        var armed: UInt64?
    }

    /// The vCPU this APIC belongs to; also its APIC ID.
    public let vcpu: Int
    private let x2APICAtReset: Bool
    private let state: Mutex<State>
    private let clock: any Clock
    private unowned let output: any LocalAPICOutput

    /// A local APIC in its power-on state; in x2APIC mode from the start when `x2APIC` is set.
    init(vcpu: Int, x2APIC: Bool, clock: any Clock, output: any LocalAPICOutput) {
        self.vcpu = vcpu
        x2APICAtReset = x2APIC
        self.clock = clock
        self.output = output
        state = Mutex(State(registers: LocalAPICRegisters(vcpu: vcpu, x2APIC: x2APIC)))
        let timer = clock.makeTimer { [weak self] in self?.timerFired() }
        state.withLock { $0.clockTimer = timer }
    }

    /// Runs `body` on the registers under the lock, keeps the clock timer on the APIC timer's
    /// deadline, and carries out the effects once the lock is released.
    private func update<Result>(_ body: (inout LocalAPICRegisters, UInt64) -> Result) -> Result {
        let (result, effects) = state.withLock { state in
            let result = body(&state.registers, clock.now)
            let deadline = state.registers.timerDeadline
            if deadline != state.armed {
                if let deadline { state.clockTimer?.arm(at: deadline) } else { state.clockTimer?.cancel() }
                state.armed = deadline
            }
            return (result, state.registers.takeEffects())
        }
        for message in effects.messages { output.send(message) }
        for vector in effects.levelEOIs { output.levelEOI(vector) }
        if effects.wake { output.wake(vcpu: vcpu, urgent: effects.urgent) }
        return result
    }

    private func inspect<Result: Sendable>(_ body: (LocalAPICRegisters) -> Result) -> Result {
        state.withLock { body($0.registers) }
    }

    private func timerFired() {
        update { registers, now in registers.timerExpired(at: now) }
    }

    // MARK: Guest accesses (on the vCPU's own thread)

    /// The xAPIC page's guest-physical address.
    public static let mmioBase = LocalAPICRegisters.defaultBase
    /// The xAPIC page's size.
    public static let mmioSize: UInt64 = 0x1000

    /// A guest read of the xAPIC page at `offset`; nil when the page is not decoded (x2APIC mode
    /// or the APIC globally disabled) and the access belongs to the bus.
    public func mmioRead(offset: UInt64, size: Int) -> UInt64? {
        update { registers, now in registers.mmioRead(offset: offset, size: size, now: now) }
    }

    /// A guest write to the xAPIC page; false when the page is not decoded.
    public func mmioWrite(offset: UInt64, size: Int, value: UInt64) -> Bool {
        update { registers, now in registers.mmioWrite(offset: offset, size: size, value: value, now: now) }
    }

    /// Whether `msr` is one the local APIC answers: IA32_APIC_BASE or an x2APIC register.
    public static func handles(msr: UInt32) -> Bool {
        msr == LocalAPICRegisters.Base.msr || LocalAPICRegisters.x2APICMSRs.contains(msr)
    }

    /// RDMSR of IA32_APIC_BASE or an x2APIC register; nil when the guest gets #GP.
    public func readMSR(_ msr: UInt32) -> UInt64? {
        if msr == LocalAPICRegisters.Base.msr { return base }
        return update { registers, now in registers.readMSR(msr, now: now) }
    }

    /// WRMSR of IA32_APIC_BASE or an x2APIC register; false when the guest gets #GP.
    public func writeMSR(_ msr: UInt32, value: UInt64) -> Bool {
        update { registers, now in
            msr == LocalAPICRegisters.Base.msr ? registers.setBase(value) : registers.writeMSR(msr, value, now: now)
        }
    }

    /// IA32_APIC_BASE.
    public var base: UInt64 { inspect(\.base) }

    /// CR8 as the TPR gives it (TPR bits 4–7).
    public var cr8: UInt64 { inspect(\.cr8) }

    /// The guest moved `value` to CR8 (KVM reports it in `kvm_run`).
    public func setCR8(_ value: UInt64) {
        update { registers, _ in registers.setCR8(value) }
    }

    // MARK: Injection (on the vCPU's own thread)

    /// The highest pending vector above the processor priority, moved into service: the vector to
    /// inject now. nil when there is none.
    public func takeInterrupt() -> UInt8? {
        update { registers, _ in
            guard let vector = registers.pendingVector else { return nil }
            registers.acknowledge(vector)
            return vector
        }
    }

    /// Whether a vector is pending above the processor priority.
    public var hasPendingInterrupt: Bool { inspect { $0.pendingVector != nil } }

    /// The vector ``takeInterrupt()`` would return, left pending.
    public var pendingVector: UInt8? { inspect(\.pendingVector) }

    /// Takes a pending NMI.
    public func takeNMI() -> Bool {
        update { registers, _ in registers.takeNMI() }
    }

    /// Whether an NMI is pending.
    public var hasPendingNMI: Bool { inspect(\.nmiPending) }

    /// Whether the 8259A's INTR reaches the vCPU through LINT0 (ExtINT).
    public var acceptsExtINT: Bool { inspect(\.acceptsExtINT) }

    /// What INIT and start-up IPIs ask of the vCPU.
    public struct StartupRequest: Sendable, Equatable {
        /// Put the registers in the INIT state.
        public var reset: Bool
        /// Start in real mode at `vector` << 12.
        public var startVector: UInt8?
        /// Stay parked until a start-up IPI comes.
        public var waiting: Bool
    }

    /// Takes the INIT and start-up requests that arrived.
    public func takeStartup() -> StartupRequest {
        update { registers, _ in
            let (reset, vector) = registers.takeStartup()
            return StartupRequest(reset: reset, startVector: vector, waiting: registers.startup == .waitingForStartup)
        }
    }

    /// Whether INIT or a start-up IPI left something for the vCPU to do or to wait for.
    public var hasStartupWork: Bool { inspect { $0.initPending || $0.startup != .running } }

    /// Parks an application processor until a start-up IPI (an operating system's APs at boot).
    public func waitForStartup() {
        update { registers, _ in registers.waitForStartup() }
    }

    // MARK: Delivery (any thread)

    /// Delivers a message addressed to this APIC.
    func receive(_ message: APICMessage) {
        update { registers, _ in registers.receive(message) }
    }

    /// Raises local interrupt `entry` (bhyve's `vlapic_trigger_lvt`).
    public func trigger(_ entry: LocalInterrupt) {
        update { registers, _ in registers.trigger(entry) }
    }

    /// What destination matching needs of this APIC.
    var addressing: APICAddressing { inspect(\.addressing) }

    /// Puts the APIC in its power-on state (a machine reset).
    public func reset() {
        update { registers, _ in registers = LocalAPICRegisters(vcpu: vcpu, x2APIC: x2APICAtReset) }
    }

    /// The registers as they are, for tests and invariant checks.
    var snapshot: LocalAPICRegisters { inspect { $0 } }
}
