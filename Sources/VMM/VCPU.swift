import Dispatch
import Glibc
import KVM
import Synchronization
import CKVM

/// One vCPU: its KVM handle, its thread and its run loop, which handles exits synchronously.
public final class VCPU: Sendable {
    public let id: Int
    /// The KVM handle; its state accessors belong to this vCPU's thread while the VM runs.
    public let kvm: KVMVCPU
    /// Host CPU this vCPU's thread is pinned to (bhyve's `-p vcpu:hostcpu`).
    public let hostCPU: Int?
    /// The vCPU's local APIC with `--lapic user`; nil when KVM's is in use.
    public let apic: LocalAPIC?
    unowned let vm: VirtualMachine
    private let thread = Mutex<pthread_t?>(nil)
    /// Wakes the thread from an in-guest HLT that Hyve waits out in user space.
    let wakeup = DispatchSemaphore(value: 0)
    /// Set by ``probeHalt()``: on its next exit the vCPU reports whether it is halted.
    private let haltProbeRequested = Atomic<Bool>(false)
    /// Requests from other threads, queued events and counters (VCPU+Requests, VCPU+EventInjection).
    let control = VCPUControl()

    init(id: Int, kvm: KVMVCPU, hostCPU: Int?, apic: LocalAPIC?, vm: VirtualMachine) {
        self.id = id
        self.kvm = kvm
        self.hostCPU = hostCPU
        self.apic = apic
        self.vm = vm
    }

    /// Puts the vCPU in bhyve's architectural reset state (`vcpu_reset`).
    func reset() throws(KVMError) {
        let current = try kvm.specialRegisters()
        var special = ResetState.specialRegisters(keeping: current)
        if vm.configuration.x2APIC && apic == nil { special.apicBase = x2APICBase }
        try kvm.setSpecialRegisters(special)
        try kvm.setRegisters(ResetState.registers)
        try kvm.setFPU(.reset)
        try kvm.setDebugRegisters(ResetState.debugRegisters)
        try kvm.setEvents(VCPUEvents())
        try kvm.setMPState(.runnable)
        kvm.clearImmediateExit()
        control.reset()
    }

    /// Gets the vCPU out of the guest (or out of a HLT wait) so that it notices a VM-wide request.
    func kick() {
        leaveGuest()
        wakeup.signal()
    }

    /// Tells the vCPU that its local APIC has something new: it leaves the guest (or a wait in
    /// user space) to look. Nothing to do when the vCPU itself caused it, since it looks before
    /// every entry.
    func notify() {
        let own = thread.withLock { handle in handle.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
        if !own { kick() }
    }

    /// Makes `KVM_RUN` return now (signal) or on its next call (`immediate_exit`).
    private func leaveGuest() {
        kvm.requestImmediateExit()
        thread.withLock { handle in
            if let handle { pthread_kill(handle, KickSignal.number) }
        }
    }

    /// Asks the vCPU whether it sits in HLT with interrupts disabled: KVM's local APIC keeps HLT
    /// in the kernel, so the vCPU is knocked out of `KVM_RUN` and checks its own MP state.
    func probeHalt() {
        haltProbeRequested.store(true, ordering: .releasing)
        leaveGuest()
    }

    func start() throws(SystemError) {
        try thread.withLock { slot throws(SystemError) in
            slot = try HostThread.spawn("the thread of vCPU \(id)") { self.runLoop() }
        }
    }

    /// Waits for the thread started by `start()` to end.
    func join() {
        guard let handle = thread.withLock({ $0 }) else { return }
        pthread_join(handle, nil)
        thread.withLock { $0 = nil }
    }

    private func runLoop() {
        beginServingRequests()
        KickSignal.unblockOnCurrentThread()
        if let hostCPU {
            let result = ckvm_pin_current_thread(Int32(hostCPU))
            if result != 0 {
                vm.suspend(.failure("cannot pin vCPU \(id) to host CPU \(hostCPU): \(String(cString: strerror(result)))"))
            }
        }
        while !vm.isSuspending {
            prepareEntry()
            if let apic {
                guard prepareUserAPICEntry(apic) else { continue }
            } else if id == 0 {
                offerExtINT()
            }
            let exit: VCPUExit
            do {
                exit = try kvm.run()
            } catch {
                vm.suspend(.failure("\(error)"))
                break
            }
            control.counters.count(exit)
            apic?.setCR8(kvm.cr8)
            handle(exit)
        }
        // Let KVM finish a pending IN or MMIO read without entering the guest, so that the
        // registers are complete for re-init or inspection.
        kvm.requestImmediateExit()
        _ = try? kvm.run()
        endServingRequests()
        vm.vcpuStopped(id)
    }

    @inline(__always)
    private func handle(_ exit: VCPUExit) {
        switch exit {
        case .io(let io):
            handlePortIO(io)
        case .mmio(let access):
            if let apic, handleAPICAccess(access, apic) { break }
            handleMMIO(access)
        case .msr(let access):
            handleMSR(access)
        case .tprLowered:
            break
        case .halt:
            if let apic { haltInUserSpace(apic) } else { handleHalt() }
        case .shutdown:
            vm.suspend(.tripleFault)
        case .interrupted:
            kvm.clearImmediateExit()
            if haltProbeRequested.exchange(false, ordering: .acquiring) { reportHaltState() }
        case .interruptWindowOpen:
            break
        case .ioapicEOI(let vector):
            vm.interrupts.ioapic.endOfInterrupt(vector: vector)
        case .internalError(let error) where error.suberror == InternalError.emulationFailure:
            emulateFailedInstruction(error)
        case .internalError(let error):
            fail("KVM internal error: \(error)")
        case .failedEntry(let reason, _):
            fail("KVM could not enter the guest (hardware entry failure reason 0x\(String(reason, radix: 16)))")
        case .hardwareFailure(let reason):
            fail("unknown hardware exit 0x\(String(reason, radix: 16))")
        case .systemEvent(let type):
            fail("unexpected KVM system event \(type)")
        case .exception(let vector, let errorCode):
            fail("unexpected exception exit: vector \(vector), error code 0x\(String(errorCode, radix: 16))")
        case .debug:
            fail("unexpected debug exit (no debugger is attached)")
        case .unknown(let reason):
            fail("unknown KVM exit reason \(reason)")
        }
    }

    @inline(__always)
    private func handlePortIO(_ io: PortIO) {
        let ports = vm.ports
        for index in 0..<io.count {
            if io.isWrite {
                if !ports.write(io.port, size: io.size, value: io.value(at: index)) {
                    unclaimed("\(io.size)-byte port-I/O write to port 0x\(String(io.port, radix: 16))")
                }
            } else if let value = ports.read(io.port, size: io.size) {
                io.setValue(value, at: index)
            } else {
                io.setValue(UInt32.max, at: index)
                unclaimed("\(io.size)-byte port-I/O read of port 0x\(String(io.port, radix: 16))")
            }
        }
    }

    private func handleMMIO(_ access: MMIOAccess) {
        let mmio = vm.mmio
        if access.isWrite {
            if !mmio.write(access.address, size: access.size, value: access.value) {
                unclaimed("\(access.size)-byte MMIO write to 0x\(String(access.address, radix: 16))")
            }
        } else if let value = mmio.read(access.address, size: access.size) {
            access.complete(with: value)
        } else {
            access.complete(with: UInt64.max)
            unclaimed("\(access.size)-byte MMIO read of 0x\(String(access.address, radix: 16))")
        }
    }

    /// Unclaimed accesses read all-ones and drop writes, as on a PC's bus; in strict mode
    /// (bhyve's `x86.strictio`) they stop the VM instead.
    @inline(__always)
    private func unclaimed(_ what: @autoclosure () -> String) {
        if vm.configuration.strictIO { fail("unhandled \(what())") }
    }

    /// Without an in-kernel local APIC, KVM returns HLT to user space. A vCPU halted with
    /// interrupts disabled can only be woken by NMI, INIT or reset; when every active vCPU is in
    /// that state the VM is suspended with reason halt, as bhyve's `vm_handle_hlt` does.
    private func handleHalt() {
        let interruptsDisabled: Bool
        do {
            interruptsDisabled = try kvm.registers().rflags & (1 << 9) == 0
        } catch {
            fail("\(error)")
            return
        }
        vm.vcpuHalted(id, interruptsDisabled: interruptsDisabled)
        while !vm.isSuspending {
            wakeup.wait()
            if serveRequestsWhileHalted() {
                vm.vcpuHalted(id, interruptsDisabled: false)
                return
            }
        }
    }

    /// The 8259A's output reaches vCPU 0's LINT0 as ExtINT: when it is raised, inject the vector
    /// of the INTA cycle as soon as KVM says the vCPU can take it, asking for an interrupt-window
    /// exit until then.
    private func offerExtINT() {
        let pic = vm.interrupts.atpic
        guard vm.extInt.isAsserted else {
            if kvm.requestInterruptWindow { kvm.requestInterruptWindow = false }
            return
        }
        guard kvm.readyForInterruptInjection else {
            kvm.requestInterruptWindow = true
            return
        }
        if let vector = pic.acknowledge() {
            do {
                try kvm.interrupt(vector: vector)
            } catch {
                fail("\(error)")
            }
        }
        kvm.requestInterruptWindow = pic.outputAsserted
    }

    private func reportHaltState() {
        do {
            let halted = try kvm.mpState() == .halted
            let interruptsDisabled = try kvm.registers().rflags & (1 << 9) == 0
            vm.vcpuHalted(id, interruptsDisabled: halted && interruptsDisabled)
        } catch {
            fail("\(error)")
        }
    }

    func fail(_ message: String) {
        let rip = (try? kvm.registers().rip).map { " at RIP 0x\(String($0, radix: 16))" } ?? ""
        vm.suspend(.failure("vCPU \(id): \(message)\(rip)"))
    }
}
