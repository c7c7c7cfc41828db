import CKVM
import Glibc

/// The real ``Clock``: CLOCK_MONOTONIC, with each timer a timerfd served by an ``EventLoop``.
public final class EventLoopClock: Clock {
    private let loop: EventLoop

    public init(loop: EventLoop) {
        self.loop = loop
    }

    public var now: UInt64 { Self.monotonicNow() }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer {
        FDTimer(loop: loop, handler: handler)
    }

    /// A timerfd registered with the loop. Creation failures are not recoverable for a device
    /// model (it could never raise its interrupt), so they stop the process with the reason.
    private final class FDTimer: ClockTimer {
        let fd: Int32
        let loop: EventLoop

        init(loop: EventLoop, handler: @escaping @Sendable () -> Void) {
            self.loop = loop
            fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
            precondition(fd >= 0, "timerfd_create failed: \(String(cString: strerror(errno)))")
            let fd = fd
            do {
                try loop.register(fd) {
                    var expirations: UInt64 = 0
                    // Nothing to read means a re-arm raced with this wake-up: not a firing.
                    guard read(fd, &expirations, 8) == 8 else { return }
                    handler()
                }
            } catch {
                preconditionFailure("cannot watch a timerfd: \(error)")
            }
        }

        deinit {
            loop.unregister(fd)
            close(fd)
        }

        func arm(at deadline: UInt64) {
            // An all-zero it_value would disarm the timer; the earliest real deadline is 1 ns.
            let when = max(deadline, 1)
            var spec = itimerspec()
            spec.it_value.tv_sec = Int(when / 1_000_000_000)
            spec.it_value.tv_nsec = Int(when % 1_000_000_000)
            timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
        }

        func cancel() {
            var spec = itimerspec()
            timerfd_settime(fd, 0, &spec, nil)
        }
    }
}
