import Glibc
import KVM
import Synchronization

/// A configuration the host cannot honour.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A virtual machine: what bhyve keeps in vmm.ko apart from the device models. Memory, vCPUs
/// and their threads, the port and MMIO buses, the CPU sets and the suspend state machine.
public final class VirtualMachine: Sendable {
    /// What the VM is made of.
    public struct Configuration: Sendable {
        public var cpus: Int
        /// Guest RAM in bytes (a positive multiple of 4 KiB).
        public var memorySize: UInt64
        /// Lock guest RAM into host memory (bhyve's `-S`).
        public var wired: Bool
        /// Stop the VM on an access to an unclaimed port or MMIO address (bhyve's `x86.strictio`).
        public var strictIO: Bool
        /// vCPU id → host CPU (bhyve's `-p vcpu:hostcpu`).
        public var pinning: [Int: Int]
        /// What the RTC reads at start, in seconds since the epoch (bhyve's host UTC, or local
        /// time with `-u` off).
        public var rtcTime: Int64
        /// What CPUID tells the guest.
        public var cpuid: CPUIDPolicy
        /// Whose local APICs the VM has (`--lapic`).
        public var localAPIC: LocalAPICMode
        /// Start every local APIC in x2APIC mode (bhyve's `-x`).
        public var x2APIC: Bool

        public init(cpus: Int = 1, memorySize: UInt64 = 256 << 20, wired: Bool = false,
                    strictIO: Bool = false, pinning: [Int: Int] = [:], rtcTime: Int64 = Int64(time(nil)),
                    cpuid: CPUIDPolicy = CPUIDPolicy(), localAPIC: LocalAPICMode = .kernel, x2APIC: Bool = false) {
            self.cpuid = cpuid
            self.localAPIC = localAPIC
            self.x2APIC = x2APIC
            self.cpus = cpus
            self.memorySize = memorySize
            self.wired = wired
            self.strictIO = strictIO
            self.pinning = pinning
            self.rtcTime = rtcTime
        }
    }

    private struct RunState {
        var reason: SuspendReason?
        var active = CPUSet()
        var suspended = CPUSet()
        /// vCPUs halted with interrupts disabled.
        var halted = CPUSet()
        var running = false
    }

    /// Where KVM puts the three pages VMX needs to run real mode on hosts without unrestricted
    /// guest: just below the 16 MiB that bhyve keeps for a boot ROM under 4 GiB.
    static let tssAddress: UInt32 = 0xFEFF_D000

    public let configuration: Configuration
    public let kvm: KVMVM
    public let memory: GuestMemory
    public let ports = PortIOBus()
    public let mmio = MMIOBus()
    /// The event-loop thread that serves timers and back ends.
    public let eventLoop: EventLoop
    public let clock: any Clock
    /// The 8259A pair, the I/O APIC and MSI delivery into the local APICs.
    public let interrupts: InterruptRouter
    /// Hyve's local APICs with `--lapic user`; nil with KVM's.
    public let localAPICs: LocalAPICBus?
    public let pit: PIT
    public let hpet: HPET
    public let rtc: RTC
    public let pmTimer: PMTimer
    /// What this host's KVM can and cannot do for a guest, from `KVM_GET_SUPPORTED_CPUID`.
    public let hostProfile: HostProfile
    /// How often vCPUs are asked whether they sit in HLT with interrupts disabled, since KVM's
    /// local APIC keeps HLT in the kernel.
    static let haltProbeInterval: UInt64 = 100_000_000
    private let haltProbe = Mutex<(any ClockTimer)?>(nil)
    /// The 8259A's output as vCPU 0's LINT0 sees it.
    let extInt: VCPUDoorbell
    /// How often each instruction was emulated in user space because KVM could not.
    public let emulationCounters = EmulationCounters()
    /// Where KVM's XSAVE images keep each state component (the host's CPUID leaf 0xD).
    let extendedStateLayout: XSaveLayout
    /// The size of KVM's XSAVE images (`KVM_CAP_XSAVE2`, at least 4096).
    let xsaveSize: Int
    /// Built once in `init`; `VCPU`s point back here without owning the VM.
    nonisolated(unsafe) public private(set) var vcpus: [VCPU] = []
    private let state = Mutex(RunState())
    private let suspending = Atomic<Bool>(false)
    private let resetHandlers = Mutex<[@Sendable () -> Void]>([])

    /// Creates the KVM VM, its memory and its vCPUs, all in the architectural reset state.
    public init(system: KVMSystem, configuration: Configuration) throws {
        guard configuration.cpus >= 1 else { throw ConfigurationError("a VM needs at least one vCPU") }
        let limit = system.maxVCPUs
        guard configuration.cpus <= limit else {
            throw ConfigurationError("\(configuration.cpus) vCPUs requested, but this host's KVM allows at most \(limit)")
        }
        let hostCPUs = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        for (vcpu, host) in configuration.pinning.sorted(by: { $0.key < $1.key }) {
            guard vcpu >= 0 && vcpu < configuration.cpus else {
                throw ConfigurationError("cannot pin vCPU \(vcpu): the VM has vCPUs 0-\(configuration.cpus - 1)")
            }
            guard host >= 0 && host < hostCPUs else {
                throw ConfigurationError("cannot pin vCPU \(vcpu) to host CPU \(host): the host has CPUs 0-\(hostCPUs - 1)")
            }
        }
        do {
            try configuration.cpuid.validate(cpus: configuration.cpus)
        } catch {
            throw ConfigurationError("\(error)")
        }
        if configuration.x2APIC {
            guard configuration.cpuid.x2APIC && !configuration.cpuid.hiddenFeatures.contains(.x2apic) else {
                throw ConfigurationError("x2APIC mode (-x) needs x2APIC in CPUID (drop x2apic=off and -x2apic)")
            }
        }
        if configuration.localAPIC == .user {
            let needKernelAPIC = configuration.cpuid.paravirtFeatures.intersection(Self.kernelAPICParavirtFeatures)
            guard needKernelAPIC.isEmpty else {
                let names = needKernelAPIC.map(\.rawValue).sorted().joined(separator: ", ")
                throw ConfigurationError("--lapic user cannot offer \(names): they need KVM's local APIC")
            }
        }
        guard KickSignal.install() else { throw KVMError("sigaction", errno: errno) }
        self.configuration = configuration
        kvm = try system.createVM()
        switch configuration.localAPIC {
        case .kernel:
            try kvm.enableSplitIRQChip(ioapicPins: InterruptRouter.ioapicPinCount)
        case .user:
            // No irqchip at all: HLT, the xAPIC page and the x2APIC MSRs come to user space, and
            // IA32_APIC_BASE too once KVM is told to keep its hands off it.
            try kvm.enableUserSpaceMSRs()
            try kvm.denyMSRs([LocalAPICRegisters.Base.msr])
        }
        memory = try GuestMemory(size: configuration.memorySize, wired: configuration.wired)
        eventLoop = try EventLoop()
        let clock = EventLoopClock(loop: eventLoop)
        self.clock = clock
        let bsp = VCPUDoorbell()
        extInt = bsp
        let localAPICs = configuration.localAPIC == .user
            ? LocalAPICBus(count: configuration.cpus, x2APIC: configuration.x2APIC, clock: clock) : nil
        self.localAPICs = localAPICs
        let interrupts = InterruptRouter(delivery: localAPICs ?? KVMInterruptDelivery(kvm: kvm),
                                         extIntChanged: { asserted in bsp.extIntChanged(asserted) })
        self.interrupts = interrupts
        pit = PIT(clock: clock, lines: interrupts)
        hpet = HPET(clock: clock, lines: interrupts)
        let highMemory = memory.segments.count > 1 ? memory.segments[1].size : 0
        rtc = RTC(clock: clock, lines: interrupts, time: configuration.rtcTime,
                  lowMemory: memory.segments[0].size, highMemory: highMemory)
        pmTimer = PMTimer(clock: clock)
        for (slot, segment) in memory.segments.enumerated() {
            try kvm.setUserMemoryRegion(slot: UInt32(slot), guestAddress: segment.guestAddress, size: segment.size,
                                        hostAddress: memory.hostAddress(of: segment))
        }
        if kvm.check(.setTSSAddress) > 0 { try kvm.setTSSAddress(Self.tssAddress) }
        let cpuid = try system.supportedCPUID()
        hostProfile = CPUIDPolicy.hostProfile(supported: cpuid)
        extendedStateLayout = XSaveLayout(cpuid: cpuid)
        xsaveSize = Int(kvm.check(.xsave2))
        _ = try kvm.enableExitOnEmulationFailure()
        var vcpus: [VCPU] = []
        for id in 0..<configuration.cpus {
            let handle = try kvm.createVCPU(id: id)
            try handle.setCPUID(configuration.cpuid.entries(for: id, cpus: configuration.cpus, supported: cpuid))
            vcpus.append(VCPU(id: id, kvm: handle, hostCPU: configuration.pinning[id], apic: localAPICs?.apics[id], vm: self))
        }
        self.vcpus = vcpus
        let ioapic = interrupts.ioapic
        localAPICs?.connect(wake: { [weak self] id, urgent in self?.wake(id, urgent: urgent) },
                            levelEOI: { [weak ioapic] vector in ioapic?.endOfInterrupt(vector: vector) })
        bsp.target.withLock { $0 = vcpus[0] }
        for vcpu in vcpus { try vcpu.reset() }
        state.withLock { $0.active = CPUSet(0..<configuration.cpus) }
        try attachPlatformDevices()
        try eventLoop.start()
    }

    deinit {
        eventLoop.stop()
    }

    /// The devices bhyve keeps in vmm.ko, on their ports and addresses (bhyve.md §3).
    private func attachPlatformDevices() throws {
        let atpic = interrupts.atpic
        try ports.register(atpic, ports: ATPIC.masterPorts.lowerBound, count: ATPIC.masterPorts.count, label: "8259A master")
        try ports.register(atpic, ports: ATPIC.slavePorts.lowerBound, count: ATPIC.slavePorts.count, label: "8259A slave")
        try ports.register(atpic, ports: ATPIC.elcrPorts.lowerBound, count: ATPIC.elcrPorts.count, label: "ELCR")
        try mmio.register(interrupts.ioapic, base: IOAPIC.baseAddress, size: IOAPIC.size, label: "I/O APIC")
        try ports.register(pit, ports: PIT.ports.lowerBound, count: PIT.ports.count, label: "8254 PIT")
        try ports.register(pit, ports: PIT.nmiStatusPort, count: 1, label: "NMI status and control")
        try mmio.register(hpet, base: HPET.baseAddress, size: HPET.size, label: "HPET")
        try ports.register(rtc, ports: RTC.ports.lowerBound, count: RTC.ports.count, label: "RTC")
        try ports.register(pmTimer, ports: PMTimer.port, count: 4, label: "ACPI PM timer")
        let devices: [@Sendable () -> Void] = [atpic.reset, interrupts.ioapic.reset, pit.reset, hpet.reset, rtc.reset]
        for reset in devices { onReinitialize(reset) }
        if let localAPICs { onReinitialize(localAPICs.reset) }
    }

    /// KVM paravirtual features that only work with KVM's local APIC.
    static let kernelAPICParavirtFeatures: Set<KVMParavirtFeature> = [.pvEOI, .pvSendIPI, .pvUnhalt]

    /// A local APIC has news for vCPU `id`. NMI, INIT and start-up IPIs wake even a vCPU halted
    /// with interrupts disabled, so it leaves the halted set at once: the all-halted check must not
    /// see it halted while it is about to run.
    private func wake(_ id: Int, urgent: Bool) {
        guard vcpus.indices.contains(id) else { return }
        if urgent { state.withLock { $0.halted.remove(id) } }
        vcpus[id].notify()
    }

    // MARK: CPU sets

    /// vCPUs that take part in running the VM (bhyve's `active_cpus`).
    public var activeCPUs: CPUSet { state.withLock { $0.active } }

    /// Active vCPUs that have left their run loop because of a suspend (bhyve's `suspended_cpus`).
    public var suspendedCPUs: CPUSet { state.withLock { $0.suspended } }

    /// The reason the VM is suspending or suspended, if any.
    public var suspendReason: SuspendReason? { state.withLock { $0.reason } }

    var isSuspending: Bool { suspending.load(ordering: .acquiring) }

    // MARK: Suspend

    /// Asks every vCPU to stop for `reason`. The first reason wins: returns false (bhyve's
    /// EALREADY) when the VM is already suspending.
    @discardableResult
    public func suspend(_ reason: SuspendReason) -> Bool {
        let won = state.withLock { state -> Bool in
            guard state.reason == nil else { return false }
            state.reason = reason
            return true
        }
        guard won else { return false }
        suspending.store(true, ordering: .releasing)
        for vcpu in vcpus { vcpu.kick() }
        return true
    }

    /// Records whether vCPU `id` sits in HLT with interrupts disabled; when every active vCPU
    /// does, nothing but an NMI or INIT could wake the VM, and it suspends with reason halt.
    func vcpuHalted(_ id: Int, interruptsDisabled: Bool) {
        let allHalted = state.withLock { state -> Bool in
            guard interruptsDisabled else {
                state.halted.remove(id)
                return false
            }
            state.halted.insert(id)
            return state.halted == state.active
        }
        if allHalted { suspend(.halt) }
    }

    private func probeHalts() {
        let active = activeCPUs
        for vcpu in vcpus where active.contains(vcpu.id) { vcpu.probeHalt() }
        haltProbe.withLock { $0?.arm(at: clock.now + Self.haltProbeInterval) }
    }

    func vcpuStopped(_ id: Int) {
        state.withLock { state in
            state.halted.remove(id)
            state.active.remove(id)
            state.suspended.insert(id)
        }
    }

    // MARK: Running

    /// Runs every active vCPU on its own thread until the VM suspends; returns once every one of
    /// them has moved from the active set to the suspended set.
    public func run() throws -> SuspendReason {
        let toStart = try state.withLock { state throws(ConfigurationError) -> CPUSet in
            guard !state.running else { throw ConfigurationError("the VM is already running") }
            guard state.reason == nil else {
                throw ConfigurationError("the VM is suspended (\(state.reason!)); re-initialise it first")
            }
            state.running = true
            return state.active
        }
        defer { state.withLock { $0.running = false } }
        // Hyve's own local APICs see every HLT; KVM's keep it in the kernel, so the vCPUs are asked.
        let probe = configuration.localAPIC == .kernel ? clock.makeTimer { [weak self] in self?.probeHalts() } : nil
        haltProbe.withLock { $0 = probe }
        probe?.arm(at: clock.now + Self.haltProbeInterval)
        defer {
            probe?.cancel()
            haltProbe.withLock { $0 = nil }
        }
        var started: [VCPU] = []
        for id in toStart {
            do {
                try vcpus[id].start()
                started.append(vcpus[id])
            } catch {
                suspend(.failure("\(error)"))
                break
            }
        }
        for vcpu in started { vcpu.join() }
        return state.withLock { $0.reason! }
    }

    /// Registers device state to be put back to power-on values when the VM is re-initialised.
    public func onReinitialize(_ handler: @escaping @Sendable () -> Void) {
        resetHandlers.withLock { $0.append(handler) }
    }

    /// bhyve's `VM_REINIT`: brings a suspended VM back to power-on state without re-creating the
    /// KVM VM: every vCPU in the reset state and active again, devices reset. Guest RAM keeps
    /// its contents, as on a real reset; the caller re-loads the guest.
    public func reinitialize() throws {
        try state.withLock { state throws(ConfigurationError) in
            guard !state.running, state.reason != nil else {
                throw ConfigurationError("only a suspended VM can be re-initialised")
            }
        }
        for vcpu in vcpus { try vcpu.reset() }
        for handler in resetHandlers.withLock({ $0 }) { handler() }
        state.withLock { state in
            state = RunState()
            state.active = CPUSet(0..<configuration.cpus)
        }
        suspending.store(false, ordering: .releasing)
    }
}

/// Lets interrupt callbacks wired up before the vCPUs exist reach vCPU 0 once it does, and keeps
/// the 8259A's output level where vCPU 0's loop can read it before every entry without a lock.
final class VCPUDoorbell: Sendable {
    let target = Mutex<VCPU?>(nil)
    private let asserted = Atomic<Bool>(false)

    /// Whether the 8259A's INTR output is high.
    var isAsserted: Bool { asserted.load(ordering: .acquiring) }

    func extIntChanged(_ level: Bool) {
        asserted.store(level, ordering: .releasing)
        if level { target.withLock { $0 }?.kick() }
    }
}
