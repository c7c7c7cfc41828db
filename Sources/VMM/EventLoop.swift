import CKVM
import Glibc
import Synchronization

/// The VMM's event-loop thread (bhyve's mevent): waits on file descriptors with epoll and runs
/// their handlers one at a time, off the vCPU threads. Timers (timerfd), back-end I/O and the
/// control socket all hang off it.
public final class EventLoop: Sendable {
    private let epoll: Int32
    private let wake: Int32
    private let handlers = Mutex<[Int32: @Sendable () -> Void]>([:])
    private let thread = Mutex<pthread_t?>(nil)
    private let stopping = Atomic<Bool>(false)

    public init() throws(SystemError) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemError("epoll_create1", errno) }
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wake >= 0 else {
            close(epoll)
            throw SystemError("eventfd", errno)
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wake
        epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event)
    }

    deinit {
        stop()
        close(wake)
        close(epoll)
    }

    /// Calls `handler` on the loop thread whenever `fd` is readable (level-triggered).
    public func register(_ fd: Int32, handler: @escaping @Sendable () -> Void) throws(SystemError) {
        handlers.withLock { $0[fd] = handler }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        if epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0 {
            let code = errno
            handlers.withLock { _ = $0.removeValue(forKey: fd) }
            throw SystemError("epoll_ctl", code)
        }
    }

    public func unregister(_ fd: Int32) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        handlers.withLock { _ = $0.removeValue(forKey: fd) }
    }

    /// Starts the loop thread; a second call does nothing.
    public func start() throws(SystemError) {
        try thread.withLock { slot throws(SystemError) in
            guard slot == nil else { return }
            slot = try HostThread.spawn("the event loop thread") { self.run() }
        }
    }

    /// Stops the loop thread and waits for it.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
        guard let handle = thread.withLock({ slot -> pthread_t? in
            defer { slot = nil }
            return slot
        }) else { return }
        if pthread_equal(handle, pthread_self()) == 0 { pthread_join(handle, nil) }
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 16)
        while !stopping.load(ordering: .acquiring) {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            if count < 0 { continue }
            for event in events.prefix(Int(count)) where event.data.fd != wake {
                handlers.withLock { $0[event.data.fd] }?()
            }
        }
    }
}
