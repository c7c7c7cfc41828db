import Dispatch
import Synchronization

extension GuestSession {
    /// Starts ``run(timeout:)`` on another thread; the returned function waits for its outcome.
    public func runInBackground(timeout: Double = 60) -> @Sendable () throws -> GuestRun {
        let result = Mutex<Result<GuestRun, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let outcome = Result { try self.run(timeout: timeout) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        return {
            done.wait()
            done.signal()
            return try result.withLock { $0! }.get()
        }
    }
}
