import Glibc
import Synchronization
import VMM

/// bhyve's `stdio` UART back end: the guest's serial line on Hyve's standard input and output.
///
/// Starting it puts the input terminal in raw mode (`cfmakeraw` plus CLOCAL, as bhyve) when the
/// input is a TTY, and makes both descriptors non-blocking. The original terminal attributes and
/// descriptor flags are put back by ``close()`` and by ``restoreTerminal()``, which runs at
/// `exit` and which fatal-signal handlers may call. Only one stdio back end can be started at a
/// time. An input epoll cannot watch (a regular file, `/dev/null`) gives the guest no input;
/// end of input stops reading but keeps the output.
public final class StdioBackend: UARTBackend {
    private let input: Int32
    private let output: Int32
    private let channel = UARTChannel()
    private let holdsTerminal = Mutex(false)

    /// A back end on `input` and `output`, standard input and output unless given.
    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) {
        self.input = input
        self.output = output
    }

    deinit { close() }

    public func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws {
        try holdsTerminal.withLock { holds in
            guard !holds else { throw UARTBackendError("the stdio back end is already started") }
            try SavedTerminal.claim(input: input, output: output)
            holds = true
        }
        do {
            try channel.start(loop: loop, sink: sink)
        } catch {
            close()
            throw error
        }
        channel.connect(.init(input: input, output: output, owned: false, isSocket: false))
    }

    public func write(_ bytes: [UInt8]) { channel.write(bytes) }

    public func resumeInput() { channel.resumeInput() }

    public func close() {
        channel.close()
        let held = holdsTerminal.withLock { holds in
            defer { holds = false }
            return holds
        }
        if held { Self.restoreTerminal() }
    }

    public var droppedBytes: Int { channel.droppedBytes }

    /// Puts the terminal attributes and descriptor flags of the started stdio back end back as
    /// they were. Safe to call from a signal handler (no locks, no allocation) and more than once.
    public static func restoreTerminal() {
        SavedTerminal.restore()
    }
}

/// The state ``StdioBackend`` changed, kept where a signal handler can restore it.
///
/// `phase` publishes the saved values: they are written while claiming and read only in `held`,
/// so restoring needs neither a lock nor an allocation.
private enum SavedTerminal {
    static let idle = 0
    static let claiming = 1
    static let held = 2
    static let restoring = 3

    static let phase = Atomic<Int>(idle)
    nonisolated(unsafe) static var input: Int32 = -1
    nonisolated(unsafe) static var output: Int32 = -1
    nonisolated(unsafe) static var inputFlags: Int32 = 0
    nonisolated(unsafe) static var outputFlags: Int32 = 0
    nonisolated(unsafe) static var attributes = termios()
    nonisolated(unsafe) static var isTerminal = false

    /// Registered once, on the first claim, so that every normal exit restores the terminal.
    static let exitHook: Void = {
        _ = atexit { SavedTerminal.restore() }
    }()

    static func claim(input: Int32, output: Int32) throws {
        guard phase.compareExchange(expected: idle, desired: claiming, ordering: .acquiring).exchanged else {
            throw UARTBackendError("stdio is already in use by another UART")
        }
        _ = exitHook
        let inputFlags = fcntl(input, F_GETFL)
        let outputFlags = fcntl(output, F_GETFL)
        guard inputFlags >= 0, outputFlags >= 0 else {
            let code = errno
            phase.store(idle, ordering: .releasing)
            throw SystemError("fcntl on standard input or output", code)
        }
        Self.input = input
        Self.output = output
        Self.inputFlags = inputFlags
        Self.outputFlags = outputFlags
        isTerminal = isatty(input) == 1 && tcgetattr(input, &attributes) == 0
        phase.store(held, ordering: .releasing)
        if isTerminal {
            var raw = attributes
            cfmakeraw(&raw)
            raw.c_cflag |= tcflag_t(CLOCAL)
            tcsetattr(input, TCSANOW, &raw)
        }
        _ = fcntl(input, F_SETFL, inputFlags | O_NONBLOCK)
        _ = fcntl(output, F_SETFL, outputFlags | O_NONBLOCK)
    }

    static func restore() {
        guard phase.compareExchange(expected: held, desired: restoring, ordering: .acquiring).exchanged else { return }
        if isTerminal { tcsetattr(input, TCSANOW, &attributes) }
        _ = fcntl(input, F_SETFL, inputFlags)
        _ = fcntl(output, F_SETFL, outputFlags)
        phase.store(idle, ordering: .releasing)
    }
}
