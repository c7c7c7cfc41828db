/// One local APIC's architectural state and register semantics, without locks, threads or
/// clocks: every method that depends on time takes `now`, and what has to leave the APIC (IPIs,
/// EOIs for the I/O APIC, a wake-up for the vCPU) is collected in ``effects`` for the owner to
/// carry out once its lock is released. ``LocalAPIC`` wraps it for concurrent use.
///
/// It follows bhyve's vlapic (`sys/amd64/vmm/io/vlapic.c`) and the Intel SDM (vol. 3, ch. 11):
/// version 0x14 with seven LVTs, read-only APIC ID equal to the vCPU id, writable LDR and DFR
/// (flat and cluster models), PPR from TPR and the highest in-service vector, ESR errors that
/// accumulate and are latched by an ESR write, and the timer of ``LocalAPICTimer``. Where bhyve
/// ignores them, the SDM's x2APIC rules apply: IA32_APIC_BASE mode transitions, #GP for
/// reserved, read-only and write-only x2APIC MSR accesses, and MSR accesses outside x2APIC mode.
struct LocalAPICRegisters: Sendable {
    /// The xAPIC page's guest-physical address (IA32_APIC_BASE's default base).
    static let defaultBase: UInt64 = 0xFEE0_0000
    /// Version 0x14 (an integrated APIC), maximum LVT index 6, no EOI-broadcast suppression.
    static let version: UInt32 = UInt32(LocalInterrupt.allCases.count - 1) << 16 | 0x14

    /// IA32_APIC_BASE (MSR 0x1B) bits.
    enum Base {
        static let msr: UInt32 = 0x1B
        static let bsp: UInt64 = 1 << 8
        static let x2APIC: UInt64 = 1 << 10
        static let enabled: UInt64 = 1 << 11
        static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
        static let writable = x2APIC | enabled | addressMask
    }

    /// xAPIC page offsets; the x2APIC MSR of a register is 0x800 + offset / 16.
    enum Offset {
        static let id: UInt32 = 0x020
        static let version: UInt32 = 0x030
        static let tpr: UInt32 = 0x080
        static let apr: UInt32 = 0x090
        static let ppr: UInt32 = 0x0A0
        static let eoi: UInt32 = 0x0B0
        static let rrd: UInt32 = 0x0C0
        static let ldr: UInt32 = 0x0D0
        static let dfr: UInt32 = 0x0E0
        static let svr: UInt32 = 0x0F0
        static let isr: UInt32 = 0x100
        static let tmr: UInt32 = 0x180
        static let irr: UInt32 = 0x200
        static let esr: UInt32 = 0x280
        static let icrLow: UInt32 = 0x300
        static let icrHigh: UInt32 = 0x310
        static let timerInitialCount: UInt32 = 0x380
        static let timerCurrentCount: UInt32 = 0x390
        static let timerDivide: UInt32 = 0x3E0
        static let selfIPI: UInt32 = 0x3F0
    }

    /// The x2APIC MSR range.
    static let x2APICMSRs: ClosedRange<UInt32> = 0x800...0x8FF

    /// LVT entry bits.
    enum LVT {
        static let vectorMask: UInt32 = 0xFF
        static let deliveryModeMask: UInt32 = 0x700
        static let activeLow: UInt32 = 1 << 13
        static let levelTriggered: UInt32 = 1 << 15
        static let masked: UInt32 = 1 << 16
        static let periodic: UInt32 = 1 << 17
    }

    /// Spurious-interrupt vector register bits: the vector, software enable and focus checking.
    enum SVR {
        static let enabled: UInt32 = 1 << 8
        static let writable: UInt32 = 0x3FF
        static let reset: UInt32 = 0xFF
    }

    /// Error status register bits.
    enum ESR {
        static let sendIllegalVector: UInt32 = 1 << 5
        static let receiveIllegalVector: UInt32 = 1 << 6
    }

    /// ICR fields (the low 32 bits; x2APIC's destination is the high 32).
    enum ICR {
        static let logical: UInt32 = 1 << 11
        static let assert: UInt32 = 1 << 14
        static let levelTriggered: UInt32 = 1 << 15
        static let shorthandShift: UInt32 = 18
        /// Vector, delivery mode, destination mode, level, trigger mode and shorthand; delivery
        /// status reads 0 because delivery is immediate.
        static let writableLow: UInt32 = 0x000C_CFFF
    }

    /// The DFR's model bits (28–31); the rest read as ones.
    enum DFR {
        static let modelMask: UInt32 = 0xF000_0000
        static let flat: UInt32 = 0xF000_0000
        static let cluster: UInt32 = 0x0000_0000
        static let reserved: UInt32 = 0x0FFF_FFFF
    }

    /// Where an INIT and the start-up IPIs after it leave the vCPU.
    enum StartupState: Equatable, Sendable {
        /// Running, or at least not waiting for anything the APIC sends.
        case running
        /// An application processor after INIT, waiting for a start-up IPI (wait-for-SIPI).
        case waitingForStartup
        /// A start-up IPI arrived: the vCPU starts in real mode at `vector` << 12.
        case starting(vector: UInt8)
    }

    /// What an operation needs done outside the APIC.
    struct Effects: Sendable, Equatable {
        /// Messages to deliver to other local APICs (or back to this one).
        var messages: [APICMessage] = []
        /// Vectors whose EOI the I/O APIC must see: level-triggered ones.
        var levelEOIs: [UInt8] = []
        /// Something arrived that the vCPU must act on (an interrupt, NMI, INIT or start-up).
        var wake = false
        /// It is an NMI, INIT or start-up IPI, which wakes even a vCPU halted with interrupts disabled.
        var urgent = false
    }

    /// The vCPU, and so the APIC ID.
    let vcpu: Int

    private(set) var base: UInt64
    private(set) var tpr: UInt32 = 0
    private(set) var ldr: UInt32 = 0
    private(set) var dfr: UInt32 = 0xFFFF_FFFF
    private(set) var svr: UInt32 = SVR.reset
    private(set) var irr = APICVectorSet()
    private(set) var isr = APICVectorSet()
    private(set) var tmr = APICVectorSet()
    private(set) var esr: UInt32 = 0
    /// Errors detected since the last ESR write.
    private(set) var pendingErrors: UInt32 = 0
    private(set) var lvt = [UInt32](repeating: LVT.masked, count: LocalInterrupt.allCases.count)
    private(set) var icrLow: UInt32 = 0
    private(set) var icrHigh: UInt32 = 0
    private(set) var timer = LocalAPICTimer()
    /// An NMI waiting to be injected.
    private(set) var nmiPending = false
    /// An INIT arrived: the vCPU must put its registers in the INIT state.
    private(set) var initPending = false
    private(set) var startup = StartupState.running
    private(set) var effects = Effects()

    /// A local APIC after power-on: xAPIC mode, or x2APIC mode when `x2APIC` is set (bhyve's `-x`).
    init(vcpu: Int, x2APIC: Bool = false) {
        self.vcpu = vcpu
        base = Self.defaultBase | Base.enabled | (vcpu == 0 ? Base.bsp : 0) | (x2APIC ? Base.x2APIC : 0)
        resetRegisters()
    }

    // MARK: Modes

    /// Globally enabled in IA32_APIC_BASE.
    var isEnabled: Bool { base & Base.enabled != 0 }
    var isX2APIC: Bool { base & Base.x2APIC != 0 }
    /// Enabled in software through the SVR.
    var isSoftwareEnabled: Bool { svr & SVR.enabled != 0 }
    var isBootstrapProcessor: Bool { base & Base.bsp != 0 }

    /// The APIC ID as the ID register shows it: bits 24–31 in xAPIC mode, all 32 in x2APIC mode.
    var idRegister: UInt32 { isX2APIC ? UInt32(vcpu) : UInt32(truncatingIfNeeded: vcpu) << 24 }

    /// x2APIC's derived logical ID: cluster (ID bits 4–19) in bits 16–31, one bit for ID bits 0–3.
    private var x2APICLogicalID: UInt32 { UInt32(vcpu >> 4) << 16 | 1 << UInt32(vcpu & 0xF) }

    var addressing: APICAddressing {
        let model: APICAddressing.Model
        switch (isX2APIC, dfr & DFR.modelMask) {
        case (true, _), (false, DFR.cluster): model = .cluster
        case (false, DFR.flat): model = .flat
        default: model = .invalid
        }
        return APICAddressing(vcpu: vcpu, id: UInt32(vcpu), ldr: ldr, model: model, x2APIC: isX2APIC, enabled: isEnabled)
    }

    /// Power-on values of everything but IA32_APIC_BASE: what RESET, INIT and a global disable do.
    private mutating func resetRegisters() {
        tpr = 0
        ldr = isX2APIC ? x2APICLogicalID : 0
        dfr = isX2APIC ? 0 : 0xFFFF_FFFF
        svr = SVR.reset
        irr = APICVectorSet()
        isr = APICVectorSet()
        tmr = APICVectorSet()
        esr = 0
        pendingErrors = 0
        lvt = [UInt32](repeating: LVT.masked, count: LocalInterrupt.allCases.count)
        icrLow = 0
        icrHigh = 0
        timer = LocalAPICTimer()
        nmiPending = false
    }

    /// Hands the collected effects to the caller.
    mutating func takeEffects() -> Effects {
        defer { effects = Effects() }
        return effects
    }

    // MARK: Priorities

    /// The processor priority: the TPR, or the class of the highest vector in service if higher.
    var ppr: UInt32 {
        let inService = UInt32(isr.highest ?? 0)
        return tpr >> 4 >= inService >> 4 ? tpr : inService & 0xF0
    }

    /// The highest requested vector whose priority class is above the PPR's: what the vCPU
    /// should take next.
    var pendingVector: UInt8? {
        guard isEnabled, let vector = irr.highest, UInt32(vector) >> 4 > ppr >> 4 else { return nil }
        return vector
    }

    /// The vCPU took `vector` (injected it): it moves from the IRR to the ISR.
    mutating func acknowledge(_ vector: UInt8) {
        irr.remove(vector)
        isr.insert(vector)
    }

    /// CR8 is the TPR's priority class; a MOV to CR8 also clears the TPR's low four bits.
    var cr8: UInt64 { UInt64(tpr >> 4) }

    mutating func setCR8(_ value: UInt64) {
        guard value != cr8 else { return }
        tpr = UInt32(value & 0xF) << 4
    }

    // MARK: Receiving

    /// A fixed or lowest-priority interrupt arrives: into the IRR, its trigger mode into the
    /// TMR. A software-disabled APIC drops it; vectors below 16 are a receive-illegal-vector error.
    mutating func accept(vector: UInt8, levelTriggered: Bool) {
        guard isEnabled, isSoftwareEnabled else { return }
        guard vector >= 16 else {
            report(ESR.receiveIllegalVector)
            return
        }
        irr.insert(vector)
        tmr.set(vector, levelTriggered)
        effects.wake = true
    }

    /// An NMI arrives; the software enable does not hold it back.
    mutating func acceptNMI() {
        guard isEnabled else { return }
        raiseNMI()
    }

    private mutating func raiseNMI() {
        nmiPending = true
        effects.wake = true
        effects.urgent = true
    }

    /// The vCPU took the pending NMI.
    mutating func takeNMI() -> Bool {
        defer { nmiPending = false }
        return nmiPending
    }

    /// INIT: the APIC returns to its power-on state but keeps its ID and IA32_APIC_BASE; the vCPU
    /// resets its registers, and an application processor then waits for a start-up IPI.
    mutating func acceptINIT() {
        guard isEnabled else { return }
        resetRegisters()
        initPending = true
        startup = isBootstrapProcessor ? .running : .waitingForStartup
        effects.wake = true
        effects.urgent = true
    }

    /// A start-up IPI starts a vCPU waiting for one; at any other time it is ignored.
    mutating func acceptStartup(vector: UInt8) {
        guard isEnabled, startup == .waitingForStartup else { return }
        startup = .starting(vector: vector)
        effects.wake = true
        effects.urgent = true
    }

    /// Puts an application processor in wait-for-SIPI without an INIT, as at power-on of a
    /// machine that boots an operating system.
    mutating func waitForStartup() {
        startup = .waitingForStartup
    }

    /// The vCPU's next move after INIT and start-up IPIs: whether to reset its registers, and
    /// the start-up vector once one came. Clears what it reports.
    mutating func takeStartup() -> (reset: Bool, vector: UInt8?) {
        let reset = initPending
        initPending = false
        guard case .starting(let vector) = startup else { return (reset, nil) }
        startup = .running
        return (reset, vector)
    }

    /// Delivers `message` to this APIC as one of its targets. SMI has nothing to reach, and an
    /// ExtINT message is dropped as KVM drops it: the 8259A reaches vCPU 0 through LINT0.
    mutating func receive(_ message: APICMessage) {
        switch message.deliveryMode {
        case .fixed, .lowestPriority: accept(vector: message.vector, levelTriggered: message.levelTriggered)
        case .nmi: acceptNMI()
        case .initialize: acceptINIT()
        case .startup: acceptStartup(vector: message.vector)
        case .smi, .extINT, .reserved: break
        }
    }

    // MARK: Local interrupts

    /// Raises local interrupt `entry` (bhyve's `vlapic_trigger_lvt`). With the APIC disabled, the
    /// LINT pins bypass it: LINT0 as the processor's INTR (the 8259A's ExtINT, which the vCPU
    /// asks the 8259A for) and LINT1 as its NMI pin.
    mutating func trigger(_ entry: LocalInterrupt) {
        guard isEnabled, isSoftwareEnabled else {
            switch entry {
            case .lint0: effects.wake = true
            case .lint1: raiseNMI()
            default: break
            }
            return
        }
        fire(entry)
    }

    /// Delivers an LVT entry's interrupt unless it is masked: fixed (vectors below 16 are a
    /// send-illegal-vector error), NMI, or ExtINT; other delivery modes do nothing.
    private mutating func fire(_ entry: LocalInterrupt) {
        let value = lvt[entry.rawValue]
        guard value & LVT.masked == 0 else { return }
        let vector = UInt8(value & LVT.vectorMask)
        switch MSIMessage.DeliveryMode(rawValue: UInt8((value & LVT.deliveryModeMask) >> 8)) {
        case .fixed:
            guard vector >= 16 else {
                report(ESR.sendIllegalVector, from: entry)
                return
            }
            accept(vector: vector, levelTriggered: false)
        case .nmi:
            acceptNMI()
        case .extINT:
            effects.wake = true
        default:
            break
        }
    }

    /// Whether the 8259A's INTR output reaches the vCPU through LINT0: programmed as ExtINT and
    /// unmasked, or with the APIC disabled, when LINT0 bypasses it.
    var acceptsExtINT: Bool {
        guard isEnabled, isSoftwareEnabled else { return true }
        let value = lvt[LocalInterrupt.lint0.rawValue]
        return value & LVT.masked == 0 && value & LVT.deliveryModeMask == UInt32(MSIMessage.DeliveryMode.extINT.rawValue) << 8
    }

    /// Records an error for the next ESR write to latch, and fires the error LVT unless the error
    /// came from the error LVT itself (which would recurse).
    private mutating func report(_ error: UInt32, from entry: LocalInterrupt? = nil) {
        pendingErrors |= error
        if entry != .error { fire(.error) }
    }

    // MARK: Timer

    var isTimerPeriodic: Bool { lvt[LocalInterrupt.timer.rawValue] & LVT.periodic != 0 }

    /// The timer's deadline, for the owner to arm its clock timer at.
    var timerDeadline: UInt64? { timer.deadline }

    /// The clock reached the timer's deadline: fires the timer LVT, and re-arms a periodic timer.
    mutating func timerExpired(at now: UInt64) {
        if timer.expire(at: now, periodic: isTimerPeriodic) { fire(.timer) }
    }

    // MARK: Register access

    /// The 32-bit register at xAPIC offset `offset` (16-byte aligned), as a read sees it; nil for
    /// offsets with no register.
    func register(at offset: UInt32, now: UInt64) -> UInt32? {
        switch offset {
        case Offset.id: return idRegister
        case Offset.version: return Self.version
        case Offset.tpr: return tpr
        case Offset.apr, Offset.rrd, Offset.eoi: return 0
        case Offset.ppr: return ppr
        case Offset.ldr: return ldr
        case Offset.dfr: return dfr
        case Offset.svr: return svr
        case Offset.isr..<Offset.tmr: return isr.register(Int((offset - Offset.isr) >> 4))
        case Offset.tmr..<Offset.irr: return tmr.register(Int((offset - Offset.tmr) >> 4))
        case Offset.irr..<Offset.esr: return irr.register(Int((offset - Offset.irr) >> 4))
        case Offset.esr: return esr
        case Offset.icrLow: return icrLow
        case Offset.icrHigh: return icrHigh
        case Offset.timerInitialCount: return timer.initialCount
        case Offset.timerCurrentCount: return timer.currentCount(at: now, periodic: isTimerPeriodic)
        case Offset.timerDivide: return timer.divideConfiguration
        default: return LocalInterrupt(offset: offset).map { lvt[$0.rawValue] }
        }
    }

    /// Writes a 32-bit register at xAPIC offset `offset`; read-only and absent registers ignore it.
    mutating func setRegister(at offset: UInt32, _ value: UInt32, now: UInt64) {
        switch offset {
        case Offset.tpr:
            tpr = value & 0xFF
        case Offset.eoi:
            endOfInterrupt()
        case Offset.ldr:
            if !isX2APIC { ldr = value & 0xFF00_0000 }
        case Offset.dfr:
            if !isX2APIC { dfr = value & DFR.modelMask | DFR.reserved }
        case Offset.svr:
            setSVR(value & SVR.writable, now: now)
        case Offset.esr:
            esr = pendingErrors
            pendingErrors = 0
        case Offset.icrHigh:
            icrHigh = value & 0xFF00_0000
        case Offset.icrLow:
            icrLow = value & ICR.writableLow
            sendIPI()
        case Offset.timerInitialCount:
            timer.load(value, at: now)
        case Offset.timerDivide:
            timer.setDivideConfiguration(value, at: now, periodic: isTimerPeriodic)
        default:
            guard let entry = LocalInterrupt(offset: offset) else { return }
            setLVT(entry, value)
        }
    }

    private mutating func setLVT(_ entry: LocalInterrupt, _ value: UInt32) {
        var stored = lvt[entry.rawValue] & ~entry.writableBits | value & entry.writableBits
        if !isSoftwareEnabled { stored |= LVT.masked }
        lvt[entry.rawValue] = stored
    }

    /// A software disable masks every LVT and stops the timer; a re-enable restarts a periodic
    /// timer from its initial count (bhyve's `vlapic_svr_write_handler`).
    private mutating func setSVR(_ value: UInt32, now: UInt64) {
        let wasEnabled = isSoftwareEnabled
        svr = value
        if wasEnabled && !isSoftwareEnabled {
            timer.stop()
            for index in lvt.indices { lvt[index] |= LVT.masked }
        } else if !wasEnabled && isSoftwareEnabled && isTimerPeriodic {
            timer.load(timer.initialCount, at: now)
        }
    }

    /// EOI retires the highest vector in service; a level-triggered one goes on to the I/O APIC.
    private mutating func endOfInterrupt() {
        guard let vector = isr.highest else { return }
        isr.remove(vector)
        if tmr.contains(vector) { effects.levelEOIs.append(vector) }
    }

    /// Turns the ICR into a message (bhyve's `vlapic_icrlo_write_handler`). Fixed and
    /// lowest-priority IPIs with a vector below 16 are a send-illegal-vector error and go nowhere;
    /// a level de-assert INIT (the MP spec's second INIT) and SMI, remote-read and ExtINT IPIs
    /// are ignored.
    private mutating func sendIPI() {
        guard let mode = MSIMessage.DeliveryMode(rawValue: UInt8((icrLow >> 8) & 7)) else { return }
        let vector = UInt8(icrLow & 0xFF)
        switch mode {
        case .fixed, .lowestPriority:
            guard vector >= 16 else {
                report(ESR.sendIllegalVector)
                return
            }
        case .initialize:
            if icrLow & ICR.levelTriggered != 0 && icrLow & ICR.assert == 0 { return }
        case .nmi, .startup:
            break
        case .smi, .reserved, .extINT:
            return
        }
        let shorthand = APICMessage.Shorthand(rawValue: UInt8((icrLow >> ICR.shorthandShift) & 3))!
        effects.messages.append(APICMessage(
            vector: vector, deliveryMode: mode, levelTriggered: false,
            destination: isX2APIC ? icrHigh : icrHigh >> 24, logical: icrLow & ICR.logical != 0,
            x2APICFormat: isX2APIC, shorthand: shorthand, source: vcpu))
    }

    // MARK: xAPIC page

    /// A read of the xAPIC page at `offset` (0–0xFFF) of `size` bytes: the bytes of the 32-bit
    /// register in that 16-byte slot, zero beyond it. nil when the page is not there (x2APIC
    /// mode or globally disabled), so that the access goes to the bus.
    func mmioRead(offset: UInt64, size: Int, now: UInt64) -> UInt64? {
        guard isEnabled, !isX2APIC else { return nil }
        var value: UInt64 = 0
        for index in 0..<size {
            let byte = offset + UInt64(index)
            let slot = UInt32(byte & 0xFF0)
            let within = byte & 0xF
            guard within < 4, byte < 0x1000, let register = register(at: slot, now: now) else { continue }
            value |= UInt64((register >> (8 * UInt32(within))) & 0xFF) << (8 * UInt64(index))
        }
        return value
    }

    /// A write to the xAPIC page. Only 4-byte writes at the start of a register's 16-byte slot
    /// reach the register, as in bhyve and KVM; others are ignored. false when the page is not
    /// there.
    mutating func mmioWrite(offset: UInt64, size: Int, value: UInt64, now: UInt64) -> Bool {
        guard isEnabled, !isX2APIC else { return false }
        guard size == 4, offset & 0xF == 0, offset < 0x1000 else { return true }
        setRegister(at: UInt32(offset), UInt32(truncatingIfNeeded: value), now: now)
        return true
    }

    // MARK: x2APIC MSRs

    /// RDMSR of an x2APIC register; nil means #GP: outside x2APIC mode, for registers x2APIC
    /// lacks (APR, RRD, DFR, ICR high) and for the write-only EOI and SELF IPI.
    func readMSR(_ msr: UInt32, now: UInt64) -> UInt64? {
        guard isEnabled, isX2APIC, Self.x2APICMSRs.contains(msr) else { return nil }
        let offset = (msr - Self.x2APICMSRs.lowerBound) << 4
        switch offset {
        case Offset.apr, Offset.rrd, Offset.dfr, Offset.icrHigh, Offset.eoi, Offset.selfIPI:
            return nil
        case Offset.icrLow:
            return UInt64(icrHigh) << 32 | UInt64(icrLow)
        default:
            return register(at: offset, now: now).map(UInt64.init)
        }
    }

    /// WRMSR of an x2APIC register; false means #GP: outside x2APIC mode, for read-only and
    /// absent registers, set bits above bit 31 (except in the 64-bit ICR), and a non-zero EOI or
    /// ESR write. Reserved bits below 32 are ignored, as KVM does.
    mutating func writeMSR(_ msr: UInt32, _ value: UInt64, now: UInt64) -> Bool {
        guard isEnabled, isX2APIC, Self.x2APICMSRs.contains(msr) else { return false }
        let offset = (msr - Self.x2APICMSRs.lowerBound) << 4
        if offset == Offset.icrLow {
            icrHigh = UInt32(truncatingIfNeeded: value >> 32)
            icrLow = UInt32(truncatingIfNeeded: value) & ICR.writableLow
            sendIPI()
            return true
        }
        guard value >> 32 == 0 else { return false }
        let low = UInt32(value)
        switch offset {
        case Offset.eoi, Offset.esr:
            guard low == 0 else { return false }
        case Offset.selfIPI:
            accept(vector: UInt8(low & 0xFF), levelTriggered: false)
            return true
        case Offset.tpr, Offset.svr, Offset.timerInitialCount, Offset.timerDivide:
            break
        default:
            guard LocalInterrupt(offset: offset) != nil else { return false }
        }
        setRegister(at: offset, low, now: now)
        return true
    }

    // MARK: IA32_APIC_BASE

    /// WRMSR of IA32_APIC_BASE; false means #GP. The SDM's mode transitions: xAPIC → x2APIC,
    /// either → disabled, disabled → xAPIC; x2APIC → xAPIC, disabled → x2APIC and "x2APIC but
    /// disabled" fault, as do reserved bits and moving the page (which Hyve does not support).
    /// The BSP flag is the machine's to set, not the guest's: writes leave it. A global disable
    /// puts the registers in their power-on state.
    mutating func setBase(_ value: UInt64) -> Bool {
        guard value & ~(Base.writable | Base.bsp) == 0, value & Base.addressMask == base & Base.addressMask else {
            return false
        }
        let enable = value & Base.enabled != 0
        let x2APIC = value & Base.x2APIC != 0
        switch (isEnabled, isX2APIC, enable, x2APIC) {
        case (_, _, false, true), (true, true, true, false), (false, _, true, true):
            return false
        default:
            break
        }
        let wasX2APIC = isX2APIC
        let wasEnabled = isEnabled
        base = base & (Base.addressMask | Base.bsp) | value & (Base.enabled | Base.x2APIC)
        if wasEnabled && !enable {
            resetRegisters()
            startup = .running
            initPending = false
        } else if !wasX2APIC && x2APIC {
            ldr = x2APICLogicalID
            dfr = 0
        }
        return true
    }
}
