/// Time as device models see it: a monotonic nanosecond count and one-shot timers on it.
/// `hyve` uses ``EventLoopClock`` (CLOCK_MONOTONIC and timerfd); unit tests use a manual clock
/// that they advance by hand, so that interrupt counts are exact.
public protocol Clock: AnyObject, Sendable {
    /// Nanoseconds on a monotonic time line with an arbitrary origin.
    var now: UInt64 { get }

    /// A timer that runs `handler` each time an armed deadline passes.
    ///
    /// The handler runs on the clock's thread with no device lock held. A handler already due when
    /// the timer is re-armed or cancelled may still run once, so a device checks its own state
    /// (for instance a generation count) before acting on a firing.
    func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer
}

/// A one-shot timer made by a ``Clock``.
public protocol ClockTimer: AnyObject, Sendable {
    /// Fires once at `deadline` (nanoseconds on the clock's time line), replacing any deadline
    /// armed before. A deadline already past fires as soon as possible.
    func arm(at deadline: UInt64)

    /// Disarms the timer.
    func cancel()
}
