import Dispatch
import Glibc
import KVM
import Synchronization

/// What other threads hand a vCPU to do between two entries, and what it counts: the state behind
/// ``VCPU/perform(timeout:_:)``, the vCPU's ``PendingEvents`` and its exit statistics.
///
/// Who touches the KVM vCPU: while the vCPU thread is *serving* (from the start of its run loop
/// to just before it reports itself stopped) only that thread does, and other threads post
/// requests for it. While it is not serving, a request runs on the caller's thread with the queue
/// lock held, and the vCPU thread takes that lock to start serving, so the two never overlap.
final class VCPUControl: Sendable {
    /// One closure waiting for the vCPU thread.
    final class Request: Sendable {
        let id: UInt64
        let body: @Sendable (VCPU) -> Void
        let done = DispatchSemaphore(value: 0)

        init(id: UInt64, body: @escaping @Sendable (VCPU) -> Void) {
            self.id = id
            self.body = body
        }
    }

    struct Queue {
        var serving = false
        /// The vCPU thread while it serves.
        var thread: pthread_t?
        var requests: [Request] = []
        var nextID: UInt64 = 0

        /// Whether `caller` is the serving vCPU thread, which must not wait for itself.
        func servedBy(_ caller: pthread_t) -> Bool {
            thread.map { pthread_equal($0, caller) != 0 } ?? false
        }
    }

    let queue = Mutex(Queue())
    /// Set when a request is queued or an event is waiting for injection; the run loop reads only
    /// this before an entry, so an idle vCPU pays one atomic load.
    let hasWork = Atomic<Bool>(false)
    /// Set when something was injected that should end a HLT the vCPU waits out in user space.
    let wakesHalt = Atomic<Bool>(false)
    let events = Mutex(PendingEvents())
    let counters = VCPUCounters()

    /// Back to power-on state: nothing queued for injection (requests stay queued).
    func reset() {
        events.withLock { $0.reset() }
        wakesHalt.store(false, ordering: .relaxed)
    }
}
