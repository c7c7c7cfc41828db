import Synchronization
import VMM

/// A ``Clock`` that moves only when a test advances it. Timers fire in deadline order, and each
/// handler sees `now` equal to its own deadline, so periodic devices re-arm exactly.
public final class ManualClock: Clock {
    private final class Timer: ClockTimer {
        let clock: ManualClock
        let id: Int

        init(clock: ManualClock, id: Int) {
            self.clock = clock
            self.id = id
        }

        func arm(at deadline: UInt64) { clock.state.withLock { $0.deadlines[id] = deadline } }
        func cancel() { clock.state.withLock { _ = $0.deadlines.removeValue(forKey: id) } }
    }

    private struct State {
        var now: UInt64
        var nextID = 0
        var deadlines: [Int: UInt64] = [:]
        var handlers: [Int: @Sendable () -> Void] = [:]
    }

    private let state: Mutex<State>

    public init(start: UInt64 = 1_000_000_000) {
        state = Mutex(State(now: start))
    }

    public var now: UInt64 { state.withLock { $0.now } }

    public func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.handlers[id] = handler
            return Timer(clock: self, id: id)
        }
    }

    /// Moves time forward by `nanoseconds`, firing every timer that falls due on the way.
    public func advance(by nanoseconds: UInt64) {
        advance(to: now + nanoseconds)
    }

    /// Moves time forward to `target`, firing every timer that falls due on the way.
    public func advance(to target: UInt64) {
        while true {
            let due = state.withLock { state -> (@Sendable () -> Void)? in
                guard let (id, deadline) = state.deadlines.filter({ $0.value <= target })
                    .min(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else {
                    state.now = max(state.now, target)
                    return nil
                }
                state.deadlines.removeValue(forKey: id)
                state.now = max(state.now, deadline)
                return state.handlers[id]
            }
            guard let due else { return }
            due()
        }
    }

    /// Timers currently armed.
    public var armedTimerCount: Int { state.withLock { $0.deadlines.count } }
}

/// An ``InterruptLines`` that records what devices did, for exact assertions in unit tests.
public final class RecordingInterruptLines: InterruptLines {
    public enum Event: Equatable, Sendable {
        case isaAssert(Int, Int?), isaDeassert(Int, Int?), isaPulse(Int, Int?)
        case ioapicAssert(Int), ioapicDeassert(Int), ioapicPulse(Int)
        case msi(address: UInt64, data: UInt32)
    }

    private let recorded = Mutex<[Event]>([])

    public init() {}

    public var events: [Event] { recorded.withLock { $0 } }

    public func clear() { recorded.withLock { $0.removeAll() } }

    /// How many times `event` was recorded.
    public func count(_ event: Event) -> Int { events.filter { $0 == event }.count }

    public func isaAssert(_ irq: Int, ioapicPin: Int?) { record(.isaAssert(irq, ioapicPin)) }
    public func isaDeassert(_ irq: Int, ioapicPin: Int?) { record(.isaDeassert(irq, ioapicPin)) }
    public func isaPulse(_ irq: Int, ioapicPin: Int?) { record(.isaPulse(irq, ioapicPin)) }
    public func ioapicAssert(_ pin: Int) { record(.ioapicAssert(pin)) }
    public func ioapicDeassert(_ pin: Int) { record(.ioapicDeassert(pin)) }
    public func ioapicPulse(_ pin: Int) { record(.ioapicPulse(pin)) }
    public func sendMSI(address: UInt64, data: UInt32) { record(.msi(address: address, data: data)) }

    private func record(_ event: Event) { recorded.withLock { $0.append(event) } }
}
