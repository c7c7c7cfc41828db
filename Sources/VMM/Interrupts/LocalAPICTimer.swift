/// The local APIC timer's count as a pure function of time, so that the current count is derived
/// from the remaining time rather than ticked.
///
/// The bus clock is bhyve's 128 MiB/s (134 217 728 Hz); the divide configuration register (DCR)
/// divides it by 1 to 128. Counting starts when the initial count is written. The timer expires
/// when the count reaches 0, that is at the first nanosecond at which the whole initial count has
/// elapsed; a periodic timer reloads there and keeps its phase, so periods never drift. A
/// periodic timer noticed more than a period late starts counting afresh from that moment
/// instead of catching up with a burst of interrupts, as bhyve's does.
struct LocalAPICTimer: Equatable, Sendable {
    /// bhyve's `VLAPIC_BUS_FREQ`: a power of two keeps tick/nanosecond conversions exact.
    static let busFrequency: UInt64 = 128 << 20
    /// The DCR bits that select the divisor (0, 1 and 3).
    static let divideMask: UInt32 = 0xB

    var initialCount: UInt32 = 0
    /// The divide configuration register as written (bits 0, 1 and 3).
    var divideConfiguration: UInt32 = 0
    /// When the count was last loaded with the initial count (the clock may not reach back that
    /// far, so arithmetic on it wraps); nil while the timer is stopped.
    var start: UInt64?
    /// When the timer next reaches 0; nil while stopped.
    var deadline: UInt64?

    /// The divisor the DCR selects: 2, 4, … 128, or 1 for code 0b111.
    var divisor: UInt64 {
        let code = (divideConfiguration & 0x3) | (divideConfiguration & 0x8) >> 1
        return code == 0b111 ? 1 : 2 << UInt64(code)
    }

    var isRunning: Bool { start != nil }

    /// Nanoseconds in which `ticks` timer ticks pass at `divisor`, rounded up.
    static func nanoseconds(ticks: UInt64, divisor: UInt64) -> UInt64 {
        let cycles = UInt128(ticks) * UInt128(divisor) * 1_000_000_000
        return UInt64((cycles + UInt128(busFrequency) - 1) / UInt128(busFrequency))
    }

    /// Whole timer ticks in `nanoseconds` at `divisor`.
    static func ticks(nanoseconds: UInt64, divisor: UInt64) -> UInt64 {
        UInt64(UInt128(nanoseconds) * UInt128(busFrequency) / (UInt128(divisor) * 1_000_000_000))
    }

    /// The current count register (CCR) at `now`.
    func currentCount(at now: UInt64, periodic: Bool) -> UInt32 {
        guard let start, initialCount != 0 else { return 0 }
        let elapsed = Self.ticks(nanoseconds: now &- start, divisor: divisor)
        let count = UInt64(initialCount)
        if periodic { return UInt32(count - elapsed % count) }
        return elapsed >= count ? 0 : UInt32(count - elapsed)
    }

    /// Writing the initial count: a non-zero count starts counting down from it now, zero stops
    /// the timer.
    mutating func load(_ count: UInt32, at now: UInt64) {
        initialCount = count
        restart(from: count, at: now)
    }

    /// Counts on from `count` (at most the initial count) as if it had been counting down from
    /// the initial count all along.
    mutating func restart(from count: UInt32, at now: UInt64) {
        guard initialCount != 0, count != 0 else {
            stop()
            return
        }
        let base = now &- Self.nanoseconds(ticks: UInt64(initialCount - count), divisor: divisor)
        start = base
        deadline = base &+ Self.nanoseconds(ticks: UInt64(initialCount), divisor: divisor)
    }

    mutating func stop() {
        start = nil
        deadline = nil
    }

    /// A DCR write takes effect at once: the count carries on from its present value at the new rate.
    mutating func setDivideConfiguration(_ value: UInt32, at now: UInt64, periodic: Bool) {
        let count = currentCount(at: now, periodic: periodic)
        let wasRunning = isRunning && count != 0
        divideConfiguration = value & Self.divideMask
        if wasRunning { restart(from: count, at: now) }
    }

    /// Called at or after `deadline`: true when the timer has expired (the LVT fires). A one-shot
    /// timer stops; a periodic one sets its next deadline.
    mutating func expire(at now: UInt64, periodic: Bool) -> Bool {
        guard let start, let deadline, now >= deadline else { return false }
        guard periodic else {
            stop()
            return true
        }
        let count = UInt64(initialCount)
        let period = Self.nanoseconds(ticks: count, divisor: divisor)
        if now - deadline >= period {
            self.start = now
            self.deadline = now &+ period
        } else {
            let periods = Self.ticks(nanoseconds: now &- start, divisor: divisor) / count
            self.deadline = start &+ Self.nanoseconds(ticks: (periods + 1) * count, divisor: divisor)
        }
        return true
    }
}
