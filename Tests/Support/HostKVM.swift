import Glibc

/// Whether tests that need KVM run: wherever /dev/kvm exists, and always in CI (`CI=true`), where a
/// missing /dev/kvm must make them fail loudly instead of being skipped.
public enum HostKVM {
    public static let testsEnabled = access("/dev/kvm", F_OK) == 0 || ProcessEnvironment.isCI

    /// Whether the host's KVM is the software hypervisor `kvm_pvm`, which emulates guest kernel code
    /// and leaves some instructions to the VMM (see the guest-kernel reference).
    public static let emulatesGuestKernelCode = access("/sys/module/kvm_pvm", F_OK) == 0
}

enum ProcessEnvironment {
    static let isCI = getenv("CI").map { String(cString: $0) } == "true"
}
