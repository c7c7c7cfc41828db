import Foundation
import Glibc
@testable import Hyve
import HyveControl
import KVM
import Testing
import TestSupport
import VMM

extension ControlGuestTests {
    /// The control API against a machine in this process: every request kind the handler answers,
    /// and `hyvectl` talking to the machine's socket while and after it runs.
    @Suite
    struct ControlHandlerTests {
        static func start(cpus: Int = 1) throws -> (GuestSession, ControlHandler, ControlTarget, @Sendable () throws -> GuestRun) {
            let session = try GuestSession(ControlTarget.program, cpus: cpus)
            let wait = session.runInBackground()
            #expect(session.waitForOutput("ready\n"))
            let target = try #require(ControlTarget(output: session.output), "output: \(session.output)")
            return (session, ControlHandler(machine: session.machine), target, wait)
        }

        static func code(_ response: ControlResponse) -> Int32? {
            if case .error(let error) = response { return error.code }
            return nil
        }

        @Test func cpuSetsFollowForcePoweroffAndReinit() throws {
            let (_, handler, _, wait) = try Self.start(cpus: 2)
            #expect(handler.handle(.getActiveCPUs) == .cpus([0, 1]))
            #expect(handler.handle(.getSuspendedCPUs) == .cpus([]))
            #expect(handler.handle(.suspend(how: .poweroff)) == .done)
            #expect(try wait().outcome.reason == .powerOff)
            #expect(handler.handle(.getActiveCPUs) == .cpus([]))
            #expect(handler.handle(.getSuspendedCPUs) == .cpus([0, 1]))
            #expect(Self.code(handler.handle(.suspend(how: .reset))) == EALREADY)
            #expect(handler.handle(.reinit) == .done)
            #expect(handler.handle(.getActiveCPUs) == .cpus([0, 1]))
            #expect(handler.handle(.getSuspendedCPUs) == .cpus([]))
            #expect(handler.handle(.getRegister(vcpu: 1, register: .rip)) == .value(ResetState.registers.rip))
        }

        @Test func reinitOfARunningVMIsRefused() throws {
            let (session, handler, _, wait) = try Self.start()
            #expect(Self.code(handler.handle(.reinit)) == EBUSY)
            session.machine.vm.suspend(.powerOff)
            _ = try wait()
        }

        @Test func hyvectlPrintsTheCPUSetsBeforeAndAfterForcePoweroff() throws {
            let (session, _, _, wait) = try Self.start(cpus: 2)
            let runtime = ControlRuntimeDirectory()
            let server = try session.machine.serveControlSocket(name: "sets", directory: runtime.socketDirectory)
            defer { server.close() }
            let sets = ["--vm=sets", "--get-active-cpus", "--get-suspended-cpus"]
            #expect(runtime.hyvectl(sets).standardOutput == "active cpus:\t 0, 1\nsuspended cpus:\t (none)\n")
            #expect(runtime.hyvectl(["--vm=sets", "--force-poweroff"]).status == 0)
            #expect(try wait().outcome.reason == .powerOff)
            #expect(runtime.hyvectl(sets).standardOutput == "active cpus:\t (none)\nsuspended cpus:\t 0, 1\n")
        }

        @Test func hyvectlFormatsIntinfoRTCAndDescriptorsLikeBhyvectl() throws {
            let session = try GuestSession(ControlTarget.program)
            let runtime = ControlRuntimeDirectory()
            let server = try session.machine.serveControlSocket(name: "formats", directory: runtime.socketDirectory)
            defer { server.close() }
            let set = runtime.hyvectl(["--vm=formats", "--set-cr0=0x11", "--inject-exception=13", "--error-code=0x18",
                                       "--set-rtc-time=1700000000", "--desc-base=0x9000", "--desc-limit=0x37", "--set-desc-gdtr"])
            #expect(set.status == 0, "\(set.standardError)")
            let get = runtime.hyvectl(["--vm=formats", "--get-intinfo", "--get-desc-gdtr", "--get-cr0", "--get-rtc-nvram",
                                       "--rtc-nvram-offset=14"])
            #expect(get.standardOutput == """
                cr0[0]\t\t0x0000000000000011
                gdtr[0]\t\t0x0000000000009000/0x00000037
                rtc nvram[014]: 0x00
                pending:\tn/a
                current:\texception vector 13 errcode 0x18

                """)
            #expect(runtime.hyvectl(["--vm=formats", "--get-rtc-time"]).standardOutput.hasPrefix("rtc time 0x6553f1"))
        }

        @Test func registersSelectorsAndDescriptorsRoundTripThroughKVM() throws {
            let session = try GuestSession(ControlTarget.program)
            let handler = ControlHandler(machine: session.machine)
            let values: [(ControlRegister, UInt64)] = [
                (.rbx, 0x1122_3344_5566_7788), (.r15, 1), (.rsp, 0x8000), (.rip, 0x1234), (.rflags, 0x202),
                (.cr2, 0xDEAD_B000), (.dr0, 0x4000), (.dr3, 0x8000), (.dr7, 0x401), (.ds, 0x28), (.tr, 0x30),
            ]
            for (register, value) in values {
                #expect(handler.handle(.setRegister(vcpu: 0, register: register, value: value)) == .done, "\(register)")
            }
            for (register, value) in values {
                #expect(handler.handle(.getRegister(vcpu: 0, register: register)) == .value(value), "\(register)")
            }
            let code = ControlSegmentDescriptor(base: 0x1_0000, limit: 0xF_FFFF, access: 0xC09B)
            #expect(handler.handle(.setSegmentDescriptor(vcpu: 0, name: .cs, descriptor: code)) == .done)
            #expect(handler.handle(.getSegmentDescriptor(vcpu: 0, name: .cs)) == .descriptor(code))
            let gdt = ControlSegmentDescriptor(base: 0x9000, limit: 0x37, access: 0)
            #expect(handler.handle(.setSegmentDescriptor(vcpu: 0, name: .gdtr, descriptor: gdt)) == .done)
            #expect(handler.handle(.getSegmentDescriptor(vcpu: 0, name: .gdtr)) == .descriptor(gdt))
            let tooLong = ControlSegmentDescriptor(base: 0, limit: 0x1_0000, access: 0)
            #expect(Self.code(handler.handle(.setSegmentDescriptor(vcpu: 0, name: .idtr, descriptor: tooLong))) == EINVAL)
            #expect(Self.code(handler.handle(.setRegister(vcpu: 0, register: .cs, value: 0x1_0000))) == EINVAL)
            guard case .vcpuState(let state) = handler.handle(.getAll(vcpu: 0)) else {
                Issue.record("getAll answered something else")
                return
            }
            #expect(Set(state.registers.keys) == Set(ControlRegister.allCases.map(\.rawValue)))
            #expect(Set(state.descriptors.keys) == Set(ControlDescriptorName.allCases.map(\.rawValue)))
            for (register, value) in values { #expect(state[register] == value, "\(register)") }
            #expect(state[descriptor: .cs] == code)
        }

        @Test func setRegisterReachesTheRunningGuestAndGetAllSeesItsLoop() throws {
            let (session, handler, target, wait) = try Self.start()
            guard case .value(let rip) = handler.handle(.getRegister(vcpu: 0, register: .rip)) else {
                Issue.record("no RIP")
                return
            }
            #expect(target.loop.contains(rip))
            guard case .vcpuState(let state) = handler.handle(.getAll(vcpu: 0)) else {
                Issue.record("getAll answered something else")
                return
            }
            #expect(state[.rip].map(target.loop.contains) == true)
            #expect(handler.handle(.setRegister(vcpu: 0, register: .rax, value: 0xC0FFEE)) == .done)
            #expect(session.waitForOutput("rax 0x0000000000c0ffee\n"))
            session.machine.vm.suspend(.powerOff)
            _ = try wait()
        }

        @Test func guestLinearAddressesTranslateCopyAndFault() throws {
            let (session, handler, target, wait) = try Self.start()
            #expect(handler.handle(.gla2gpaNoFault(vcpu: 0, gla: target.alias + 0x10, access: .read))
                    == .translation(gpa: target.aliasTarget + 0x10))
            #expect(handler.handle(.gla2gpa(vcpu: 0, gla: target.alias, access: .write)) == .translation(gpa: target.aliasTarget))
            #expect(handler.handle(.gla2gpaNoFault(vcpu: 0, gla: target.alias + 0x20_0000, access: .read)) == .translation(gpa: nil))
            #expect(handler.handle(.copyIn(vcpu: 0, gla: target.alias, length: 9)) == .bytes([0x5A, 0x5A, 0x5A, 0x5A, 0x5A, 0x5A, 0x5A, 0x5A, 0]))
            #expect(handler.handle(.copyOut(vcpu: 0, gla: target.alias + 0x100, bytes: [1, 2, 3])) == .done)
            #expect(try session.machine.vm.memory.read(target.aliasTarget + 0x100, count: 3) == [1, 2, 3])
            #expect(handler.handle(.copyIn(vcpu: 0, gla: 0xFFFF_9000_0000_0000, length: 1))
                    == .guestFault(ControlGuestFault(vector: 14, errorCode: 0, address: 0xFFFF_9000_0000_0000, injected: false)))
            #expect(handler.handle(.copyIn(vcpu: 0, gla: 0x8000_0000_0000, length: 1))
                    == .guestFault(ControlGuestFault(vector: 13, errorCode: 0, address: nil, injected: false)))
            #expect(Self.code(handler.handle(.copyIn(vcpu: 0, gla: 0, length: ControlProtocol.maximumCopyLength + 1))) == EINVAL)
            #expect(session.machine.vm.suspendReason == nil)
            // With VM_GLA2GPA's semantics the fault reaches the guest.
            #expect(handler.handle(.gla2gpa(vcpu: 0, gla: 0xFFFF_9000_0000_0000, access: .read))
                    == .guestFault(ControlGuestFault(vector: 14, errorCode: 0, address: 0xFFFF_9000_0000_0000, injected: true)))
            let run = try wait()
            #expect(run.output.contains("exception 0x0e error 0x0000000000000000 rip "), "output: \(run.output)")
            #expect(run.outcome.reason == .debugExit(0x01))
        }

        @Test func lint1ProgrammedForNMIDeliversOneAndExtINTOnLINT0IsNotSupported() throws {
            let (_, handler, _, wait) = try Self.start()
            #expect(Self.code(handler.handle(.lapicLocalIRQ(target: .vcpu(0), pin: 0))) == ENOSYS)
            #expect(Self.code(handler.handle(.lapicLocalIRQ(target: .vcpu(0), pin: 7))) == EINVAL)
            #expect(handler.handle(.lapicLocalIRQ(target: .all, pin: 1)) == .done)
            let run = try wait()
            #expect(run.output.contains("exception 0x02 "), "output: \(run.output)")
        }

        @Test func lapicIRQAndMSIReachTheGuestAtTheirVectors() throws {
            let (session, handler, _, wait) = try Self.start()
            #expect(handler.handle(.lapicIRQ(vcpu: 0, vector: 0x41)) == .done)
            #expect(session.waitForOutput("irq 0x41\n"))
            #expect(handler.handle(.lapicMSI(address: 0xFEE0_0000, data: 0x42)) == .done)
            #expect(session.waitForOutput("irq 0x42\n"))
            session.machine.vm.suspend(.powerOff)
            _ = try wait()
        }

        @Test func localInterruptFollowsTheLVTEntry() {
            func page(svr: UInt32, lvt: UInt32, at offset: Int) -> [UInt8] {
                var page = [UInt8](repeating: 0, count: 1024)
                for (register, value) in [(0xF0, svr), (offset, lvt)] {
                    for byte in 0..<4 { page[register + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
                }
                return page
            }
            let enabled: UInt64 = 0xFEE0_0900
            #expect(ControlHandler.localInterruptAction(pin: 0, page: page(svr: 0x1FF, lvt: 0x41, at: 0x350), apicBase: enabled) == .fixed(vector: 0x41))
            #expect(ControlHandler.localInterruptAction(pin: 1, page: page(svr: 0x1FF, lvt: 0x400, at: 0x360), apicBase: enabled) == .nmi)
            #expect(ControlHandler.localInterruptAction(pin: 1, page: page(svr: 0x1FF, lvt: 0x1_0400, at: 0x360), apicBase: enabled) == .none)
            #expect(ControlHandler.localInterruptAction(pin: 2, page: page(svr: 0x1FF, lvt: 0x30, at: 0x320), apicBase: enabled) == .fixed(vector: 0x30))
            guard case .unsupported = ControlHandler.localInterruptAction(pin: 0, page: page(svr: 0x1FF, lvt: 0x700, at: 0x350), apicBase: enabled) else {
                Issue.record("ExtINT through LINT0 was taken")
                return
            }
            #expect(ControlHandler.localInterruptAction(pin: 1, page: page(svr: 0xFF, lvt: 0x41, at: 0x360), apicBase: enabled) == .nmi)
            #expect(ControlHandler.localInterruptAction(pin: 1, page: page(svr: 0x1FF, lvt: 0x41, at: 0x360), apicBase: 0xFEE0_0100) == .nmi)
            #expect(ControlHandler.localInterruptAction(pin: 3, page: page(svr: 0xFF, lvt: 0x41, at: 0x370), apicBase: enabled) == .none)
        }

        @Test func badArgumentsAreRefusedWithEINVAL() throws {
            let session = try GuestSession(ControlTarget.program)
            let handler = ControlHandler(machine: session.machine)
            let refused: [ControlRequest] = [
                .getRegister(vcpu: 1, register: .rip), .getStats(vcpu: -1), .injectNMI(vcpu: 4), .getX2APICState(vcpu: 2),
                .isaAssert(irq: 16, ioapicPin: nil), .isaPulse(irq: 4, ioapicPin: 32), .ioapicAssert(pin: -1),
                .ioapicPulse(pin: 40), .lapicMSI(address: 0xFEE0_0000, data: 1 << 32), .lapicIRQ(vcpu: 0, vector: 15),
                .rtcRead(offset: 128), .rtcWrite(offset: 0, value: 1), .injectException(vcpu: 0, vector: 8, errorCode: 0, restart: true),
                .injectException(vcpu: 0, vector: 32, errorCode: nil, restart: true),
            ]
            for request in refused {
                #expect(Self.code(handler.handle(request)) == EINVAL, "\(request)")
            }
        }

        @Test func platformRequestsReachTheDevices() throws {
            let session = try GuestSession(ControlTarget.program, cpus: 2)
            let handler = ControlHandler(machine: session.machine)
            #expect(handler.handle(.rtcSetTime(seconds: 1_700_000_000)) == .done)
            guard case .time(let seconds) = handler.handle(.rtcGetTime) else {
                Issue.record("no RTC time")
                return
            }
            #expect((1_700_000_000...1_700_000_002).contains(seconds))
            #expect(handler.handle(.rtcWrite(offset: 0x40, value: 0xA5)) == .done)
            #expect(handler.handle(.rtcRead(offset: 0x40)) == .value(0xA5))
            #expect(handler.handle(.getTopology) == .topology(ControlTopology(sockets: 1, cores: 2, threads: 1, maxCPUs: 2)))
            #expect(handler.handle(.getX2APICState(vcpu: 1)) == .value(1))
            #expect(handler.handle(.getMemoryMap) == .memoryMap([
                ControlMemoryMapEntry(gpa: 0, length: 32 << 20, segment: "sysmem", offset: 0, protection: "rwx", wired: false),
            ]))
            for request: ControlRequest in [.isaPulse(irq: 4, ioapicPin: 4), .isaAssert(irq: 3, ioapicPin: nil),
                                            .isaDeassert(irq: 3, ioapicPin: nil), .ioapicPulse(pin: 23),
                                            .lapicMSI(address: 0xFEE0_0000, data: 0x30), .lapicIRQ(vcpu: 1, vector: 0x31)] {
                #expect(handler.handle(request) == .done, "\(request)")
            }
            guard case .stats(let stats) = handler.handle(.getStats(vcpu: 1)) else {
                Issue.record("no statistics")
                return
            }
            #expect(stats["total number of vm exits"] == 0)
        }

        @Test func destroyEndsTheRunWithHyvesDestroyedStatus() throws {
            let (_, handler, _, wait) = try Self.start()
            #expect(handler.handle(.destroy) == .done)
            let run = try wait()
            #expect(run.outcome.reason == .failure(ControlHandler.destroyedMessage))
            #expect(run.outcome.exitStatus == 4)
        }
    }
}

/// A private `$XDG_RUNTIME_DIR` for control sockets, and `hyvectl` run with it.
final class ControlRuntimeDirectory {
    let path: String

    init() {
        var template = Array("/tmp/hyve-runtime-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Where `hyve` puts the sockets for this runtime directory.
    var socketDirectory: String { ControlSocketPath.directory(environment: environment) }

    var environment: [String: String] { ["XDG_RUNTIME_DIR": path, "PATH": "/usr/bin:/bin"] }

    func hyvectl(_ arguments: [String]) -> Subprocess.Result {
        Subprocess.run(HyveBinary.hyvectlPath, arguments, environment: environment)
    }
}
