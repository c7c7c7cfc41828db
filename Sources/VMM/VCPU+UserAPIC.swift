import KVM

/// The vCPU's side of `--lapic user`: KVM has no local APIC, so the vCPU injects what its
/// ``LocalAPIC`` decides, waits out HLT in user space, answers the xAPIC page and the x2APIC
/// MSRs, keeps CR8 and the TPR equal, and carries out INIT and start-up IPIs.
extension VCPU {
    /// IA32_APIC_BASE of a vCPU started in x2APIC mode (bhyve's `-x`): enabled, x2APIC, BSP on vCPU 0.
    var x2APICBase: UInt64 {
        LocalAPICRegisters.defaultBase | LocalAPICRegisters.Base.enabled | LocalAPICRegisters.Base.x2APIC
            | (id == 0 ? LocalAPICRegisters.Base.bsp : 0)
    }

    /// Parks an application processor until another vCPU starts it with INIT and start-up IPIs,
    /// as an operating system's APs wait at power-on.
    public func waitForStartup() throws(KVMError) {
        if let apic {
            apic.waitForStartup()
        } else {
            try kvm.setMPState(.uninitialized)
        }
    }

    /// Everything before an entry: INIT and start-up requests (which may park the vCPU), CR8,
    /// then an NMI, and the 8259A's ExtINT or the APIC's highest vector when the guest can take
    /// an interrupt, with an interrupt-window exit requested while it cannot. false when the VM
    /// began suspending while the vCPU was parked.
    func prepareUserAPICEntry(_ apic: LocalAPIC) -> Bool {
        if apic.hasStartupWork {
            guard serveStartup(apic) else { return false }
        }
        kvm.cr8 = apic.cr8
        do {
            if apic.takeNMI() { try kvm.nmi() }
            try offerInterrupt(apic)
        } catch {
            fail("\(error)")
        }
        return true
    }

    /// Whether the 8259A's INTR reaches this vCPU now: vCPU 0's LINT0 as ExtINT.
    private func extINTWaiting(_ apic: LocalAPIC) -> Bool {
        id == 0 && vm.extInt.isAsserted && apic.acceptsExtINT
    }

    private func offerInterrupt(_ apic: LocalAPIC) throws(KVMError) {
        guard extINTWaiting(apic) || apic.hasPendingInterrupt else {
            if kvm.requestInterruptWindow { kvm.requestInterruptWindow = false }
            return
        }
        guard kvm.readyForInterruptInjection else {
            kvm.requestInterruptWindow = true
            return
        }
        // ExtINT first, as bhyve's injection does; the 8259A may have nothing left by its INTA.
        if extINTWaiting(apic), let vector = vm.interrupts.atpic.acknowledge() {
            try kvm.interrupt(vector: vector)
        } else if let vector = apic.takeInterrupt() {
            try kvm.interrupt(vector: vector)
        }
        kvm.requestInterruptWindow = extINTWaiting(apic) || apic.hasPendingInterrupt
    }

    /// Carries out INIT (registers to their INIT state) and start-up IPIs (real mode at
    /// vector << 12, as bhyve's `spinup_ap`), parking the vCPU while it waits for one. A parked
    /// vCPU counts as halted with interrupts disabled: only another vCPU can start it. false when
    /// the VM began suspending meanwhile.
    private func serveStartup(_ apic: LocalAPIC) -> Bool {
        while true {
            let request = apic.takeStartup()
            do {
                if request.reset { try reset() }
                if let vector = request.startVector {
                    try startAt(vector: vector)
                    vm.vcpuHalted(id, interruptsDisabled: false)
                    return true
                }
            } catch {
                fail("\(error)")
                return false
            }
            guard request.waiting else { return true }
            vm.vcpuHalted(id, interruptsDisabled: true)
            if vm.isSuspending { return false }
            wakeup.wait()
            if vm.isSuspending { return false }
            // Control requests still run while the vCPU waits; what they inject waits for the start.
            _ = serveRequestsWhileHalted()
        }
    }

    private func startAt(vector: UInt8) throws(KVMError) {
        var special = try kvm.specialRegisters()
        special.cs = Segment(base: UInt64(vector) << 12, limit: 0xFFFF, selector: UInt16(vector) << 8, type: 0xB)
        try kvm.setSpecialRegisters(special)
        var registers = try kvm.registers()
        registers.rip = 0
        try kvm.setRegisters(registers)
    }

    /// HLT without an in-kernel local APIC comes to user space: the vCPU sleeps until something
    /// it can take arrives — an NMI, INIT or start-up IPI always, an interrupt only with IF set.
    /// Halted with IF clear it counts towards the VM's all-halted suspend, as in bhyve's
    /// `vm_handle_hlt`.
    ///
    /// KVM exits on HLT even with an event already handed to it: an NMI it could not inject yet
    /// (after STI, say, as in `sti; hlt`) or a queued interrupt. The vCPU then goes straight back
    /// in, or that event would wait for the next wake-up. Control requests run at each wake-up,
    /// and one that injects an event ends the HLT.
    func haltInUserSpace(_ apic: LocalAPIC) {
        let interruptsEnabled: Bool
        do {
            let events = try kvm.events()
            if events.nmiPending || events.interrupt != nil { return }
            interruptsEnabled = try kvm.registers().rflags & (1 << 9) != 0
        } catch {
            fail("\(error)")
            return
        }
        var counted = false
        while !vm.isSuspending {
            if apic.hasPendingNMI || apic.hasStartupWork { break }
            if interruptsEnabled && (apic.hasPendingInterrupt || extINTWaiting(apic)) { break }
            if !counted && !interruptsEnabled {
                vm.vcpuHalted(id, interruptsDisabled: true)
                counted = true
            }
            wakeup.wait()
            if serveRequestsWhileHalted() { break }
        }
        if counted { vm.vcpuHalted(id, interruptsDisabled: false) }
    }

    /// An access to the xAPIC page goes to this vCPU's own APIC; false when the page is not
    /// decoded (x2APIC mode, APIC disabled) and the access belongs to the bus.
    func handleAPICAccess(_ access: MMIOAccess, _ apic: LocalAPIC) -> Bool {
        let offset = access.address &- LocalAPIC.mmioBase
        guard offset < LocalAPIC.mmioSize else { return false }
        if access.isWrite { return apic.mmioWrite(offset: offset, size: access.size, value: access.value) }
        guard let value = apic.mmioRead(offset: offset, size: access.size) else { return false }
        access.complete(with: value)
        return true
    }

    /// RDMSR and WRMSR that KVM left to user space: IA32_APIC_BASE and the x2APIC registers
    /// go to the local APIC; any other MSR raises #GP, as KVM itself would for one it does not know.
    func handleMSR(_ access: MSRAccess) {
        guard let apic, LocalAPIC.handles(msr: access.index) else {
            access.fail()
            return
        }
        if access.isWrite {
            if !apic.writeMSR(access.index, value: access.value) { access.fail() }
        } else if let value = apic.readMSR(access.index) {
            access.complete(with: value)
        } else {
            access.fail()
        }
    }
}
