import Foundation
import Synchronization

/// A program driven through its terminal-like standard streams, as a person at a serial console
/// would: wait for a line, type a command, read the answer. Used for guests that boot to a shell.
public final class ConsoleSession: Sendable {
    private let process: Process
    private let input: FileHandle
    private let transcript = Transcript()
    private let exited = DispatchSemaphore(value: 0)
    private let started: ContinuousClock.Instant

    /// Starts `executable`; standard error is merged into the transcript.
    public init(_ executable: String, _ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        input = stdin.fileHandleForWriting
        let exited = exited
        process.terminationHandler = { _ in exited.signal() }
        started = .now
        try process.run()
        let transcript = transcript
        let reader = output.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                transcript.bytes.withLock { $0.append(chunk) }
            }
        }
    }

    /// Everything the program has written so far.
    public var output: String {
        String(decoding: transcript.bytes.withLock { $0 }, as: UTF8.self)
    }

    /// Time since the program started.
    public var elapsed: Duration { .now - started }

    /// The transcript's bytes from `start` (a byte offset) to `end` (default: now), as text.
    public func output(from start: Int, to end: Int? = nil) -> String {
        let bytes = transcript.bytes.withLock { $0 }
        let upper = min(end ?? bytes.count, bytes.count)
        return String(decoding: bytes[min(start, upper)..<upper], as: UTF8.self)
    }

    /// Waits until the transcript from byte offset `offset` on contains `text`; returns the byte
    /// offset just past it, or nil on timeout or when the program ends first.
    public func waitFor(_ text: String, after offset: Int = 0, timeout: Duration) -> Int? {
        let needle = Data(text.utf8)
        let deadline = ContinuousClock.now + timeout
        while true {
            let running = process.isRunning
            let bytes = transcript.bytes.withLock { $0 }
            if offset < bytes.count, let range = bytes.range(of: needle, in: offset..<bytes.count) {
                return range.upperBound
            }
            if !running || ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Types `text` on the program's standard input.
    public func send(_ text: String) {
        try? input.write(contentsOf: Data(text.utf8))
    }

    /// Waits for the program to end; its exit status, or nil on timeout.
    public func waitForExit(timeout: Duration) -> Int32? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard exited.wait(timeout: .now() + seconds) == .success else { return nil }
        exited.signal()
        return process.terminationStatus
    }

    /// Ends the program if it still runs.
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = waitForExit(timeout: .seconds(10))
    }
}

private final class Transcript: Sendable {
    let bytes = Mutex(Data())
}
