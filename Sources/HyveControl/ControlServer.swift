import Glibc
import Synchronization

/// Serves a control socket on a thread of its own: it accepts connections at a path and answers
/// each request message with the handler's response, in order, connection by connection.
///
/// The handler runs on the server's thread, one request at a time, so it need not be reentrant;
/// a slow handler delays every client but never the thread that created the server. A connection
/// may carry any number of requests. A message that is not a JSON object, or is longer than
/// ``ControlProtocol/maximumMessageSize``, gets one error line and ends its connection; other
/// connections carry on. Requests of another protocol version, of an unknown kind or with bad
/// fields get an error response and the connection stays open.
///
/// The socket file is created with mode 0600, so only its owner (the user running the VM) can
/// connect. A socket file left at the path by a process that has gone is replaced; one with a
/// live listener is refused with `EADDRINUSE`. ``close()`` stops the thread and removes the file.
public final class ControlServer: Sendable {
    /// Computes the response to one request.
    public typealias Handler = @Sendable (ControlRequest) -> ControlResponse

    /// The socket file's path.
    public let path: String
    private let wakeWriter: Int32
    private let thread: pthread_t
    private let closed = Atomic<Bool>(false)

    /// Listens at `path` and starts serving; at most `maximumConnections` clients are served at
    /// once, and further ones are disconnected straight away.
    public init(path: String, maximumConnections: Int = 16, handler: @escaping Handler) throws(ControlError) {
        self.path = path
        let listener = try Self.listen(at: path)
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            Glibc.close(listener)
            unlink(path)
            throw ControlSocket.systemError("creating the control server's wake-up pipe", code)
        }
        for end in pipeEnds { ControlSocket.setCloseOnExec(end) }
        let loop = ControlServerLoop(listener: listener, wakeReader: pipeEnds[0],
                                     maximumConnections: max(1, maximumConnections), handler: handler)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(loop).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<ControlServerLoop>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<ControlServerLoop>.fromOpaque(context).release()
            Glibc.close(listener)
            Glibc.close(pipeEnds[0])
            Glibc.close(pipeEnds[1])
            unlink(path)
            throw ControlSocket.systemError("starting the control server's thread", result)
        }
        self.thread = thread
        wakeWriter = pipeEnds[1]
    }

    deinit { close() }

    /// Stops serving: removes the socket file, ends every connection and waits for the server's
    /// thread, unless called from the handler itself, which then returns before the thread ends.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        unlink(path)
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
        Glibc.close(wakeWriter)
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    private static func listen(at path: String) throws(ControlError) -> Int32 {
        let address = try ControlSocket.address(path)
        let fd = try ControlSocket.make()
        // Linux gives the socket file the socket inode's mode (less the umask), so this closes the
        // window in which another user could connect before the chmod below.
        _ = fchmod(fd, 0o600)
        var result = ControlSocket.bind(fd, address)
        if result != 0 && errno == EADDRINUSE && ControlSocket.isStale(path) {
            unlink(path)
            result = ControlSocket.bind(fd, address)
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EADDRINUSE {
                throw ControlError(code: code, message: "control socket '\(path)' is in use by another VM")
            }
            throw ControlSocket.systemError("binding control socket '\(path)'", code)
        }
        guard chmod(path, 0o600) == 0, Glibc.listen(fd, 16) == 0 else {
            let code = errno
            Glibc.close(fd)
            unlink(path)
            throw ControlSocket.systemError("listening on control socket '\(path)'", code)
        }
        ControlSocket.setNonBlocking(fd)
        return fd
    }
}

/// The server thread's state; only that thread touches it.
private final class ControlServerLoop {
    private struct Connection {
        let fd: Int32
        var decoder = ControlFrameDecoder()
        var output: [UInt8] = []
        var sent = 0
        var closing = false
    }

    private let listener: Int32
    private let wakeReader: Int32
    private let maximumConnections: Int
    private let handler: ControlServer.Handler
    private var connections: [Connection] = []
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    init(listener: Int32, wakeReader: Int32, maximumConnections: Int, handler: @escaping ControlServer.Handler) {
        self.listener = listener
        self.wakeReader = wakeReader
        self.maximumConnections = maximumConnections
        self.handler = handler
    }

    func run() {
        while true {
            var entries = [pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: connections.count < maximumConnections ? listener : -1, events: Int16(POLLIN), revents: 0)]
            for connection in connections {
                let events = connection.output.isEmpty ? POLLIN : POLLOUT
                entries.append(pollfd(fd: connection.fd, events: Int16(events), revents: 0))
            }
            guard poll(&entries, nfds_t(entries.count), -1) >= 0 || errno == EINTR else { break }
            if entries[0].revents != 0 { break }
            let ready = entries[2...].map { $0.revents != 0 }
            for index in connections.indices where ready[index] { service(&connections[index]) }
            connections.removeAll { connection in
                guard connection.closing && connection.output.isEmpty else { return false }
                Glibc.close(connection.fd)
                return true
            }
            if entries[1].revents != 0 { acceptAll() }
        }
        for connection in connections { Glibc.close(connection.fd) }
        Glibc.close(listener)
        Glibc.close(wakeReader)
    }

    private func acceptAll() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            ControlSocket.setCloseOnExec(fd)
            ControlSocket.setNonBlocking(fd)
            if connections.count < maximumConnections {
                connections.append(Connection(fd: fd))
            } else {
                Glibc.close(fd)
            }
        }
    }

    private func service(_ connection: inout Connection) {
        if !connection.output.isEmpty {
            flush(&connection)
            return
        }
        let count = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard count > 0 else {
            connection.output.removeAll()
            connection.closing = true
            return
        }
        connection.decoder.append(chunk[..<count])
        while !connection.closing {
            let message: [UInt8]?
            do {
                message = try connection.decoder.nextMessage()
            } catch {
                fail(&connection, error)
                break
            }
            guard let message else { break }
            switch ControlRequest.decode(message) {
            case .request(let request): respond(&connection, handler(request))
            case .rejected(let response): respond(&connection, response)
            case .malformed: fail(&connection, ControlError(code: EPROTO, message: "a control message is not a JSON object"))
            }
        }
        flush(&connection)
    }

    /// Sends `error` as a last response and ends the connection: after a framing or syntax
    /// error the stream cannot be trusted to resume at a message boundary.
    private func fail(_ connection: inout Connection, _ error: ControlError) {
        respond(&connection, .error(error))
        connection.closing = true
    }

    private func respond(_ connection: inout Connection, _ response: ControlResponse) {
        if let bytes = try? ControlFraming.frame(response), bytes.count <= ControlProtocol.maximumMessageSize + 1 {
            connection.output += bytes
        } else if let bytes = try? ControlFraming.frame(ControlResponse.failure(EMSGSIZE, "the response does not fit a control message")) {
            connection.output += bytes
        }
    }

    private func flush(_ connection: inout Connection) {
        while connection.sent < connection.output.count {
            let count = connection.output.withUnsafeBytes {
                send(connection.fd, $0.baseAddress! + connection.sent, $0.count - connection.sent, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                connection.sent += count
            } else if count < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                connection.output.removeAll()
                connection.sent = 0
                connection.closing = true
                return
            }
        }
        connection.output.removeAll(keepingCapacity: true)
        connection.sent = 0
    }
}
