#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A synchronous connection to one VM's control socket: each ``send(_:)`` writes a request and
/// waits for its response.
///
/// Not for use from several threads at once. Every call is bounded by ``timeout``; a call that
/// times out or fails on the socket closes the connection, because a late response would
/// otherwise be taken for the next request's, and later calls throw `ENOTCONN`.
public final class ControlClient {
    /// The socket the client is connected to.
    public let path: String
    /// How long one call may take: connecting, or sending a request and reading its response.
    public var timeout: Duration
    private var fd: Int32
    private var decoder = ControlFrameDecoder()

    /// Connects to the control socket at `path`.
    public init(path: String, timeout: Duration = .seconds(5)) throws(ControlError) {
        self.path = path
        self.timeout = timeout
        let address = try ControlSocket.address(path)
        let fd = try ControlSocket.make()
        // A Unix-socket connect waits for room in the listener's backlog up to SO_SNDTIMEO.
        var limit = Self.timeval(timeout)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        if ControlSocket.connect(fd, address) != 0 {
            let code = errno
            Glibc.close(fd)
            switch code {
            case ENOENT: throw ControlError(code: code, message: "no control socket at '\(path)'")
            case ECONNREFUSED: throw ControlError(code: code, message: "nothing is listening at '\(path)'")
            case EAGAIN, EINPROGRESS: throw ControlError(code: ETIMEDOUT, message: "timed out connecting to '\(path)'")
            default: throw ControlSocket.systemError("connecting to '\(path)'", code)
            }
        }
        ControlSocket.setNonBlocking(fd)
        self.fd = fd
    }

    deinit { close() }

    /// Whether the connection is still open.
    public var isConnected: Bool { fd >= 0 }

    /// Sends `request` and returns the server's response, which may be an ``ControlResponse/error(_:)``.
    public func send(_ request: ControlRequest) throws(ControlError) -> ControlResponse {
        let message: [UInt8]
        do {
            message = try ControlFraming.frame(request)
        } catch {
            throw ControlError(code: EINVAL, message: "cannot encode the '\(request.kind)' request")
        }
        return try ControlResponse.decodeResponse(try exchange(message))
    }

    /// Sends `message` as it is (whole lines, each ending in `\n`; empty to only read) and returns
    /// the next response line undecoded: for speaking other versions of the protocol, and for tests.
    public func exchange(_ message: [UInt8]) throws(ControlError) -> [UInt8] {
        guard fd >= 0 else { throw ControlError(code: ENOTCONN, message: "the connection to '\(path)' is closed") }
        let deadline = ContinuousClock.now + timeout
        do {
            try write(message, until: deadline)
            return try readMessage(until: deadline)
        } catch {
            close()
            throw error
        }
    }

    /// Ends the connection.
    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    private func write(_ message: [UInt8], until deadline: ContinuousClock.Instant) throws(ControlError) {
        var sent = 0
        while sent < message.count {
            let count = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
            } else if errno == EAGAIN || errno == EINTR {
                try wait(for: Int16(POLLOUT), until: deadline)
            } else {
                throw ControlSocket.systemError("sending to '\(path)'", errno)
            }
        }
    }

    private func readMessage(until deadline: ContinuousClock.Instant) throws(ControlError) -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let message = try decoder.nextMessage() { return message }
            let count = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                decoder.append(chunk[..<count])
            } else if count == 0 {
                throw ControlError(code: ECONNRESET, message: "the VM closed the control connection at '\(path)'")
            } else if errno == EAGAIN || errno == EINTR {
                try wait(for: Int16(POLLIN), until: deadline)
            } else {
                throw ControlSocket.systemError("receiving from '\(path)'", errno)
            }
        }
    }

    private func wait(for events: Int16, until deadline: ContinuousClock.Instant) throws(ControlError) {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw ControlError(code: ETIMEDOUT, message: "timed out talking to '\(path)'") }
        let (seconds, attoseconds) = left.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
        var entry = pollfd(fd: fd, events: events, revents: 0)
        _ = poll(&entry, 1, milliseconds)
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = max(duration, .milliseconds(1)).components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

extension ControlResponse {
    /// Decodes one response line; a newer version or an unreadable line throws `EPROTO`.
    public static func decodeResponse(_ message: [UInt8]) throws(ControlError) -> ControlResponse {
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(message))
        } catch let error as DecodingError {
            throw ControlError(code: EPROTO, message: "unreadable control response: \(error.summary)")
        } catch {
            throw ControlError(code: EPROTO, message: "unreadable control response")
        }
    }
}
