import Foundation
import Glibc
import Synchronization
import Testing
@testable import Devices
import TestSupport
import VMM

/// Polls `condition` until it holds or `seconds` pass.
fileprivate func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(1000)
    }
    return true
}

/// A fresh directory under /tmp, removed by `remove()`.
fileprivate struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/hyve-uart-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The host end of a socket back end.
fileprivate struct SocketClient {
    let fd: Int32

    init?(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    /// Receives until `count` bytes or end of stream or the receive timeout.
    func receive(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < count {
            let got = recv(fd, &buffer, min(buffer.count, count - bytes.count), 0)
            guard got > 0 else { break }
            bytes += buffer[..<got]
        }
        return bytes
    }

    func close() { Glibc.close(fd) }
}

/// A UART wired to a real back end on a running event loop.
fileprivate struct LiveUART {
    let loop: EventLoop
    let lines = RecordingInterruptLines()
    let uart: UART16550

    init(backend: any UARTBackend) throws {
        loop = try EventLoop()
        uart = UART16550(base: UARTPorts.base, irq: UARTPorts.irq, lines: lines, backend: backend)
        try uart.start(loop: loop)
        try loop.start()
    }

    func write(_ bytes: [UInt8]) {
        for byte in bytes { uart.portWrite(UARTPorts.base, size: 1, value: UInt32(byte)) }
    }

    /// Reads what the guest would, polling LSR, until `count` bytes or the deadline.
    func read(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        _ = eventually {
            while uart.portRead(UARTPorts.base + 5, size: 1) & 1 != 0 {
                bytes.append(UInt8(uart.portRead(UARTPorts.base, size: 1)))
            }
            return bytes.count >= count
        }
        return bytes
    }
}

@Suite struct SocketBackendTests {
    fileprivate let directory = TemporaryDirectory()
    var path: String { directory.path + "/com1.sock" }

    @Test func bytesRoundTripThroughARealUnixSocket() throws {
        defer { directory.remove() }
        let backend = try SocketBackend(path: path)
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        let client = try #require(SocketClient(path: path))
        defer { client.close() }
        #expect(eventually { backend.isConnected })
        client.send(Array("hello".utf8))
        #expect(live.read(5) == Array("hello".utf8))
        live.write(Array("world".utf8))
        #expect(client.receive(5) == Array("world".utf8))
    }

    @Test func inputBeyondTheFIFOWaitsForTheGuestAndArrivesInOrder() throws {
        defer { directory.remove() }
        let backend = try SocketBackend(path: path)
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        live.uart.portWrite(UARTPorts.base + 2, size: 1, value: 0x01)
        let client = try #require(SocketClient(path: path))
        defer { client.close() }
        let sent = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        client.send(sent)
        let received = live.read(sent.count)
        let inOrder = received == sent
        #expect(inOrder, "received \(received.count) of \(sent.count) bytes")
        #expect(live.uart.portRead(UARTPorts.base + 5, size: 1) & 0x02 == 0)
    }

    @Test func aSecondClientIsToldTheSocketIsBusy() throws {
        defer { directory.remove() }
        let backend = try SocketBackend(path: path)
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        let first = try #require(SocketClient(path: path))
        defer { first.close() }
        #expect(eventually { backend.isConnected })
        let second = try #require(SocketClient(path: path))
        defer { second.close() }
        #expect(second.receive(100) == SocketBackend.busyMessage)
        live.write([0x21])
        #expect(first.receive(1) == [0x21])
    }

    @Test func aVanishedClientIsNotAnErrorAndTheNextOneIsServed() throws {
        defer { directory.remove() }
        let backend = try SocketBackend(path: path)
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        let first = try #require(SocketClient(path: path))
        #expect(eventually { backend.isConnected })
        first.close()
        // Output to the departed client ends its connection (EPIPE) if the hang-up was not seen first.
        live.write(Array("lost".utf8))
        #expect(eventually { !backend.isConnected })
        live.write(Array("nobody".utf8))
        let second = try #require(SocketClient(path: path))
        defer { second.close() }
        #expect(eventually { backend.isConnected })
        second.send([0x33])
        #expect(live.read(1) == [0x33])
        live.write([0x34])
        #expect(second.receive(1) == [0x34])
        #expect(backend.droppedBytes == 0)
    }

    @Test func floodedOutputStaysBoundedAndCountsWhatItDrops() throws {
        defer { directory.remove() }
        let backend = try SocketBackend(path: path)
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        let client = try #require(SocketClient(path: path))
        defer { client.close() }
        #expect(eventually { backend.isConnected })
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        let total = 4 << 20
        for _ in 0..<(total / chunk.count) { backend.write(chunk) }
        live.write([UInt8](repeating: 0x55, count: 1000))
        #expect(backend.droppedBytes > 0)
        #expect(backend.backlogCount <= UARTChannel.backlogLimit)
        // The client takes what was kept; the retry timer sends the backlog as room appears.
        var received = 0
        #expect(eventually {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let got = recv(client.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard got > 0 else { break }
                received += got
            }
            return received + backend.droppedBytes == total + 1000
        })
        #expect(received > UARTChannel.backlogLimit)
    }

    @Test func aStaleSocketFileIsReplacedAndALiveOneRefused() throws {
        defer { directory.remove() }
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(stale)
        let backend = try SocketBackend(path: path)
        #expect(throws: UARTBackendError.self) { try SocketBackend(path: path) }
        backend.close()
        #expect(access(path, F_OK) != 0)
    }

    @Test func aPathTooLongForASocketIsRefused() {
        #expect(throws: UARTBackendError.self) { try SocketBackend(path: "/tmp/" + String(repeating: "x", count: 200)) }
    }
}

@Suite struct FileBackendTests {
    @Test func theFileGetsWhatTheGuestSentAppended() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/console.log"
        try Data("boot\n".utf8).write(to: URL(fileURLWithPath: path))
        let backend = try FileBackend(path: path)
        let live = try LiveUART(backend: backend)
        live.write(Array("guest output\r\n".utf8))
        live.uart.portWrite(UARTPorts.base + 4, size: 1, value: 0x10)
        live.write(Array("looped".utf8))
        backend.close()
        let contents = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(Array(contents) == Array("boot\nguest output\r\n".utf8))
        #expect(live.uart.receive([1]) == 1)
    }

    @Test func aMissingDirectoryIsAnError() {
        #expect(throws: SystemError.self) { try FileBackend(path: "/nonexistent-hyve-dir/console.log") }
    }
}

/// posix_openpt and friends are GNU-only in Swift's view of glibc; they are looked up at run time.
fileprivate enum PseudoTerminal {
    typealias IntFunction = @convention(c) (Int32) -> Int32
    typealias NameFunction = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32

    /// A master and slave pair, or nil where the host has no ptys.
    static func open() -> (master: Int32, slave: Int32)? {
        let handle = dlopen(nil, RTLD_NOW)
        guard let openSymbol = dlsym(handle, "posix_openpt"), let unlockSymbol = dlsym(handle, "unlockpt"),
              let nameSymbol = dlsym(handle, "ptsname_r") else { return nil }
        let master = unsafeBitCast(openSymbol, to: IntFunction.self)(O_RDWR | O_NOCTTY)
        guard master >= 0, unsafeBitCast(unlockSymbol, to: IntFunction.self)(master) == 0 else { return nil }
        var name = [CChar](repeating: 0, count: 128)
        guard unsafeBitCast(nameSymbol, to: NameFunction.self)(master, &name, name.count) == 0 else { return nil }
        let slave = Glibc.open(name, O_RDWR | O_NOCTTY)
        guard slave >= 0 else { return nil }
        return (master, slave)
    }
}

/// One suite, run serially: the terminal a stdio back end holds is process-wide.
@Suite(.serialized) struct StdioBackendTests {
    func localFlags(_ fd: Int32) -> tcflag_t {
        var attributes = termios()
        tcgetattr(fd, &attributes)
        return attributes.c_lflag
    }

    @Test func aTerminalGoesRawWhileStartedAndIsRestoredOnClose() throws {
        let pty = try #require(PseudoTerminal.open())
        defer {
            close(pty.master)
            close(pty.slave)
        }
        let flags = fcntl(pty.slave, F_GETFL)
        #expect(localFlags(pty.slave) & tcflag_t(ICANON | ECHO) != 0)
        let backend = StdioBackend(input: pty.slave, output: pty.slave)
        let live = try LiveUART(backend: backend)
        #expect(localFlags(pty.slave) & tcflag_t(ICANON | ECHO | ISIG) == 0)
        #expect(fcntl(pty.slave, F_GETFL) & O_NONBLOCK != 0)
        _ = Array("typed".utf8).withUnsafeBytes { write(pty.master, $0.baseAddress, $0.count) }
        #expect(live.read(5) == Array("typed".utf8))
        live.write(Array("shown".utf8))
        var buffer = [UInt8](repeating: 0, count: 16)
        var shown: [UInt8] = []
        #expect(eventually {
            let got = read(pty.master, &buffer, buffer.count)
            if got > 0 { shown += buffer[..<got] }
            return shown.count >= 5
        })
        #expect(shown == Array("shown".utf8))
        backend.close()
        #expect(localFlags(pty.slave) & tcflag_t(ICANON | ECHO) != 0)
        #expect(fcntl(pty.slave, F_GETFL) == flags)
    }

    @Test func restoreTerminalWorksWithoutCloseAndOnlyOnce() throws {
        let pty = try #require(PseudoTerminal.open())
        defer {
            close(pty.master)
            close(pty.slave)
        }
        let backend = StdioBackend(input: pty.slave, output: pty.slave)
        _ = try LiveUART(backend: backend)
        #expect(localFlags(pty.slave) & tcflag_t(ICANON) == 0)
        StdioBackend.restoreTerminal()
        #expect(localFlags(pty.slave) & tcflag_t(ICANON) != 0)
        var attributes = termios()
        tcgetattr(pty.slave, &attributes)
        cfmakeraw(&attributes)
        tcsetattr(pty.slave, TCSANOW, &attributes)
        // Already restored: a second call, and close, leave the terminal alone.
        StdioBackend.restoreTerminal()
        backend.close()
        #expect(localFlags(pty.slave) & tcflag_t(ICANON) == 0)
    }

    @Test func onlyOneStdioBackEndRunsAtATime() throws {
        var pipes: [Int32] = [0, 0]
        #expect(pipe(&pipes) == 0)
        defer {
            close(pipes[0])
            close(pipes[1])
        }
        let first = StdioBackend(input: pipes[0], output: pipes[1])
        _ = try LiveUART(backend: first)
        let second = StdioBackend(input: pipes[0], output: pipes[1])
        #expect(throws: UARTBackendError.self) { _ = try LiveUART(backend: second) }
        first.close()
        _ = try LiveUART(backend: second)
        second.close()
    }

    @Test func anInputEpollCannotWatchGivesNoInputButOutputWorks() throws {
        let null = open("/dev/null", O_RDONLY)
        var pipes: [Int32] = [0, 0]
        #expect(pipe(&pipes) == 0)
        defer {
            close(null)
            close(pipes[0])
            close(pipes[1])
        }
        let backend = StdioBackend(input: null, output: pipes[1])
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        live.write(Array("ok".utf8))
        var buffer = [UInt8](repeating: 0, count: 2)
        #expect(read(pipes[0], &buffer, 2) == 2)
        #expect(buffer == Array("ok".utf8))
    }

    @Test func endOfInputStopsReadingButKeepsTheOutput() throws {
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        #expect(pipe(&input) == 0)
        #expect(pipe(&output) == 0)
        defer {
            close(input[0])
            close(output[0])
            close(output[1])
        }
        let backend = StdioBackend(input: input[0], output: output[1])
        defer { backend.close() }
        let live = try LiveUART(backend: backend)
        _ = [UInt8(0x41)].withUnsafeBytes { write(input[1], $0.baseAddress, 1) }
        close(input[1])
        #expect(live.read(1) == [0x41])
        live.write([0x42])
        var byte: UInt8 = 0
        #expect(read(output[0], &byte, 1) == 1)
        #expect(byte == 0x42)
    }
}
