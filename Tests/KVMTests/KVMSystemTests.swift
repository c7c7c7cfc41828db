import Testing
import KVM
import TestSupport

@Suite struct KVMDeviceErrorTests {
    @Test func missingDeviceSaysThereIsNoKVM() {
        #expect {
            _ = try KVMSystem(path: "/nonexistent/kvm")
        } throws: { error in
            "\(error)" == "open /nonexistent/kvm: no such device: this host has no KVM (load kvm_intel or kvm_amd, or enable nested virtualisation)"
        }
    }

    @Test func fileThatIsNotKVMIsNamed() {
        #expect {
            _ = try KVMSystem(path: "/dev/null")
        } throws: { error in
            "\(error)".hasPrefix("KVM_GET_API_VERSION: /dev/null is not a KVM device")
        }
    }
}

@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct KVMHandleTests {
    @Test func systemReportsAPIVersionAndVCPULimit() throws {
        let system = try KVMSystem()
        #expect(system.maxVCPUs >= 1)
        #expect(system.vcpuMmapSize >= 4096)
        #expect(system.check(.immediateExit) > 0)
    }

    @Test func supportedCPUIDHasTheBasicLeaves() throws {
        let entries = try KVMSystem().supportedCPUID()
        #expect(entries.contains { $0.function == 0 })
        #expect(entries.contains { $0.function == 1 })
    }

    @Test func registersRoundTripThroughKVM() throws {
        let vcpu = try KVMSystem().createVM().createVCPU(id: 0)
        var registers = try vcpu.registers()
        registers.rax = 0x1122_3344_5566_7788
        registers.r15 = 42
        registers.rip = 0x1234
        try vcpu.setRegisters(registers)
        #expect(try vcpu.registers() == registers)

        var special = try vcpu.specialRegisters()
        special.cs = Segment(base: 0x10000, limit: 0xFFFF, selector: 0x1000, type: 0xB)
        special.cr2 = 0xDEAD_B000
        try vcpu.setSpecialRegisters(special)
        let back = try vcpu.specialRegisters()
        #expect(back.cs.base == 0x10000 && back.cs.selector == 0x1000 && back.cr2 == 0xDEAD_B000)
    }

    @Test func fpuMSRAndEventStateRoundTrip() throws {
        let vcpu = try KVMSystem().createVM().createVCPU(id: 0)
        var state = FPUState.reset
        state.controlWord = 0x27F
        try vcpu.setFPU(state)
        // This host's KVM does not report MXCSR through KVM_GET_FPU, so only the x87 word is compared.
        #expect(try vcpu.fpu().controlWord == 0x27F)

        let sysenterCS: UInt32 = 0x174
        try vcpu.setMSRs([(sysenterCS, 0x10)])
        #expect(try vcpu.msrs([sysenterCS])[sysenterCS] == 0x10)

        var events = try vcpu.events()
        events.nmiMasked = true
        try vcpu.setEvents(events)
        #expect(try vcpu.events().nmiMasked)

        try vcpu.setMPState(.runnable)
        #expect(try vcpu.mpState() == .runnable)
    }

    @Test func refusedMSRIsNamed() throws {
        let vcpu = try KVMSystem().createVM().createVCPU(id: 0)
        #expect {
            try vcpu.setMSRs([(0xDEAD_0000, 1)])
        } throws: { error in
            "\(error)".contains("KVM refused MSR 0xdead0000")
        }
    }

    @Test func immediateExitReturnsWithoutRunningTheGuest() throws {
        let vcpu = try KVMSystem().createVM().createVCPU(id: 0)
        vcpu.requestImmediateExit()
        guard case .interrupted = try vcpu.run() else {
            Issue.record("KVM_RUN with immediate_exit did not return interrupted")
            return
        }
    }
}
