import Glibc

/// Host threads as pthreads: Hyve pins and signals its vCPU and event-loop threads, which needs
/// their `pthread_t`.
enum HostThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread; `name` describes it in the error.
    static func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> pthread_t {
        let box = Unmanaged.passRetained(Body(body))
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw SystemError("starting \(name)", result)
        }
        return handle
    }
}
