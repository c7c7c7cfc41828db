import Dispatch
import KVM
import Synchronization
import Testing
import TestSupport
import VMM

/// bhyve's suspend state machine driven from outside the guest, as `--force-poweroff` will.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct SuspendTests {
    /// Runs `session` on another thread and returns a way to wait for its outcome.
    func runInBackground(_ session: GuestSession) -> @Sendable () throws -> GuestRun {
        let result = Mutex<Result<GuestRun, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let outcome = Result { try session.run() }
            result.withLock { $0 = outcome }
            done.signal()
        }
        return {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }

    @Test func suspendingARunningGuestStopsEveryVCPUAndTheFirstReasonWins() throws {
        let session = try GuestSession("spin.bin", cpus: 2)
        let wait = runInBackground(session)
        #expect(session.waitForOutput("spinning\n"))
        let vm = session.machine.vm
        #expect(vm.suspend(.powerOff))
        #expect(!vm.suspend(.reset))
        let run = try wait()
        #expect(run.outcome.reason == .powerOff)
        #expect(run.outcome.exitStatus == 1)
        #expect(vm.suspendedCPUs == CPUSet([0, 1]))
        #expect(vm.activeCPUs.isEmpty)
    }

    @Test func reinitialisedVMIsBackInBhyvesResetStateWithEveryVCPUActive() throws {
        let session = try GuestSession("halt.bin", cpus: 2)
        let run = try session.run()
        #expect(run.outcome.reason == .halt)
        let vm = session.machine.vm
        try vm.reinitialize()
        #expect(vm.suspendReason == nil)
        #expect(vm.activeCPUs == CPUSet([0, 1]))
        #expect(vm.suspendedCPUs.isEmpty)
        for vcpu in vm.vcpus {
            let registers = try vcpu.kvm.registers()
            #expect(registers == ResetState.registers)
            let special = try vcpu.kvm.specialRegisters()
            #expect(special.cs.base == 0xFFFF_0000 && special.cs.selector == 0xF000 && special.cs.limit == 0xFFFF)
            #expect(special.cr0 & 0x6000_0031 == 0x20 & 0x6000_0031)
            #expect(special.cr3 == 0 && special.cr4 == 0 && special.efer == 0)
            #expect(special.gdt == DescriptorTable(base: 0, limit: 0xFFFF))
            #expect(special.tr.type == 0xB && special.ldt.type == 0x2)
            #expect(try vcpu.kvm.debugRegisters() == ResetState.debugRegisters)
        }
    }

    @Test func onlyASuspendedVMCanBeReinitialisedOrRunAgainAfterReinit() throws {
        let session = try GuestSession("long-hello.bin")
        let vm = session.machine.vm
        #expect(throws: ConfigurationError.self) { try vm.reinitialize() }
        #expect(vm.suspend(.powerOff))
        #expect(throws: ConfigurationError.self) { _ = try vm.run() }
        try vm.reinitialize()
        let run = try session.run()
        #expect(run.output == "hello from long mode\n")
    }
}
