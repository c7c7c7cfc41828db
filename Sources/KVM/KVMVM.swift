import CKVM
import Glibc

/// One KVM virtual machine: its memory slots and vCPUs.
public final class KVMVM: Sendable {
    let fd: OwnedFD
    /// The system handle this VM came from; kept alive as long as the VM.
    public let system: KVMSystem

    init(fd: OwnedFD, system: KVMSystem) {
        self.fd = fd
        self.system = system
    }

    /// The capability's value for this VM (some capabilities differ per VM type).
    public func check(_ capability: KVMCapability) -> Int32 {
        max(0, ckvm_ioctl_val(fd.raw, CKVM_CHECK_EXTENSION, UInt(capability.rawValue)))
    }

    /// Maps `size` bytes of host memory at `hostAddress` into guest physical memory at `guestAddress`.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64,
                                    hostAddress: UnsafeMutableRawPointer, readOnly: Bool = false) throws(KVMError) {
        var region = kvm_userspace_memory_region()
        region.slot = slot
        region.flags = readOnly ? UInt32(KVM_MEM_READONLY) : 0
        region.guest_phys_addr = guestAddress
        region.memory_size = size
        region.userspace_addr = UInt64(UInt(bitPattern: hostAddress))
        _ = try syscallRetrying("KVM_SET_USER_MEMORY_REGION slot \(slot)") {
            ckvm_ioctl_ptr(fd.raw, CKVM_SET_USER_MEMORY_REGION, &region)
        }
    }

    /// Places the three pages Intel's VMX needs for real-mode emulation (unused elsewhere).
    public func setTSSAddress(_ address: UInt32) throws(KVMError) {
        _ = try syscallRetrying("KVM_SET_TSS_ADDR") { ckvm_ioctl_val(fd.raw, CKVM_SET_TSS_ADDR, UInt(address)) }
    }

    /// Creates vCPU `id` and maps its `kvm_run` area.
    public func createVCPU(id: Int) throws(KVMError) -> KVMVCPU {
        let raw = try syscallRetrying("KVM_CREATE_VCPU \(id)") { ckvm_ioctl_val(fd.raw, CKVM_CREATE_VCPU, UInt(id)) }
        let vcpuFD = OwnedFD(raw)
        let size = system.vcpuMmapSize
        guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, raw, 0), page != MAP_FAILED else {
            throw KVMError("mmap of vCPU \(id)'s kvm_run", errno: errno)
        }
        return KVMVCPU(id: id, fd: vcpuFD, runPage: page, runPageSize: size)
    }
}
