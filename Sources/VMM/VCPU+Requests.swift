import Dispatch
import Glibc
import KVM
import Synchronization

/// Running work on a vCPU's own thread while the VM runs, as bhyve's ioctls freeze a vCPU
/// (`LOCK_ONE_VCPU`, `vcpu_set_state(FROZEN)`) before touching its state.
///
/// KVM's vCPU ioctls belong to the thread that runs the vCPU: from any other thread they wait for
/// `KVM_RUN` to return, which a spinning guest may never do. So a request is queued, the vCPU is
/// kicked out of the guest (immediate_exit plus the kick signal), and the vCPU thread runs it
/// before its next entry. Requests run one at a time in the order they were posted, which
/// serialises concurrent clients. When the vCPU thread is not serving (the VM was never started,
/// or it is suspended or stopped), the request runs on the caller's thread instead, under the
/// queue lock that the vCPU thread must take before it serves again. A vCPU waiting out a HLT in
/// user space serves requests each time it is woken. A request posted from the vCPU thread itself
/// (a device model's handler) runs at once. Requests must not post further requests.
extension VCPU {
    /// How long ``perform(timeout:_:)`` waits by default: well under a control client's timeout.
    public static let requestTimeout: Duration = .seconds(3)

    /// Runs `body` on this vCPU's thread between two entries and returns what it returns; with
    /// the VM not running, runs it on the calling thread. Throws what `body` throws, or
    /// ``VCPURequestError/timedOut(vcpu:)`` (the body then never runs).
    public func perform<T: Sendable>(timeout: Duration = VCPU.requestTimeout,
                                     _ body: @escaping @Sendable (VCPU) throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let posted = control.queue.withLock { queue -> VCPUControl.Request? in
            let request = VCPUControl.Request(id: queue.nextID) { vcpu in
                let result = Result { try body(vcpu) }
                outcome.withLock { $0 = result }
            }
            queue.nextID += 1
            guard queue.serving, !queue.servedBy(pthread_self()) else {
                request.body(self)
                control.counters.requests.increment()
                return nil
            }
            queue.requests.append(request)
            control.hasWork.store(true, ordering: .releasing)
            return request
        }
        if let posted {
            kick()
            if !wait(for: posted, timeout: timeout) { throw VCPURequestError.timedOut(vcpu: id) }
        }
        return try outcome.withLock { $0! }.get()
    }

    /// Waits for `request`; on timeout withdraws it if the vCPU has not taken it yet, else waits
    /// for it to finish, since it is already running. Returns whether it ran.
    private func wait(for request: VCPUControl.Request, timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let deadline = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        if request.done.wait(timeout: deadline) == .success { return true }
        let withdrawn = control.queue.withLock { queue in
            guard let index = queue.requests.firstIndex(where: { $0.id == request.id }) else { return false }
            queue.requests.remove(at: index)
            return true
        }
        if withdrawn { return false }
        request.done.wait()
        return true
    }

    /// Called by the vCPU thread when its run loop starts: from now on requests are queued for it.
    /// Waits for a request running on another thread to finish first.
    func beginServingRequests() {
        let thread = pthread_self()
        control.queue.withLock { queue in
            queue.serving = true
            queue.thread = thread
        }
    }

    /// Called by the vCPU thread when its run loop ends: runs what is still queued and lets later
    /// requests run on their callers' threads.
    func endServingRequests() {
        control.queue.withLock { queue in
            queue.serving = false
            queue.thread = nil
            let left = queue.requests
            queue.requests.removeAll()
            for request in left { run(request) }
        }
    }

    /// The run loop's hook before every entry: runs queued requests, then injects queued events.
    /// An idle vCPU pays one atomic load.
    @inline(__always)
    func prepareEntry() {
        guard control.hasWork.load(ordering: .acquiring) else { return }
        control.hasWork.store(false, ordering: .relaxed)
        serveRequests()
        deliverPendingEvents()
    }

    /// The hook of a HLT waited out in user space, called after every wake-up: serves requests
    /// and returns whether one of them injected an event that ends the HLT.
    func serveRequestsWhileHalted() -> Bool {
        if control.hasWork.load(ordering: .acquiring) { serveRequests() }
        return control.wakesHalt.exchange(false, ordering: .acquiring)
    }

    private func serveRequests() {
        let batch = control.queue.withLock { queue in
            let batch = queue.requests
            queue.requests.removeAll()
            return batch
        }
        for request in batch { run(request) }
    }

    private func run(_ request: VCPUControl.Request) {
        request.body(self)
        control.counters.requests.increment()
        request.done.signal()
    }
}
