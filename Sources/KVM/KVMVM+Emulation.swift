import CKVM

extension KVMVM {
    /// Makes every instruction KVM cannot emulate exit to user space with its bytes
    /// (`KVM_CAP_EXIT_ON_EMULATION_FAILURE`) instead of KVM injecting #UD at CPL 1–3 and queueing
    /// a #UD behind the exit at CPL 0. Returns false on a host without the capability.
    public func enableExitOnEmulationFailure() throws(KVMError) -> Bool {
        guard check(.exitOnEmulationFailure) > 0 else { return false }
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_EXIT_ON_EMULATION_FAILURE)
        cap.args.0 = 1
        _ = try syscallRetrying("KVM_ENABLE_CAP(KVM_CAP_EXIT_ON_EMULATION_FAILURE)") {
            ckvm_ioctl_ptr(fd.raw, CKVM_ENABLE_CAP, &cap)
        }
        return true
    }
}
