import KVM

/// The CPUID table a vCPU is given: what KVM supports on this host, with the per-vCPU APIC ids filled in.
enum CPUIDTable {
    static func entries(for vcpu: Int, supported: [CPUIDEntry]) -> [CPUIDEntry] {
        supported.map { entry in
            var entry = entry
            switch entry.function {
            case 0x1:
                // Initial APIC id in EBX[31:24]; bhyve makes the APIC id equal the vCPU id.
                entry.ebx = (entry.ebx & 0x00FF_FFFF) | (UInt32(truncatingIfNeeded: vcpu) << 24)
            case 0xB, 0x1F:
                // x2APIC id of this logical processor.
                entry.edx = UInt32(truncatingIfNeeded: vcpu)
            default:
                break
            }
            return entry
        }
    }
}
