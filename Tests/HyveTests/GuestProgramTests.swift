import Testing
import Hyve
import VMM
import TestSupport

@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct GuestProgramTests {
    @Test func realModeGuestPrintsAndExitsThroughDebugExit() throws {
        let run = try GuestRunner.run("real-hello.bin", mode: .real)
        #expect(run.output == "hello from real mode\n")
        #expect(run.outcome.reason == .debugExit(0x21))
        #expect(run.outcome.exitStatus == (0x21 << 1) | 1)
    }

    @Test func protectedModeGuestPrintsAndExitsThroughDebugExit() throws {
        let run = try GuestRunner.run("protected-hello.bin", mode: .protected)
        #expect(run.output == "hello from protected mode\n")
        #expect(run.outcome.exitStatus == (0x22 << 1) | 1)
    }

    @Test func longModeGuestPrintsAndExitsThroughDebugExit() throws {
        let run = try GuestRunner.run("long-hello.bin", mode: .long)
        #expect(run.output == "hello from long mode\n")
        #expect(run.outcome.exitStatus == (0x23 << 1) | 1)
    }

    @Test(arguments: [("long-hello.elf", "hello from long mode\n"), ("protected-hello.elf", "hello from protected mode\n")])
    func elfProgramsRunInTheModeOfTheirClass(program: String, expected: String) throws {
        let run = try GuestRunner.run(program)
        #expect(run.output == expected)
        guard case .debugExit = run.outcome.reason else {
            Issue.record("\(program) ended with \(run.outcome.reason)")
            return
        }
    }

    @Test func firmwareTablesAreInTheBIOSAreaWhenTheGuestRuns() throws {
        let run = try GuestRunner.run("long-hello.bin", cpus: 2)
        let memory = run.vm.memory
        #expect(try memory.read(0xF0000, count: 4) == Array("_MP_".utf8))
        #expect(try memory.read(0xF1000, count: 4) == Array("_SM_".utf8))
        #expect(try memory.read(0xF2400, count: 8) == Array("RSD PTR ".utf8))
    }

    @Test func multiVCPUGuestRunsOneThreadPerVCPU() throws {
        let run = try GuestRunner.run("protected-hello.bin", mode: .protected, cpus: 3)
        #expect(run.output == "hello from protected mode\n")
        #expect(run.outcome.exitStatus == (0x22 << 1) | 1)
        #expect(run.vm.suspendedCPUs == CPUSet(0..<3))
    }

    @Test func tripleFaultEndsWithReasonTripleFaultAndEveryVCPUSuspended() throws {
        let run = try GuestRunner.run("triple-fault.bin", cpus: 2)
        #expect(run.output == "faulting\n")
        #expect(run.outcome.reason == .tripleFault)
        #expect(run.outcome.exitStatus == 3)
        #expect(run.vm.suspendedCPUs == CPUSet([0, 1]))
        #expect(run.vm.activeCPUs.isEmpty)
    }

    @Test(arguments: [1, 2, 4], LocalAPICMode.allCases)
    func everyVCPUHaltedWithInterruptsDisabledEndsWithReasonHalt(cpus: Int, lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("halt.bin", cpus: cpus, lapic: lapic)
        #expect(run.output == "halting\n")
        #expect(run.outcome.reason == .halt)
        #expect(run.outcome.exitStatus == 2)
        #expect(run.vm.suspendedCPUs == CPUSet(0..<cpus))
    }

    @Test(arguments: LocalAPICMode.allCases)
    func resetThroughPortCF9RebootsInPlaceAndRunsFromTheEntryAgain(lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("reset.bin", cpus: 2, lapic: lapic)
        #expect(run.output == "boot\nboot\n")
        #expect(run.outcome.reboots == 1)
        #expect(run.outcome.reason == .debugExit(0x24))
        #expect(run.vm.suspendedCPUs == CPUSet([0, 1]))
    }

    @Test func resetWithNoRebootEndsWithStatusZero() throws {
        let run = try GuestRunner.run("reset.bin", noReboot: true)
        #expect(run.output == "boot\n")
        #expect(run.outcome.reason == .reset)
        #expect(run.outcome.exitStatus == 0)
    }

    @Test func unclaimedPortsAndMMIOOutsideRAMReadAllOnesAndIgnoreWrites() throws {
        let run = try GuestRunner.run("unclaimed.bin")
        #expect(run.output == "unclaimed ok\n")
        #expect(run.outcome.reason == .debugExit(0x25))
    }

    @Test func strictIOStopsTheVMNamingThePortAndRIP() throws {
        let run = try GuestRunner.run("unclaimed.bin", strictIO: true)
        guard case .failure(let message) = run.outcome.reason else {
            Issue.record("strict I/O did not stop the VM: \(run.outcome.reason)")
            return
        }
        #expect(message.contains("unhandled 1-byte port-I/O read of port 0x9f0 at RIP 0x"))
        #expect(run.outcome.exitStatus == 4)
    }
}
