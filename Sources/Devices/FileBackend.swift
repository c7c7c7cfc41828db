import Glibc
import VMM

/// A write-only UART back end that appends the guest's output to a file, creating it if need be
/// (mode 0644). The guest receives nothing.
public final class FileBackend: UARTBackend {
    public let path: String
    private let channel = UARTChannel()

    /// Opens `path` for appending.
    public init(path: String) throws {
        self.path = path
        // Non-blocking so that a FIFO without a reader fails here instead of stalling, and a slow
        // one fills the backlog instead of the vCPU waiting.
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw SystemError("opening UART output file '\(path)'", errno) }
        channel.connect(.init(input: nil, output: fd, owned: true, isSocket: false))
    }

    deinit { close() }

    public func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws {
        try channel.start(loop: loop, sink: sink)
    }

    public func write(_ bytes: [UInt8]) { channel.write(bytes) }

    public func resumeInput() {}

    public func close() { channel.close() }

    public var droppedBytes: Int { channel.droppedBytes }
}
