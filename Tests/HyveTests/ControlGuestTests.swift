import Testing
import TestSupport

/// The control API and hyvectl against guests under real KVM. One test at a time: each spins a
/// guest, and a crowd of them starves the timing-sensitive interrupt tests running beside them.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"), .serialized)
struct ControlGuestTests {}
