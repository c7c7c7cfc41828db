import Glibc
import HyveControl
import Testing

/// The typed calls other programs use, over a real socket.
struct ControlClientOperationsTests {
    /// A VM of two vCPUs as far as a client can tell: registers hold `vcpu << 32 | 0xABCD`,
    /// guest memory at 0x1000 reads as its offsets, every other linear address faults.
    static func server(in directory: ControlTemporaryDirectory, name: String = "vm") throws -> (ControlServer, Locked<[ControlRequest]>) {
        let seen = Locked<[ControlRequest]>([])
        let server = try ControlServer(path: try ControlSocketPath.path(for: name, in: directory.path)) { request in
            seen.withLock { $0.append(request) }
            switch request {
            case .getActiveCPUs: return .cpus([0, 1])
            case .getSuspendedCPUs: return .cpus([])
            case .getRegister(let vcpu, _) where vcpu < 2: return .value(UInt64(vcpu) << 32 | 0xABCD)
            case .getRegister(let vcpu, _): return .failure(EINVAL, "no vCPU \(vcpu)")
            case .getAll: return .vcpuState(ControlVCPUState(registers: [.rip: 0x1000], descriptors: [:]))
            case .gla2gpaNoFault(_, let gla, _): return .translation(gpa: gla < 0x2000 ? gla + 0x10_0000 : nil)
            case .copyIn(_, let gla, let length) where gla == 0x1000: return .bytes((0..<length).map { UInt8($0 & 0xFF) })
            case .copyIn(_, let gla, _), .copyOut(_, let gla, _):
                return .guestFault(ControlGuestFault(vector: 14, errorCode: 0, address: gla, injected: false))
            default: return .done
            }
        }
        return (server, seen)
    }

    static func code(of body: () throws -> some Any) -> Int32? {
        ControlServerTests.code(of: body)
    }

    @Test func typedCallsSendTheirRequestsAndUnpackTheAnswers() throws {
        let directory = ControlTemporaryDirectory()
        let (server, seen) = try Self.server(in: directory)
        defer { server.close() }
        let client = try ControlClient(vm: "vm", directory: directory.path)
        #expect(try client.activeCPUs() == [0, 1])
        #expect(try client.suspendedCPUs() == [])
        #expect(try client.register(.rip, vcpu: 1) == 1 << 32 | 0xABCD)
        try client.setRegister(.rax, to: 7)
        try client.injectNMI(vcpu: 1)
        try client.injectException(13, errorCode: 0x18)
        try client.suspend(.poweroff)
        #expect(try client.vcpuState()[.rip] == 0x1000)
        #expect(try client.translate(0x1008) == 0x10_1008)
        #expect(try client.translate(0x3000) == nil)
        #expect(try client.copyIn(from: 0x1000, length: 3) == [0, 1, 2])
        #expect(seen.withLock { $0 }.contains(.injectException(vcpu: 0, vector: 13, errorCode: 0x18, restart: true)))
        #expect(seen.withLock { $0 }.contains(.setRegister(vcpu: 0, register: .rax, value: 7)))
    }

    @Test func errorResponseIsThrownWithItsCodeAndMessage() throws {
        let directory = ControlTemporaryDirectory()
        let (server, _) = try Self.server(in: directory)
        defer { server.close() }
        let client = try ControlClient(vm: "vm", directory: directory.path)
        do {
            _ = try client.register(.rip, vcpu: 9)
            Issue.record("a register of a missing vCPU was read")
        } catch {
            #expect(error == ControlError(code: EINVAL, message: "no vCPU 9"))
        }
        #expect(try client.register(.rip) == 0xABCD)
    }

    @Test func guestFaultOfACopyIsThrownAsEFAULT() throws {
        let directory = ControlTemporaryDirectory()
        let (server, _) = try Self.server(in: directory)
        defer { server.close() }
        let client = try ControlClient(vm: "vm", directory: directory.path)
        #expect(Self.code { try client.copyIn(from: 0x5000, length: 1) } == EFAULT)
        #expect(Self.code { try client.copyOut([1], to: 0x5000) } == EFAULT)
    }

    @Test func answerOfTheWrongKindIsAProtocolError() throws {
        let directory = ControlTemporaryDirectory()
        let server = try ControlServer(path: directory.socket("vm")) { _ in .cpus([3]) }
        defer { server.close() }
        let client = try ControlClient(vm: "vm", directory: directory.path)
        #expect(Self.code { try client.register(.rip) } == EPROTO)
        #expect(try client.activeCPUs() == [3])
    }

    @Test func vmThatIsNotRunningIsNamedInTheError() throws {
        let directory = ControlTemporaryDirectory()
        do {
            _ = try ControlClient(vm: "ghost", directory: directory.path)
            Issue.record("connected to a VM that does not exist")
        } catch {
            #expect(error.code == ENOENT)
            #expect(error.message.hasPrefix("no VM named 'ghost' is running"))
        }
        try ControlServerTests.leaveStaleSocket(at: directory.socket("gone"))
        #expect(Self.code { try ControlClient(vm: "gone", directory: directory.path) } == ENOENT)
    }
}
