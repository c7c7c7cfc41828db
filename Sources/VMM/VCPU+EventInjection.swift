import KVM

/// Event injection for the control API and emulation, wired to the run loop with bhyve's rules
/// (see ``PendingEvents``).
///
/// An exception waits in the vCPU's ``PendingEvents`` until the next entry. Only then, and only
/// when one is queued, does the loop read KVM's vCPU events: the event KVM was delivering when
/// the vCPU last exited is bhyve's exit intinfo, the two are merged (a second contributory or
/// page-fault-class exception becomes #DF, a fault on #DF a triple fault that suspends the VM) and
/// the winner goes in with `KVM_SET_VCPU_EVENTS`. NMIs go to KVM at once with `KVM_NMI`: KVM holds
/// them while NMIs are blocked and delivers them after an injected exception and before any
/// maskable interrupt, which is bhyve's order.
///
/// With KVM, RIP is always at an instruction boundary when user space can inject, so an
/// exception's restart-instruction flag changes nothing: the instruction at RIP runs after the
/// handler returns either way. The flag is kept for `VM_GET_INTINFO` and bhyve's API.
extension VCPU {
    /// bhyve's `VM_INJECT_EXCEPTION`: queues exception `vector` for the next entry; the error code
    /// is dropped in real mode. Must run on the vCPU's thread (inside ``perform(timeout:_:)``).
    /// Throws ``EventInjectionError`` (EINVAL, EBUSY) or a `KVMError`.
    public func injectException(vector: Int, errorCode: UInt32?, restartInstruction: Bool) throws {
        let protectedMode = try kvm.specialRegisters().cr0 & 1 != 0
        try control.events.withLock { pending throws(EventInjectionError) in
            try pending.injectException(vector: vector, errorCode: errorCode,
                                        restartInstruction: restartInstruction, protectedMode: protectedMode)
        }
        control.hasWork.store(true, ordering: .releasing)
        control.wakesHalt.store(true, ordering: .releasing)
    }

    /// Queues the exception a guest access raised, as bhyve's walk does when it injects the
    /// fault: a #PF also loads CR2 with the faulting address. Must run on the vCPU's thread.
    public func inject(_ fault: GuestFault) throws {
        if case .pageFault(_, let address) = fault {
            var special = try kvm.specialRegisters()
            special.cr2 = address
            try kvm.setSpecialRegisters(special)
        }
        try injectException(vector: Int(fault.vector), errorCode: fault.errorCode, restartInstruction: true)
    }

    /// bhyve's `VM_INJECT_NMI`. Must run on the vCPU's thread.
    public func injectNMI() throws(KVMError) {
        try kvm.nmi()
        control.counters.nmisInjected.increment()
        control.wakesHalt.store(true, ordering: .releasing)
    }

    /// bhyve's `VM_GET_INTINFO`: the event KVM is delivering (info1, the exit intinfo) and the
    /// exception queued for the next entry (info2). Must run on the vCPU's thread.
    public func interruptionInfo() throws(KVMError) -> (exit: InterruptionInfo, pending: InterruptionInfo) {
        let inFlight = InterruptionInfo(inFlight: try kvm.events())
        return (inFlight, control.events.withLock { $0.pendingExceptionInfo })
    }

    /// Injects a queued exception, merged with what KVM was delivering, before an entry.
    func deliverPendingEvents() {
        guard control.events.withLock({ $0.pendingException != nil }) else { return }
        do {
            var events = try kvm.events()
            let interruptFlag = kvm.interruptFlag
            let decision = control.events.withLock { pending in
                pending.exitInfo = InterruptionInfo(inFlight: events)
                // ExtINT is offered by the run loop itself, so there is nothing to acknowledge here.
                return pending.eventForEntry(interruptFlag: interruptFlag, interruptShadow: events.interruptShadow != 0,
                                             nmiBlocked: events.nmiMasked) { nil }
            }
            switch decision {
            case .inject(let info):
                info.apply(to: &events)
                try kvm.setEvents(events)
                // An event ends HLT; KVM would otherwise keep the vCPU halted with it injected.
                if try kvm.mpState() == .halted { try kvm.setMPState(.runnable) }
                control.counters.exceptionsInjected.increment()
            case .tripleFault:
                control.counters.tripleFaults.increment()
                vm.suspend(.tripleFault)
            case .none:
                break
            }
        } catch {
            vm.suspend(.failure("vCPU \(id): injecting an event: \(error)"))
        }
    }
}
