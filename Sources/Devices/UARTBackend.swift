import Glibc
import Synchronization
import VMM

/// Where a UART's serial line goes on the host (bhyve's `uart_backend.c`): ``StdioBackend``,
/// ``FileBackend`` or ``SocketBackend``.
///
/// Output policy, common to all three: guest bytes are written at once with a non-blocking write
/// on the vCPU thread. What the host cannot take right away is kept in a backlog of at most
/// 64 KiB, retried from the event loop every 10 ms; bytes that would
/// grow the backlog past that are dropped and counted in ``droppedBytes``. A guest flooding the
/// transmitter therefore never blocks its vCPU and never grows memory without bound.
///
/// Input policy: host bytes are read on the event loop and offered to the UART, which takes what
/// fits in its FIFO. The back end keeps the rest and stops reading until ``resumeInput()``, so
/// host input waits in the host's buffers (tty, socket) instead of being lost.
public protocol UARTBackend: AnyObject, Sendable {
    /// Guest → host bytes, called on a vCPU thread. Never blocks; never buffers without bound.
    func write(_ bytes: [UInt8])

    /// Starts delivering host → guest bytes to `sink` on `loop`'s thread. `sink` returns how many
    /// bytes it took; the back end keeps the rest and offers them again after ``resumeInput()``.
    func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws

    /// The receiver has room again for bytes it refused. Callable from any thread; does not block.
    func resumeInput()

    /// Stops all I/O and releases the back end's host resources. Idempotent.
    func close()

    /// Guest bytes dropped because the host could not take them and the backlog was full (or the
    /// write failed outright).
    var droppedBytes: Int { get }
}

/// A back end that cannot be set up.
public struct UARTBackendError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The descriptor plumbing the back ends share: one input descriptor read on the event loop with
/// flow control, and one output descriptor written with a bounded backlog (the policies are
/// described on ``UARTBackend``).
///
/// A connection's descriptors are either borrowed (stdio: left open on hang-up and close) or
/// owned (a socket client, a file: closed on hang-up and close). An input that reaches end of
/// file or fails ends an owned connection and is merely no longer read otherwise. An owned
/// output whose peer has gone (EPIPE, ECONNRESET, ENOTCONN) ends the connection as well; its
/// unsent bytes are discarded without counting, as on a serial line with nobody listening.
final class UARTChannel: Sendable {
    /// The most guest output held back for a slow host.
    static let backlogLimit = 64 * 1024
    static let readChunk = 4096
    static let retryDelay: UInt64 = 10_000_000

    struct Connection: Sendable {
        var input: Int32?
        var output: Int32?
        var owned: Bool
        var isSocket: Bool
    }

    private struct State {
        var connection: Connection?
        var watching = false
        var pendingInput: [UInt8] = []
        var backlog: [UInt8] = []
        var dropped = 0
        var loop: EventLoop?
        var clock: EventLoopClock?
        var retryTimer: (any ClockTimer)?
        var sink: (@Sendable ([UInt8]) -> Int)?
        var closed = false
    }

    private enum Transmission {
        case wrote(Int)
        case gone
        case failed
    }

    private let state = Mutex(State())
    /// Apart from `state` so that ``resumeInput()`` is safe even from inside the sink.
    private let wakeTimer = Mutex<(any ClockTimer)?>(nil)

    init() {}

    deinit { close() }

    /// Starts reading input and retrying output on `loop`.
    func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws {
        try state.withLock { state in
            guard !state.closed else { throw UARTBackendError("the back end is closed") }
            guard state.loop == nil else { throw UARTBackendError("the back end is already started") }
            let clock = EventLoopClock(loop: loop)
            state.loop = loop
            state.clock = clock
            state.sink = sink
            let wake = clock.makeTimer { [weak self] in self?.resume() }
            wakeTimer.withLock { $0 = wake }
            state.retryTimer = clock.makeTimer { [weak self] in self?.retry() }
            watch(&state)
            if !state.backlog.isEmpty { armRetry(&state) }
        }
    }

    /// Replaces the connection (ending an owned one) with `connection`.
    func connect(_ connection: Connection) {
        state.withLock { state in
            guard !state.closed else { return }
            disconnect(&state)
            state.connection = connection
            watch(&state)
        }
    }

    /// Whether a connection is in place (a socket back end accepts one client at a time).
    var isConnected: Bool { state.withLock { $0.connection != nil } }

    var droppedBytes: Int { state.withLock { $0.dropped } }

    /// Guest output held back for a slow host.
    var backlogCount: Int { state.withLock { $0.backlog.count } }

    func write(_ bytes: [UInt8]) {
        state.withLock { state in
            guard !state.closed, state.connection?.output != nil else { return }
            flush(&state)
            var rest = bytes[...]
            if state.backlog.isEmpty {
                switch transmit(rest, &state) {
                case .wrote(let count): rest = rest.dropFirst(count)
                case .gone: return
                case .failed:
                    state.dropped += rest.count
                    return
                }
            }
            guard !rest.isEmpty else { return }
            let room = Self.backlogLimit - state.backlog.count
            state.backlog.append(contentsOf: rest.prefix(room))
            state.dropped += max(0, rest.count - room)
            armRetry(&state)
        }
    }

    /// Wakes the loop to offer held-back input again.
    func resumeInput() {
        let timer = wakeTimer.withLock { $0 }
        timer?.arm(at: 0)
    }

    func close() {
        let timers = state.withLock { state -> [any ClockTimer] in
            state.closed = true
            disconnect(&state)
            let timers = [wakeTimer.withLock { $0.take() }, state.retryTimer].compactMap { $0 }
            state.retryTimer = nil
            state.sink = nil
            return timers
        }
        for timer in timers { timer.cancel() }
    }

    private func watch(_ state: inout State) {
        guard let loop = state.loop, let fd = state.connection?.input, !state.watching, state.pendingInput.isEmpty else { return }
        do {
            try loop.register(fd) { [weak self] in self?.readable(fd) }
            state.watching = true
        } catch {
            // epoll cannot watch regular files or /dev/null: such an input gives the guest nothing.
            state.connection?.input = nil
        }
    }

    private func unwatch(_ state: inout State) {
        guard state.watching, let fd = state.connection?.input else { return }
        state.loop?.unregister(fd)
        state.watching = false
    }

    private func readable(_ fd: Int32) {
        state.withLock { state in
            // A wake-up for a descriptor that has since been replaced, or input already paused.
            guard !state.closed, state.connection?.input == fd, state.watching else { return }
            guard state.pendingInput.isEmpty else {
                unwatch(&state)
                return
            }
            var buffer = [UInt8](repeating: 0, count: Self.readChunk)
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count > 0 {
                state.pendingInput = Array(buffer[..<count])
                deliver(&state)
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                hangUp(&state)
            }
        }
    }

    /// Offers held input to the sink; pauses reading while some is left.
    private func deliver(_ state: inout State) {
        guard let sink = state.sink, !state.pendingInput.isEmpty else { return }
        let taken = sink(state.pendingInput)
        state.pendingInput.removeFirst(min(taken, state.pendingInput.count))
        if !state.pendingInput.isEmpty { unwatch(&state) }
    }

    private func resume() {
        state.withLock { state in
            guard !state.closed else { return }
            deliver(&state)
            watch(&state)
        }
    }

    private func retry() {
        state.withLock { state in
            guard !state.closed else { return }
            flush(&state)
            if !state.backlog.isEmpty { armRetry(&state) }
        }
    }

    private func armRetry(_ state: inout State) {
        guard let clock = state.clock else { return }
        state.retryTimer?.arm(at: clock.now + Self.retryDelay)
    }

    private func hangUp(_ state: inout State) {
        unwatch(&state)
        state.pendingInput = []
        if state.connection?.owned == true {
            disconnect(&state)
        } else {
            state.connection?.input = nil
        }
    }

    private func disconnect(_ state: inout State) {
        unwatch(&state)
        if let connection = state.connection, connection.owned {
            if let input = connection.input { Glibc.close(input) }
            if let output = connection.output, output != connection.input { Glibc.close(output) }
        }
        state.connection = nil
        state.pendingInput = []
        state.backlog = []
    }

    private func flush(_ state: inout State) {
        while !state.backlog.isEmpty {
            switch transmit(state.backlog[...], &state) {
            case .wrote(0): return
            case .wrote(let count): state.backlog.removeFirst(count)
            case .gone: return
            case .failed:
                state.dropped += state.backlog.count
                state.backlog = []
            }
        }
    }

    private func transmit(_ bytes: ArraySlice<UInt8>, _ state: inout State) -> Transmission {
        guard let connection = state.connection, let fd = connection.output else { return .gone }
        let count = bytes.withUnsafeBytes { buffer in
            // send() with MSG_NOSIGNAL: a vanished socket client must not raise SIGPIPE.
            connection.isSocket
                ? send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
                : Glibc.write(fd, buffer.baseAddress, buffer.count)
        }
        if count >= 0 { return .wrote(count) }
        switch errno {
        case EAGAIN, EINTR:
            return .wrote(0)
        case EPIPE, ECONNRESET, ENOTCONN:
            guard connection.owned else { return .failed }
            disconnect(&state)
            return .gone
        default:
            return .failed
        }
    }
}
