import CKVM

extension KVMVCPU {
    /// The in-kernel local APIC's register page (`KVM_GET_LAPIC`, 1 KiB, registers at their
    /// xAPIC MMIO offsets), for reading LVT entries and the spurious-interrupt vector register.
    public func kernelLocalAPICRegisters() throws(KVMError) -> [UInt8] {
        var state = kvm_lapic_state()
        _ = try syscallRetrying("KVM_GET_LAPIC on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_LAPIC, &state) }
        return withUnsafeBytes(of: &state.regs) { Array($0) }
    }
}
