import Dispatch
import Hyve
import HyveControl
import Testing
import TestSupport
import Synchronization
import VMM

/// The local APIC itself under real KVM, KVM's (`--lapic kernel`) and Hyve's (`--lapic user`):
/// guest/lapic.c on four vCPUs, in xAPIC mode and switched to x2APIC mode, or started there (`-x`).
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct LocalAPICGuestTests {
    // One case at a time: four busy vCPUs each are as much as a small host can run on time.
    @Test(.serialized, arguments: [
        (LocalAPICMode.user, "lapic.bin", false), (.user, "lapic-x2apic.bin", false), (.user, "lapic-x2apic.bin", true),
        (.kernel, "lapic.bin", false), (.kernel, "lapic-x2apic.bin", false), (.kernel, "lapic-x2apic.bin", true),
    ])
    func timerSelfIPICR8StartupIPIsFixedAndNMIIPIsAndLINT1ReachEveryVCPU(lapic: LocalAPICMode, program: String,
                                                                       x2APICAtStart: Bool) throws {
        let session = try GuestSession(program, cpus: 4, lapic: lapic, x2APIC: x2APICAtStart)
        let who = program == "lapic.bin" ? "lapic" : "lapic-x2apic"
        // The guest arms LINT1 as NMI everywhere, then waits for bhyve's VM_LAPIC_LOCAL_IRQ on
        // every vCPU (pin 1 is LINT1).
        let control = ControlHandler(machine: session.machine)
        let raised = Mutex<ControlResponse?>(nil)
        DispatchQueue.global().async {
            guard session.waitForOutput("\(who): lint1 armed", timeout: 60) else { return }
            let response = control.handle(.lapicLocalIRQ(target: .all, pin: 1))
            raised.withLock { $0 = response }
        }
        let run = try session.run(timeout: 90)
        #expect(raised.withLock { $0 } == .done)
        #expect(run.outcome.reason == .debugExit(0x34), "output: \(run.output)")
        #expect(run.output.split(separator: "\n").map(String.init) == [
            "\(who): bsp apic id 0",
            "\(who): 20 periodic timer interrupts",
            "\(who): self-IPI taken",
            "\(who): CR8 and TPR agree; CR8 held back a self-IPI until lowered",
            "\(who): cpu 1 started by INIT-SIPI-SIPI, apic id 1",
            "\(who): cpu 2 started by INIT-SIPI-SIPI, apic id 2",
            "\(who): cpu 3 started by INIT-SIPI-SIPI, apic id 3",
            "\(who): fixed and NMI IPIs taken by every AP",
            "\(who): lint1 armed",
            "\(who): LINT1 NMI on every CPU",
            "\(who): ok",
        ])
    }
}
