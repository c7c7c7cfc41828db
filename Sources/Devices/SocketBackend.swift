import Glibc
import Synchronization
import VMM

/// A UART back end on a Unix stream socket, the local counterpart of bhyve's `tcp=` back end:
/// it listens at `path` and serves one client at a time, reading and writing.
///
/// As in bhyve, a client that connects while another is being served is told so and
/// disconnected. A client that goes away is not an error: its connection ends, the guest's output
/// is discarded until the next client connects, and bytes it sent but the guest has not taken
/// are dropped with it. A socket file left at `path` by a process that is gone is replaced; one
/// that still has a listener is refused. ``close()`` removes the socket file.
public final class SocketBackend: UARTBackend {
    /// Sent to a client refused because another one is connected.
    static let busyMessage = Array("Socket already connected\n".utf8)

    public let path: String
    private let listener: Int32
    private let channel = UARTChannel()
    private let loop = Mutex<EventLoop?>(nil)
    private let closed = Atomic<Bool>(false)

    /// Binds and listens at `path`.
    public init(path: String) throws {
        self.path = path
        listener = try Self.listen(at: path)
    }

    deinit { close() }

    public func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws {
        try channel.start(loop: loop, sink: sink)
        let listener = listener
        try self.loop.withLock { slot in
            guard !closed.load(ordering: .acquiring) else { throw UARTBackendError("the back end is closed") }
            try loop.register(listener) { [weak self] in self?.accept() }
            slot = loop
        }
    }

    public func write(_ bytes: [UInt8]) { channel.write(bytes) }

    public func resumeInput() { channel.resumeInput() }

    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.withLock { slot in
            slot?.unregister(listener)
            slot = nil
        }
        Glibc.close(listener)
        unlink(path)
        channel.close()
    }

    public var droppedBytes: Int { channel.droppedBytes }

    /// Whether a client is connected.
    public var isConnected: Bool { channel.isConnected }

    /// Guest output held back for the client.
    var backlogCount: Int { channel.backlogCount }

    private func accept() {
        loop.withLock { slot in
            // The slot is cleared under this lock before the listener is closed.
            guard slot != nil else { return }
            let client = Glibc.accept(listener, nil, nil)
            guard client >= 0 else { return }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            if channel.isConnected {
                _ = Self.busyMessage.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.close(client)
            } else {
                channel.connect(.init(input: client, output: client, owned: true, isSocket: true))
            }
        }
    }

    private static func listen(at path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw UARTBackendError("UART socket path '\(path)' must be 1 to \(capacity - 1) bytes long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        var result = bind(fd, &address)
        if result != 0 && errno == EADDRINUSE && isStale(&address, path: path) {
            unlink(path)
            result = bind(fd, &address)
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            if code == EADDRINUSE { throw UARTBackendError("UART socket path '\(path)' is in use") }
            throw SystemError("binding UART socket '\(path)'", code)
        }
        guard Glibc.listen(fd, 1) == 0 else {
            let code = errno
            Glibc.close(fd)
            unlink(path)
            throw SystemError("listening on UART socket '\(path)'", code)
        }
        return fd
    }

    /// Whether `path` is a socket nobody listens on any more.
    private static func isStale(_ address: inout sockaddr_un, path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return false }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        let refused = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) != 0 && errno == ECONNREFUSED
            }
        }
        return refused
    }

    private static func bind(_ fd: Int32, _ address: inout sockaddr_un) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}
