import CKVM
import Glibc

/// A KVM capability number (`KVM_CAP_*`), asked of the system or of one VM.
public struct KVMCapability: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let immediateExit = KVMCapability(rawValue: KVM_CAP_IMMEDIATE_EXIT)
    public static let userMemory = KVMCapability(rawValue: KVM_CAP_USER_MEMORY)
    public static let maxVCPUs = KVMCapability(rawValue: KVM_CAP_MAX_VCPUS)
    public static let recommendedVCPUs = KVMCapability(rawValue: KVM_CAP_NR_VCPUS)
    public static let maxVCPUID = KVMCapability(rawValue: KVM_CAP_MAX_VCPU_ID)
    public static let setTSSAddress = KVMCapability(rawValue: KVM_CAP_SET_TSS_ADDR)
    public static let vcpuEvents = KVMCapability(rawValue: KVM_CAP_VCPU_EVENTS)
    public static let mpState = KVMCapability(rawValue: KVM_CAP_MP_STATE)
    public static let extendedCPUID = KVMCapability(rawValue: KVM_CAP_EXT_CPUID)
    public static let splitIRQChip = KVMCapability(rawValue: KVM_CAP_SPLIT_IRQCHIP)
    public static let signalMSI = KVMCapability(rawValue: KVM_CAP_SIGNAL_MSI)
    public static let userSpaceMSR = KVMCapability(rawValue: KVM_CAP_X86_USER_SPACE_MSR)
    /// The size in bytes of the buffer `KVM_GET_XSAVE2` fills (at least 4096).
    public static let xsave2 = KVMCapability(rawValue: KVM_CAP_XSAVE2)
    public static let exitOnEmulationFailure = KVMCapability(rawValue: KVM_CAP_EXIT_ON_EMULATION_FAILURE)
}

/// The KVM subsystem: an open `/dev/kvm`, checked for the API version Hyve speaks.
public final class KVMSystem: Sendable {
    /// The only KVM API version there has ever been in mainline Linux.
    public static let requiredAPIVersion: Int32 = 12

    /// Capabilities without which no Hyve machine can run.
    public static let requiredCapabilities: [(KVMCapability, String)] = [
        (.userMemory, "KVM_CAP_USER_MEMORY"),
        (.immediateExit, "KVM_CAP_IMMEDIATE_EXIT"),
        (.extendedCPUID, "KVM_CAP_EXT_CPUID"),
        (.vcpuEvents, "KVM_CAP_VCPU_EVENTS"),
        (.mpState, "KVM_CAP_MP_STATE"),
    ]

    let fd: OwnedFD
    /// The size of each vCPU's shared `kvm_run` area.
    public let vcpuMmapSize: Int

    /// Opens the KVM device and checks its API version and the capabilities Hyve needs.
    /// Every failure is a `KVMError` whose description is one line a user can act on.
    public init(path: String = "/dev/kvm") throws(KVMError) {
        let raw = open(path, O_RDWR | O_CLOEXEC)
        if raw < 0 {
            let code = errno
            switch code {
            case ENOENT:
                throw KVMError("open \(path)", errno: code,
                               detail: "no such device: this host has no KVM (load kvm_intel or kvm_amd, or enable nested virtualisation)")
            case EACCES, EPERM:
                throw KVMError("open \(path)", errno: code,
                               detail: "permission denied (run as root or add the user to the kvm group)")
            default:
                throw KVMError("open \(path)", errno: code)
            }
        }
        fd = OwnedFD(raw)
        let version = ckvm_ioctl_val(raw, CKVM_GET_API_VERSION, 0)
        if version < 0 {
            let code = errno
            throw KVMError("KVM_GET_API_VERSION", errno: code,
                           detail: "\(path) is not a KVM device (\(String(cString: strerror(code))))")
        }
        if version != Self.requiredAPIVersion {
            throw KVMError("KVM_GET_API_VERSION", errno: 0,
                           detail: "\(path) speaks KVM API version \(version), Hyve needs \(Self.requiredAPIVersion)")
        }
        for (capability, name) in Self.requiredCapabilities where ckvm_ioctl_val(raw, CKVM_CHECK_EXTENSION, UInt(capability.rawValue)) <= 0 {
            throw KVMError("KVM_CHECK_EXTENSION", errno: 0, detail: "this host's KVM lacks \(name)")
        }
        let size = ckvm_ioctl_val(raw, CKVM_GET_VCPU_MMAP_SIZE, 0)
        if size <= 0 { throw KVMError("KVM_GET_VCPU_MMAP_SIZE", errno: errno) }
        vcpuMmapSize = Int(size)
    }

    /// The capability's value on this host (0 when absent).
    public func check(_ capability: KVMCapability) -> Int32 {
        max(0, ckvm_ioctl_val(fd.raw, CKVM_CHECK_EXTENSION, UInt(capability.rawValue)))
    }

    /// The largest number of vCPUs one VM may have on this host.
    public var maxVCPUs: Int {
        let hard = check(.maxVCPUs)
        if hard > 0 { return Int(hard) }
        let recommended = check(.recommendedVCPUs)
        // KVM's documentation: without KVM_CAP_NR_VCPUS assume 4.
        return recommended > 0 ? Int(recommended) : 4
    }

    /// The CPUID leaves KVM can present to a guest on this host.
    public func supportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        var table = ckvm_cpuid()
        table.nent = UInt32(CKVM_MAX_CPUID_ENTRIES)
        _ = try syscallRetrying("KVM_GET_SUPPORTED_CPUID") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_SUPPORTED_CPUID, &table) }
        return withUnsafeBytes(of: &table.entries) { raw in
            let entries = raw.bindMemory(to: kvm_cpuid_entry2.self)
            return (0..<Int(table.nent)).map { CPUIDEntry(entries[$0]) }
        }
    }

    /// Creates an empty VM (no memory, no vCPUs).
    public func createVM() throws(KVMError) -> KVMVM {
        let raw = try syscallRetrying("KVM_CREATE_VM") { ckvm_ioctl_val(fd.raw, CKVM_CREATE_VM, 0) }
        return KVMVM(fd: OwnedFD(raw), system: self)
    }
}
