import CKVM

/// The XSAVE-managed state and the extended control registers (XCR0) of a vCPU.
extension KVMVCPU {
    /// The smallest `struct kvm_xsave`: what `KVM_GET_XSAVE` fills.
    public static let xsaveAreaMinimumSize = 4096

    /// The vCPU's XSAVE-managed state as an XSAVE image in the standard (non-compacted) format:
    /// the 512-byte legacy region, the 64-byte XSAVE header, then each component at the offset that
    /// the host's CPUID leaf 0xD gives it. Components not in use hold their initial values.
    ///
    /// - Parameter size: the VM's `KVM_CAP_XSAVE2` value when it exceeds 4096 (dynamic features such
    ///   as AMX enabled), which makes this use `KVM_GET_XSAVE2`.
    public func xsave(size: Int = xsaveAreaMinimumSize) throws(KVMError) -> [UInt8] {
        let count = max(size, Self.xsaveAreaMinimumSize)
        let request = count > Self.xsaveAreaMinimumSize ? CKVM_GET_XSAVE2 : CKVM_GET_XSAVE
        let name = count > Self.xsaveAreaMinimumSize ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE"
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        _ = try syscallRetrying("\(name) on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, request, buffer) }
        return Array(UnsafeRawBufferPointer(start: buffer, count: count))
    }

    /// Replaces the XSAVE-managed state with an image in the format ``xsave(size:)`` returns.
    public func setXSave(_ area: [UInt8]) throws(KVMError) {
        let count = max(area.count, Self.xsaveAreaMinimumSize)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        area.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        _ = try syscallRetrying("KVM_SET_XSAVE on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_XSAVE, buffer) }
    }

    /// The extended control registers KVM keeps for the vCPU (XCR0), by index.
    public func extendedControlRegisters() throws(KVMError) -> [UInt32: UInt64] {
        var raw = kvm_xcrs()
        _ = try syscallRetrying("KVM_GET_XCRS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_XCRS, &raw) }
        let count = min(Int(raw.nr_xcrs), Int(KVM_MAX_XCRS))
        return withUnsafeBytes(of: &raw.xcrs) { bytes in
            let entries = bytes.bindMemory(to: kvm_xcr.self)
            var result: [UInt32: UInt64] = [:]
            for entry in entries.prefix(count) { result[entry.xcr] = entry.value }
            return result
        }
    }

    /// Sets extended control registers; KVM checks each value as XSETBV would.
    public func setExtendedControlRegisters(_ values: [UInt32: UInt64]) throws(KVMError) {
        precondition(values.count <= Int(KVM_MAX_XCRS), "KVM takes at most \(KVM_MAX_XCRS) XCRs")
        var raw = kvm_xcrs()
        raw.nr_xcrs = UInt32(values.count)
        withUnsafeMutableBytes(of: &raw.xcrs) { bytes in
            let entries = bytes.bindMemory(to: kvm_xcr.self)
            for (slot, (index, value)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                entries[slot].xcr = index
                entries[slot].value = value
            }
        }
        _ = try syscallRetrying("KVM_SET_XCRS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_XCRS, &raw) }
    }
}
