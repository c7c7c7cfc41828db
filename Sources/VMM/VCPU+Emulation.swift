import CKVM
import KVM

/// The user-space fallback for instructions KVM cannot emulate (`KVM_INTERNAL_ERROR_EMULATION`):
/// decode the instruction, emulate it, deliver what it raises, and re-enter; one diagnostic line
/// stops the VM where Hyve cannot go on.
extension VCPU {
    /// DR6.BS: the #DB came from single-stepping.
    static let dr6SingleStep: UInt64 = 1 << 14

    func emulateFailedInstruction(_ failure: InternalError) {
        do {
            let context = try VCPUEmulationContext(vcpu: kvm, memory: vm.memory, mmio: vm.mmio,
                                                   layout: vm.extendedStateLayout, xsaveSize: vm.xsaveSize)
            let instruction: DecodedInstruction
            do throws(EmulationError) {
                instruction = try InstructionDecoder.decodeInstruction(at: context, reported: failure.instructionBytes)
            } catch {
                switch error {
                case .exception(let fetchFault): try deliver(fetchFault)
                case .unsupported(let reason): fail("cannot emulate \(reason)")
                case .hostFailure(let reason): fail("cannot fetch the instruction KVM failed on: \(reason)")
                }
                return
            }
            switch InstructionEmulator.emulate(instruction, in: context) {
            case .completed:
                try context.apply()
            case .exception(let event):
                try context.apply()
                try deliver(event)
            case .unsupported(let reason):
                fail("cannot emulate \(instruction.mnemonic) [\(instruction.hexBytes)] (\(reason))")
                return
            case .hostFailure(let reason):
                fail("emulating \(instruction.mnemonic) [\(instruction.hexBytes)] failed: \(reason)")
                return
            }
            vm.emulationCounters.record(instruction.mnemonic)
        } catch {
            fail("\(error)")
        }
    }

    /// Hands `event` to the guest. Exceptions, INT3 and INTO included (RIP is already past those,
    /// and KVM pushes RIP as it is), are queued like any injected exception (``injectException(vector:errorCode:restartInstruction:)``),
    /// so they merge with what KVM was delivering; a #PF loads CR2 first, a single-step #DB sets
    /// DR6.BS. INT n, which is no exception, goes to KVM as an injected software interrupt.
    private func deliver(_ event: GuestException) throws {
        if event.kind == .softwareInterrupt {
            var events = try kvm.events()
            events.interrupt = event.vector
            events.interruptIsSoftware = true
            // Delivering an event ends an STI/MOV SS interrupt shadow; VM entry may refuse one under it.
            events.interruptShadow = 0
            events.flags |= UInt32(KVM_VCPUEVENT_VALID_SHADOW)
            try kvm.setEvents(events)
            return
        }
        if let address = event.faultAddress {
            var special = try kvm.specialRegisters()
            special.cr2 = address
            try kvm.setSpecialRegisters(special)
        }
        if event == .singleStep {
            var debug = try kvm.debugRegisters()
            debug.dr6 |= Self.dr6SingleStep
            try kvm.setDebugRegisters(debug)
        }
        try injectException(vector: Int(event.vector), errorCode: event.errorCode,
                            restartInstruction: event.kind == .fault)
    }
}
