import Foundation
import Glibc
import Synchronization

/// A `hyve` process started in the background with its own environment, whose output a test
/// watches while it talks to the VM, e.g. with `hyvectl`.
public final class HyveProcess: Sendable {
    private let process: Process
    private let standardOutput = Mutex(Data())
    private let standardError = Mutex(Data())
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `hyve` with `arguments` and exactly `environment`.
    public init(_ arguments: [String], environment: [String: String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: HyveBinary.path)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let exited = exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        collect(out, isError: false)
        collect(err, isError: true)
    }

    private func collect(_ pipe: Pipe, isError: Bool) {
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                if isError {
                    standardError.withLock { $0.append(chunk) }
                } else {
                    standardOutput.withLock { $0.append(chunk) }
                }
            }
        }
    }

    deinit { terminate() }

    public var output: String { String(decoding: standardOutput.withLock { $0 }, as: UTF8.self) }
    public var errorOutput: String { String(decoding: standardError.withLock { $0 }, as: UTF8.self) }
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Waits until standard output contains `text`; false on timeout or when hyve ends first.
    public func waitForOutput(_ text: String, timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// Waits for hyve to end and returns its exit status; nil on timeout.
    public func waitForExit(timeout: Duration = .seconds(30)) -> Int32? {
        let (seconds, attoseconds) = timeout.components
        let wait = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        guard exited.wait(timeout: wait) == .success else { return nil }
        exited.signal()
        // The readers may still be draining the pipes.
        usleep(50_000)
        return process.terminationStatus
    }

    /// Sends `signal` to hyve.
    public func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Ends hyve if it still runs.
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = waitForExit(timeout: .seconds(10))
    }
}
