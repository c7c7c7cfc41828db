import Synchronization

/// The High Precision Event Timer, after bhyve's vhpet (vhpet.c) and the IA-PC HPET specification
/// 1.0a: a 32-bit main counter at 2^24 Hz and eight comparators, each one-shot or periodic, edge or
/// level, delivered to an I/O APIC pin (24–31), as an FSB message (MSI), or — unlike bhyve, which
/// lacks it — through legacy replacement to IRQ 0 and IRQ 8.
///
/// Deadlines are kept in clock nanoseconds computed from the instant the counter last started, so
/// periodic timers never drift; a firing that is noticed late (a slow clock thread, or a register
/// access that finds a deadline already passed) still fires, once.
public final class HPET: MMIODevice {
    /// Where the ACPI HPET table places the register block.
    public static let baseAddress: UInt64 = 0xFED0_0000
    /// Length of the register block.
    public static let size: UInt64 = 0x400
    /// Comparators in the block (GCAP_ID's NUM_TIM_CAP + 1).
    public static let timerCount = 8
    /// Main counter period in femtoseconds (bhyve's 2^24 Hz).
    public static let periodFemtoseconds: UInt64 = 59_604_644

    static let capabilitiesRegister: UInt64 = 0x000
    static let configurationRegister: UInt64 = 0x010
    static let interruptStatusRegister: UInt64 = 0x020
    static let mainCounterRegister: UInt64 = 0x0F0
    static let firstTimerRegister: UInt64 = 0x100
    static let timerStride: UInt64 = 0x20
    static let comparatorOffset: UInt64 = 0x08
    static let fsbRouteOffset: UInt64 = 0x10

    /// GCAP_ID low word: vendor 0x8086, LEG_RT_CAP, NUM_TIM_CAP, REV_ID 1; COUNT_SIZE_CAP 0 keeps
    /// the main counter 32 bits wide as in bhyve.
    static let capabilityWord: UInt32 = 0x8086 << 16 | 1 << 15 | UInt32(timerCount - 1) << 8 | 1

    static let counterEnable: UInt64 = 1 << 0
    static let legacyRouting: UInt64 = 1 << 1

    static let levelTriggered: UInt64 = 1 << 1
    static let interruptEnable: UInt64 = 1 << 2
    static let periodicMode: UInt64 = 1 << 3
    static let periodicCapable: UInt64 = 1 << 4
    static let valueSet: UInt64 = 1 << 6
    static let routeShift: UInt64 = 9
    static let routeField: UInt64 = 0x1F << routeShift
    static let fsbEnable: UInt64 = 1 << 14
    static let fsbCapable: UInt64 = 1 << 15
    /// I/O APIC pins a timer may be routed to (bhyve's choice for a 32-pin I/O APIC).
    static let allowedPins: UInt64 = 0xFF00_0000
    static let timerWritableBits = levelTriggered | interruptEnable | periodicMode | valueSet | routeField | fsbEnable
    static let timerCapabilityBits = allowedPins << 32 | fsbCapable | periodicCapable

    /// 2^24 ticks per 10^9 ns, reduced to lowest terms so that products stay small.
    static let ticksPerUnit: UInt128 = 32_768
    static let nanosecondsPerUnit: UInt128 = 1_953_125
    static let counterSpan: UInt64 = 1 << 32

    /// Legacy replacement sends timer 0 to IRQ 0 (I/O APIC pin 2) and timer 1 to IRQ 8 (pin 8).
    private static let legacyLines: [Wire] = [.isa(irq: 0, ioapicPin: 2), .isa(irq: 8, ioapicPin: 8)]

    /// A wired interrupt line a timer can hold asserted.
    private enum Wire: Equatable {
        case isa(irq: Int, ioapicPin: Int)
        case ioapic(pin: Int)
    }

    /// Where a timer's interrupt goes at the moment it fires.
    private enum Route: Equatable {
        case wire(Wire)
        case message(address: UInt64, data: UInt32)
    }

    private struct Timer {
        var config = HPET.timerCapabilityBits
        var comparator = UInt32.max
        /// The period of a periodic timer; zero makes it behave as one-shot, as in bhyve.
        var period: UInt32 = 0
        /// Tn_FSB_ROUTE: the MSI data in the low half, its address in the high half.
        var fsbRoute: UInt64 = 0
        /// When the counter next reaches the comparator, in clock nanoseconds; nil while halted.
        var deadline: UInt64?
        /// The level line this timer holds high; its GINTR_STA bit reads as set meanwhile.
        var asserted: Wire?

        var isPeriodic: Bool { config & HPET.periodicMode != 0 && period != 0 }
    }

    private struct State {
        var config: UInt64 = 0
        /// The counter when it last started (or its frozen value while halted).
        var counterBase: UInt32 = 0
        /// Clock time at which the counter held `counterBase`; meaningful only while enabled.
        var baseTime: UInt64 = 0
        var timers = [Timer](repeating: Timer(), count: HPET.timerCount)
        var clockTimers: [any ClockTimer] = []

        var enabled: Bool { config & HPET.counterEnable != 0 }

        var interruptStatus: UInt64 {
            timers.indices.reduce(0) { $0 | (timers[$1].asserted != nil ? 1 << UInt64($1) : 0) }
        }

        func elapsedTicks(at now: UInt64) -> UInt64 {
            let nanoseconds = now > baseTime ? now - baseTime : 0
            return UInt64(UInt128(nanoseconds) * HPET.ticksPerUnit / HPET.nanosecondsPerUnit)
        }

        func counter(at now: UInt64) -> UInt32 {
            guard enabled else { return counterBase }
            return counterBase &+ UInt32(truncatingIfNeeded: elapsedTicks(at: now))
        }

        /// The first instant at which `ticks` ticks have elapsed since `baseTime`.
        func time(ofTick ticks: UInt64) -> UInt64 {
            let units = UInt128(ticks) * HPET.nanosecondsPerUnit
            return baseTime + UInt64((units + HPET.ticksPerUnit - 1) / HPET.ticksPerUnit)
        }

        func route(of index: Int) -> Route? {
            let config = timers[index].config
            if index < HPET.legacyLines.count && self.config & HPET.legacyRouting != 0 {
                return .wire(HPET.legacyLines[index])
            }
            if config & HPET.fsbEnable != 0 {
                let fsb = timers[index].fsbRoute
                return .message(address: fsb >> 32, data: UInt32(truncatingIfNeeded: fsb))
            }
            let pin = Int((config & HPET.routeField) >> HPET.routeShift)
            return HPET.allowedPins & (1 << UInt64(pin)) != 0 ? .wire(.ioapic(pin: pin)) : nil
        }
    }

    private let state = Mutex(State())
    private let clock: any Clock
    private let lines: any InterruptLines

    /// A halted HPET whose comparator deadlines run on `clock` and whose interrupts go to `lines`.
    public init(clock: any Clock, lines: any InterruptLines) {
        self.clock = clock
        self.lines = lines
        let clockTimers = (0..<Self.timerCount).map { _ in
            clock.makeTimer { [weak self] in self?.deadlinePassed() }
        }
        state.withLock { $0.clockTimers = clockTimers }
    }

    /// GCAP_ID's low 32 bits, as bhyve's VM_GET_HPET_CAPABILITIES returns them (feeds the ACPI HPET table).
    public var capabilities: UInt32 { Self.capabilityWord }

    /// Power-on state: counter halted at 0, comparators all-ones, no routes, every line released.
    public func reset() {
        state.withLock { state in
            for index in state.timers.indices {
                release(index, &state)
                state.clockTimers[index].cancel()
            }
            let clockTimers = state.clockTimers
            state = State()
            state.clockTimers = clockTimers
        }
    }

    public func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        let offset = address &- Self.baseAddress
        guard Self.isValidAccess(offset: offset, size: size) else { return Self.allOnes(size: size) }
        let register = state.withLock { state in
            let now = clock.now
            serviceDeadlines(&state, now: now)
            return read(register: offset & ~7, state, now: now)
        }
        guard size == 4 else { return register }
        return offset & 4 != 0 ? register >> 32 : register & 0xFFFF_FFFF
    }

    public func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        let offset = address &- Self.baseAddress
        guard Self.isValidAccess(offset: offset, size: size) else { return }
        var mask = UInt64.max
        var data = value
        if size == 4 {
            mask = offset & 4 != 0 ? 0xFFFF_FFFF_0000_0000 : 0xFFFF_FFFF
            data = offset & 4 != 0 ? value << 32 : value & 0xFFFF_FFFF
        }
        state.withLock { state in
            let now = clock.now
            serviceDeadlines(&state, now: now)
            write(register: offset & ~7, data: data, mask: mask, &state, now: now)
            // A comparator that already equals the counter matches at once.
            serviceDeadlines(&state, now: now)
        }
    }

    private static func isValidAccess(offset: UInt64, size: Int) -> Bool {
        offset < Self.size && (size == 4 || size == 8) && offset % UInt64(size) == 0
    }

    private static func allOnes(size: Int) -> UInt64 {
        let bits = max(0, min(size, 8)) * 8
        return bits == 64 ? .max : (1 << UInt64(bits)) - 1
    }

    /// The timer index and the register within its block, for offsets in the timer area.
    private static func timerRegister(_ register: UInt64) -> (index: Int, offset: UInt64)? {
        guard register >= firstTimerRegister else { return nil }
        let index = (register - firstTimerRegister) / timerStride
        guard index < UInt64(timerCount) else { return nil }
        return (Int(index), (register - firstTimerRegister) % timerStride)
    }

    private func read(register: UInt64, _ state: State, now: UInt64) -> UInt64 {
        switch register {
        case Self.capabilitiesRegister:
            return Self.periodFemtoseconds << 32 | UInt64(Self.capabilityWord)
        case Self.configurationRegister:
            return state.config
        case Self.interruptStatusRegister:
            return state.interruptStatus
        case Self.mainCounterRegister:
            return UInt64(state.counter(at: now))
        default:
            guard let (index, offset) = Self.timerRegister(register) else { return 0 }
            let timer = state.timers[index]
            switch offset {
            case 0: return timer.config
            case Self.comparatorOffset: return UInt64(timer.comparator)
            case Self.fsbRouteOffset: return timer.fsbRoute
            default: return 0
            }
        }
    }

    private func write(register: UInt64, data: UInt64, mask: UInt64, _ state: inout State, now: UInt64) {
        let lowHalf = mask & 0xFFFF_FFFF != 0
        switch register {
        case Self.configurationRegister:
            writeConfiguration(data: data, mask: mask, &state, now: now)
        case Self.interruptStatusRegister:
            for index in state.timers.indices where data & (1 << UInt64(index)) != 0 {
                release(index, &state)
            }
        case Self.mainCounterRegister where lowHalf:
            // bhyve also accepts a write while counting; the counter restarts from the new value.
            state.counterBase = UInt32(truncatingIfNeeded: data)
            if state.enabled { startCounting(&state, now: now) }
        default:
            guard let (index, offset) = Self.timerRegister(register) else { return }
            switch offset {
            case 0:
                writeTimerConfiguration(index, data: data, mask: mask, &state)
            case Self.comparatorOffset where lowHalf:
                writeComparator(index, value: UInt32(truncatingIfNeeded: data), &state, now: now)
            case Self.fsbRouteOffset:
                state.timers[index].fsbRoute = state.timers[index].fsbRoute & ~mask | data & mask
            default:
                break
            }
        }
    }

    private func writeConfiguration(data: UInt64, mask: UInt64, _ state: inout State, now: UInt64) {
        let old = state.config
        let counter = state.counter(at: now)
        state.config = (old & ~mask | data & mask) & (Self.counterEnable | Self.legacyRouting)
        let changed = old ^ state.config
        if changed & Self.counterEnable != 0 {
            if state.enabled {
                startCounting(&state, now: now)
            } else {
                state.counterBase = counter
                for index in state.timers.indices {
                    state.timers[index].deadline = nil
                    state.clockTimers[index].cancel()
                }
            }
        }
        if changed & Self.legacyRouting != 0 {
            for index in Self.legacyLines.indices { revalidateLevel(index, &state) }
        }
    }

    private func writeTimerConfiguration(_ index: Int, data: UInt64, mask: UInt64, _ state: inout State) {
        let merged = state.timers[index].config & ~mask | data & mask
        var config = merged & Self.timerWritableBits | Self.timerCapabilityBits
        let pin = (config & Self.routeField) >> Self.routeShift
        // As bhyve: a route the capability mask does not offer reads back as 0, "not connected".
        if Self.allowedPins & (1 << pin) == 0 { config &= ~Self.routeField }
        state.timers[index].config = config
        if config & Self.periodicMode == 0 { state.timers[index].period = 0 }
        revalidateLevel(index, &state)
    }

    /// In periodic mode a write sets the period, and with Tn_VAL_SET_CNF the comparator too; in
    /// one-shot mode it sets the comparator. Either way Tn_VAL_SET_CNF clears itself.
    private func writeComparator(_ index: Int, value: UInt32, _ state: inout State, now: UInt64) {
        var timer = state.timers[index]
        let oldComparator = timer.comparator
        if timer.config & Self.periodicMode != 0 {
            timer.period = value
            if timer.config & Self.valueSet != 0 { timer.comparator = value }
        } else {
            timer.comparator = value
        }
        timer.config &= ~Self.valueSet
        state.timers[index] = timer
        if timer.comparator != oldComparator && state.enabled {
            arm(index, &state, now: now, justFired: false)
        }
    }

    private func startCounting(_ state: inout State, now: UInt64) {
        state.baseTime = now
        for index in state.timers.indices { arm(index, &state, now: now, justFired: false) }
    }

    /// Schedules the instant the counter next equals the comparator. Right after a match that is a
    /// full counter wrap away; otherwise an equal counter matches now.
    private func arm(_ index: Int, _ state: inout State, now: UInt64, justFired: Bool) {
        let elapsed = state.elapsedTicks(at: now)
        let counter = state.counterBase &+ UInt32(truncatingIfNeeded: elapsed)
        var distance = UInt64(state.timers[index].comparator &- counter)
        if distance == 0 && justFired { distance = Self.counterSpan }
        let deadline = state.time(ofTick: elapsed + distance)
        state.timers[index].deadline = deadline
        state.clockTimers[index].arm(at: deadline)
    }

    private func deadlinePassed() {
        state.withLock { state in serviceDeadlines(&state, now: clock.now) }
    }

    /// Fires every timer whose deadline has passed. A periodic comparator then moves to the first
    /// period boundary ahead of the counter, so a late firing fires once and skips the missed
    /// periods, as bhyve's vhpet_adjust_compval does.
    private func serviceDeadlines(_ state: inout State, now: UInt64) {
        guard state.enabled else { return }
        for index in state.timers.indices {
            guard let deadline = state.timers[index].deadline, deadline <= now else { continue }
            let timer = state.timers[index]
            if timer.isPeriodic {
                let behind = state.counter(at: now) &- timer.comparator
                state.timers[index].comparator = timer.comparator &+ (behind / timer.period &+ 1) &* timer.period
            }
            arm(index, &state, now: now, justFired: true)
            interrupt(index, &state)
        }
    }

    private func interrupt(_ index: Int, _ state: inout State) {
        let config = state.timers[index].config
        guard config & Self.interruptEnable != 0, state.timers[index].asserted == nil,
              let route = state.route(of: index) else { return }
        switch route {
        case let .message(address, data):
            lines.sendMSI(address: address, data: data)
        case let .wire(wire) where config & Self.levelTriggered != 0:
            state.timers[index].asserted = wire
            switch wire {
            case let .isa(irq, pin): lines.isaAssert(irq, ioapicPin: pin)
            case let .ioapic(pin): lines.ioapicAssert(pin)
            }
        case .wire(.isa(let irq, let pin)):
            lines.isaPulse(irq, ioapicPin: pin)
        case .wire(.ioapic(let pin)):
            lines.ioapicPulse(pin)
        }
    }

    /// Drops a held level line whose timer no longer drives it the same way (interrupt disabled,
    /// edge or FSB delivery, another route), so that it cannot stay asserted forever.
    private func revalidateLevel(_ index: Int, _ state: inout State) {
        guard let wire = state.timers[index].asserted else { return }
        let config = state.timers[index].config
        let stillDriven = config & Self.interruptEnable != 0 && config & Self.levelTriggered != 0
            && state.route(of: index) == .wire(wire)
        if !stillDriven { release(index, &state) }
    }

    private func release(_ index: Int, _ state: inout State) {
        guard let wire = state.timers[index].asserted else { return }
        state.timers[index].asserted = nil
        switch wire {
        case let .isa(irq, pin): lines.isaDeassert(irq, ioapicPin: pin)
        case let .ioapic(pin): lines.ioapicDeassert(pin)
        }
    }
}
