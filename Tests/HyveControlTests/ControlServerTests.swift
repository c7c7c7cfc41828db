import Foundation
import Glibc
import HyveControl
import Synchronization
import Testing

/// A temporary directory for sockets, removed with everything in it.
final class ControlTemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/hyvectl-test-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func socket(_ name: String) -> String { path + "/" + name + ".sock" }
}

/// A value shared with a handler on the server's thread.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}

/// A server and a client over a real Unix socket.
struct ControlServerTests {
    /// Answers register reads with the vCPU number, counts and records what it was asked.
    static func recordingHandler() -> (ControlServer.Handler, Locked<[ControlRequest]>) {
        let seen = Locked<[ControlRequest]>([])
        let handler: ControlServer.Handler = { request in
            seen.withLock { $0.append(request) }
            switch request {
            case .getRegister(let vcpu, _): return .value(UInt64(vcpu) << 32 | 0xABCD)
            case .getActiveCPUs: return .cpus([0, 1])
            case .injectNMI(let vcpu) where vcpu > 1: return .failure(EINVAL, "no vCPU \(vcpu)")
            default: return .done
            }
        }
        return (handler, seen)
    }

    static func send(_ client: ControlClient, _ text: String) throws -> ControlResponse {
        try ControlResponse.decodeResponse(client.exchange(Array((text + "\n").utf8)))
    }

    static func code(of body: () throws -> some Any) -> Int32? {
        do {
            _ = try body()
            return nil
        } catch let error as ControlError {
            return error.code
        } catch {
            return -1
        }
    }

    @Test func requestReachesTheHandlerAndItsResponseComesBack() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, seen) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"))
        #expect(try client.send(.getRegister(vcpu: 3, register: .rip)) == .value(3 << 32 | 0xABCD))
        #expect(seen.withLock { $0 } == [.getRegister(vcpu: 3, register: .rip)])
    }

    @Test func oneConnectionCarriesManyRequestsInOrder() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, seen) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"))
        for vcpu in 0..<50 {
            #expect(try client.send(.getRegister(vcpu: vcpu, register: .rax)) == .value(UInt64(vcpu) << 32 | 0xABCD))
        }
        #expect(try client.send(.injectNMI(vcpu: 7)) == .failure(EINVAL, "no vCPU 7"))
        #expect(seen.withLock { $0.count } == 51)
    }

    @Test func requestsPipelinedInOneWriteGetOneResponseEach() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, _) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"))
        let two = Array((#"{"version":1,"request":"getActiveCPUs"}"# + "\n" + #"{"version":1,"request":"reinit"}"# + "\n").utf8)
        #expect(try ControlResponse.decodeResponse(client.exchange(two)) == .cpus([0, 1]))
        #expect(try ControlResponse.decodeResponse(client.exchange([])) == .done)
    }

    @Test func severalClientsAreServedAtOnce() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, _) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let clients = try (0..<4).map { _ in try ControlClient(path: directory.socket("vm")) }
        for round in 0..<5 {
            for (index, client) in clients.enumerated() {
                #expect(try client.send(.getRegister(vcpu: index + round, register: .rsp)) == .value(UInt64(index + round) << 32 | 0xABCD))
            }
        }
    }

    @Test func newerVersionGetsAnErrorAndTheConnectionStaysOpen() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, seen) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"))
        guard case .error(let error) = try Self.send(client, #"{"version":2,"request":"getActiveCPUs"}"#) else {
            Issue.record("a version 2 request was answered")
            return
        }
        #expect(error.code == EPROTONOSUPPORT)
        #expect(try client.send(.getActiveCPUs) == .cpus([0, 1]))
        #expect(seen.withLock { $0 } == [.getActiveCPUs])
    }

    @Test func unknownRequestGetsAnErrorAndTheConnectionStaysOpen() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, _) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"))
        #expect(try Self.send(client, #"{"version":1,"request":"getVMCSEntryControls","vcpu":0}"#)
                == .failure(ENOSYS, "unknown request 'getVMCSEntryControls'"))
        guard case .error(let error) = try Self.send(client, #"{"version":1,"request":"getRegister","vcpu":0}"#) else {
            Issue.record("a request without its register was answered")
            return
        }
        #expect(error.code == EINVAL)
        #expect(try client.send(.reinit) == .done)
    }

    @Test func malformedJSONEndsOnlyItsOwnConnection() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, _) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let bystander = try ControlClient(path: directory.socket("vm"))
        let client = try ControlClient(path: directory.socket("vm"))
        guard case .error(let error) = try Self.send(client, #"{"version":1,"request":"#) else {
            Issue.record("malformed JSON was answered")
            return
        }
        #expect(error.code == EPROTO)
        #expect(Self.code { try client.send(.getActiveCPUs) } != nil)
        #expect(try bystander.send(.getActiveCPUs) == .cpus([0, 1]))
    }

    @Test func oversizedMessageEndsOnlyItsOwnConnection() throws {
        let directory = ControlTemporaryDirectory()
        let (handler, seen) = Self.recordingHandler()
        let server = try ControlServer(path: directory.socket("vm"), handler: handler)
        defer { server.close() }
        let bystander = try ControlClient(path: directory.socket("vm"))
        let client = try ControlClient(path: directory.socket("vm"))
        let huge = Array(#"{"version":1,"request":"getActiveCPUs","padding":""#.utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: ControlProtocol.maximumMessageSize) + Array("\"}\n".utf8)
        do {
            let reply = try ControlResponse.decodeResponse(client.exchange(huge))
            guard case .error(let error) = reply else {
                Issue.record("an oversized request was answered with \(reply)")
                return
            }
            #expect(error.code == EMSGSIZE)
            #expect(Self.code { try client.send(.getActiveCPUs) } != nil)
        } catch {
            // The server may close before the client has finished writing the message.
            #expect([EPIPE, ECONNRESET].contains(error.code), "\(error)")
        }
        #expect(try bystander.send(.getActiveCPUs) == .cpus([0, 1]))
        #expect(seen.withLock { $0 } == [.getActiveCPUs])
    }

    @Test func slowHandlerMakesTheClientTimeOutAndDisconnect() throws {
        let directory = ControlTemporaryDirectory()
        let server = try ControlServer(path: directory.socket("vm")) { _ in
            usleep(300_000)
            return .done
        }
        defer { server.close() }
        let client = try ControlClient(path: directory.socket("vm"), timeout: .milliseconds(50))
        #expect(Self.code { try client.send(.reinit) } == ETIMEDOUT)
        #expect(!client.isConnected)
        #expect(Self.code { try client.send(.reinit) } == ENOTCONN)
    }

    @Test func socketFileIsOwnerOnly() throws {
        let directory = ControlTemporaryDirectory()
        let previous = umask(0)
        defer { umask(previous) }
        let server = try ControlServer(path: directory.socket("vm")) { _ in .done }
        defer { server.close() }
        var info = stat()
        #expect(lstat(directory.socket("vm"), &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_uid == getuid())
    }

    @Test func staleSocketFileIsReplaced() throws {
        let directory = ControlTemporaryDirectory()
        let path = directory.socket("vm")
        try Self.leaveStaleSocket(at: path)
        let server = try ControlServer(path: path) { _ in .done }
        defer { server.close() }
        #expect(try ControlClient(path: path).send(.reinit) == .done)
    }

    @Test func socketWithALiveServerIsNotTaken() throws {
        let directory = ControlTemporaryDirectory()
        let first = try ControlServer(path: directory.socket("vm")) { _ in .cpus([1]) }
        defer { first.close() }
        #expect(Self.code { try ControlServer(path: directory.socket("vm")) { _ in .done } } == EADDRINUSE)
        #expect(try ControlClient(path: directory.socket("vm")).send(.getActiveCPUs) == .cpus([1]))
    }

    @Test func closeRemovesTheSocketAndEndsConnections() throws {
        let directory = ControlTemporaryDirectory()
        let server = try ControlServer(path: directory.socket("vm")) { _ in .done }
        let client = try ControlClient(path: directory.socket("vm"))
        #expect(try client.send(.reinit) == .done)
        server.close()
        #expect(access(directory.socket("vm"), F_OK) != 0)
        #expect(Self.code { try client.send(.reinit) } != nil)
        #expect(Self.code { try ControlClient(path: directory.socket("vm")) } == ENOENT)
    }

    @Test func handlerMayCloseItsOwnServer() throws {
        let directory = ControlTemporaryDirectory()
        let slot = Locked<ControlServer?>(nil)
        let server = try ControlServer(path: directory.socket("vm")) { _ in
            slot.withLock { $0?.close() }
            return .done
        }
        slot.withLock { $0 = server }
        #expect(try ControlClient(path: directory.socket("vm")).send(.suspend(how: .poweroff)) == .done)
        #expect(access(directory.socket("vm"), F_OK) != 0)
        slot.withLock { $0 = nil }
    }

    @Test func connectingWhereNothingListensFailsClearly() throws {
        let directory = ControlTemporaryDirectory()
        #expect(Self.code { try ControlClient(path: directory.socket("absent")) } == ENOENT)
        try Self.leaveStaleSocket(at: directory.socket("stale"))
        #expect(Self.code { try ControlClient(path: directory.socket("stale")) } == ECONNREFUSED)
        #expect(Self.code { try ControlClient(path: directory.path + "/" + String(repeating: "n", count: 200)) } == ENAMETOOLONG)
    }

    /// Binds a socket at `path` and closes it without removing the file, as a killed VM does.
    static func leaveStaleSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        try #require(bound == 0)
    }
}
