import CKVM

/// Why `KVMVCPU.run()` returned. Payload buffers point into the vCPU's `kvm_run` page: they are
/// valid only until the next `run()` on the same vCPU, and a port read or MMIO read is completed
/// by writing the result into them before that next `run()`.
public enum VCPUExit {
    case io(PortIO)
    case mmio(MMIOAccess)
    /// HLT executed and KVM has no local APIC to wait on.
    case halt
    /// The guest triple-faulted (or otherwise entered the shutdown state).
    case shutdown
    /// A signal or `immediate_exit` stopped the entry; nothing ran, nothing to complete.
    case interrupted
    case interruptWindowOpen
    /// RDMSR or WRMSR of an MSR KVM hands to user space (`KVM_CAP_X86_USER_SPACE_MSR`).
    case msr(MSRAccess)
    /// A MOV to CR8 lowered the task priority (only without an in-kernel local APIC); the new
    /// value is in ``KVMVCPU/cr8``.
    case tprLowered
    case ioapicEOI(vector: UInt8)
    case systemEvent(type: UInt32)
    /// KVM failed inside the kernel, typically an instruction its emulator does not implement.
    case internalError(InternalError)
    case failedEntry(hardwareReason: UInt64, cpu: UInt32)
    case exception(vector: UInt32, errorCode: UInt32)
    case hardwareFailure(reason: UInt64)
    case debug
    case unknown(reason: UInt32)
}

/// An IN/OUT (or a string I/O batch of `count` elements) to be completed by the VMM.
public struct PortIO {
    public let isWrite: Bool
    public let port: UInt16
    /// Element size in bytes: 1, 2 or 4.
    public let size: Int
    /// Number of elements (REP INS/OUTS are batched by KVM).
    public let count: Int
    /// `count * size` bytes inside the run page.
    public let data: UnsafeMutableRawBufferPointer

    /// Element `index` as a value of `size` bytes.
    @inline(__always)
    public func value(at index: Int = 0) -> UInt32 {
        let offset = index * size
        switch size {
        case 1: return UInt32(data.load(fromByteOffset: offset, as: UInt8.self))
        case 2: return UInt32(data.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        default: return data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        }
    }

    /// Completes a read of element `index`.
    @inline(__always)
    public func setValue(_ value: UInt32, at index: Int = 0) {
        let offset = index * size
        switch size {
        case 1: data.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
        case 2: data.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: offset, as: UInt16.self)
        default: data.storeBytes(of: value, toByteOffset: offset, as: UInt32.self)
        }
    }
}

/// A guest access to guest-physical memory that no memory slot backs.
public struct MMIOAccess {
    public let address: UInt64
    public let isWrite: Bool
    /// The access's bytes (1–8) inside the run page, little-endian.
    public let data: UnsafeMutableRawBufferPointer

    public var size: Int { data.count }

    /// The written value, zero-extended.
    public var value: UInt64 {
        var v: UInt64 = 0
        for i in 0..<data.count { v |= UInt64(data[i]) << (8 * UInt64(i)) }
        return v
    }

    /// Completes a read with `value`, truncated to the access size.
    public func complete(with value: UInt64) {
        for i in 0..<data.count { data[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}

/// A guest RDMSR or WRMSR that KVM left to user space. A read is completed with ``complete(with:)``;
/// ``fail()`` makes the instruction raise #GP instead.
public struct MSRAccess {
    public let isWrite: Bool
    public let index: UInt32
    let run: UnsafeMutablePointer<kvm_run>

    /// The value a WRMSR writes.
    public var value: UInt64 { ckvm_run_msr(run)!.pointee.data }

    /// Completes a RDMSR with `value`.
    public func complete(with value: UInt64) {
        ckvm_run_msr(run)!.pointee.data = value
    }

    /// Makes the RDMSR or WRMSR raise #GP.
    public func fail() {
        ckvm_run_msr(run)!.pointee.error = 1
    }
}

/// `KVM_EXIT_INTERNAL_ERROR`'s sub-error and the words KVM attached to it.
public struct InternalError: Sendable, Equatable, CustomStringConvertible {
    public let suberror: UInt32
    public let data: [UInt64]

    public static let emulationFailure: UInt32 = UInt32(KVM_INTERNAL_ERROR_EMULATION)

    public var description: String {
        let kind: String
        switch suberror {
        case UInt32(KVM_INTERNAL_ERROR_EMULATION): kind = "instruction emulation failed"
        case UInt32(KVM_INTERNAL_ERROR_SIMUL_EX): kind = "exception while delivering an exception"
        case UInt32(KVM_INTERNAL_ERROR_DELIVERY_EV): kind = "event delivery failed"
        default: kind = "suberror \(suberror)"
        }
        let words = data.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
        return words.isEmpty ? kind : "\(kind) [\(words)]"
    }
}
