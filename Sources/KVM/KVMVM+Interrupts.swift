import CKVM
import Glibc

/// A GSI routed to a message-signalled interrupt (`KVM_IRQ_ROUTING_MSI`).
public struct MSIRoute: Sendable, Equatable {
    public var gsi: UInt32
    public var address: UInt64
    public var data: UInt32

    public init(gsi: UInt32, address: UInt64, data: UInt32) {
        self.gsi = gsi
        self.address = address
        self.data = data
    }
}

extension KVMVM {
    /// The most GSI routes ``setGSIRouting(_:)`` takes at once.
    public static let maxRoutes = Int(CKVM_MAX_ROUTES)

    /// Gives the VM KVM's local APICs and nothing else (`KVM_CAP_SPLIT_IRQCHIP`); the PIC, I/O APIC
    /// and timers stay in user space. `ioapicPins` GSIs are reserved for the user-space I/O APIC,
    /// whose routes tell KVM which vectors need an EOI exit. Must precede vCPU creation.
    public func enableSplitIRQChip(ioapicPins: Int) throws(KVMError) {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_SPLIT_IRQCHIP)
        cap.args.0 = UInt64(ioapicPins)
        _ = try syscallRetrying("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)") { ckvm_ioctl_ptr(fd.raw, CKVM_ENABLE_CAP, &cap) }
    }

    /// Sends the guest's RDMSR and WRMSR of MSRs KVM does not implement, or refuses, or is told
    /// to leave alone (``denyMSRs(_:)``) to user space as `KVM_EXIT_X86_RDMSR`/`WRMSR`
    /// (`KVM_CAP_X86_USER_SPACE_MSR`). Without an in-kernel local APIC that is every x2APIC MSR.
    public func enableUserSpaceMSRs() throws(KVMError) {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_X86_USER_SPACE_MSR)
        cap.args.0 = UInt64(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER)
        _ = try syscallRetrying("KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)") { ckvm_ioctl_ptr(fd.raw, CKVM_ENABLE_CAP, &cap) }
    }

    /// Keeps KVM from handling the guest's reads and writes of `msrs` (`KVM_X86_SET_MSR_FILTER`),
    /// so that they reach user space; every other MSR stays KVM's. Replaces any earlier filter.
    public func denyMSRs(_ msrs: [UInt32]) throws(KVMError) {
        var filter = kvm_msr_filter()
        filter.flags = UInt32(KVM_MSR_FILTER_DEFAULT_ALLOW)
        guard msrs.count <= Int(KVM_MSR_FILTER_MAX_RANGES) else {
            throw KVMError("KVM_X86_SET_MSR_FILTER", errno: E2BIG, detail: "\(msrs.count) MSRs is more than one filter holds")
        }
        // One range per MSR, each a one-bit bitmap whose clear bit denies it.
        let bitmaps = UnsafeMutablePointer<UInt8>.allocate(capacity: max(msrs.count, 1))
        bitmaps.initialize(repeating: 0, count: max(msrs.count, 1))
        defer { bitmaps.deallocate() }
        withUnsafeMutableBytes(of: &filter.ranges) { raw in
            let ranges = raw.bindMemory(to: kvm_msr_filter_range.self)
            for (i, msr) in msrs.enumerated() {
                ranges[i].flags = UInt32(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)
                ranges[i].nmsrs = 1
                ranges[i].base = msr
                ranges[i].bitmap = bitmaps + i
            }
        }
        _ = try syscallRetrying("KVM_X86_SET_MSR_FILTER") { ckvm_ioctl_ptr(fd.raw, CKVM_X86_SET_MSR_FILTER, &filter) }
    }

    /// Delivers a message-signalled interrupt to the in-kernel local APICs. Returns false when the
    /// guest had the interrupt blocked (no APIC accepted it).
    @discardableResult
    public func signalMSI(address: UInt64, data: UInt32) throws(KVMError) -> Bool {
        var msi = kvm_msi()
        msi.address_lo = UInt32(truncatingIfNeeded: address)
        msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        msi.data = data
        return try syscallRetrying("KVM_SIGNAL_MSI") { ckvm_ioctl_ptr(fd.raw, CKVM_SIGNAL_MSI, &msi) } > 0
    }

    /// Replaces the VM's whole GSI routing table.
    public func setGSIRouting(_ routes: [MSIRoute]) throws(KVMError) {
        guard routes.count <= Self.maxRoutes else {
            throw KVMError("KVM_SET_GSI_ROUTING", errno: E2BIG, detail: "\(routes.count) routes is more than \(Self.maxRoutes)")
        }
        var table = ckvm_irq_routing()
        table.nr = UInt32(routes.count)
        withUnsafeMutableBytes(of: &table.entries) { raw in
            let entries = raw.bindMemory(to: kvm_irq_routing_entry.self)
            for (i, route) in routes.enumerated() {
                var entry = kvm_irq_routing_entry()
                entry.gsi = route.gsi
                entry.type = UInt32(KVM_IRQ_ROUTING_MSI)
                entry.u.msi.address_lo = UInt32(truncatingIfNeeded: route.address)
                entry.u.msi.address_hi = UInt32(truncatingIfNeeded: route.address >> 32)
                entry.u.msi.data = route.data
                entries[i] = entry
            }
        }
        _ = try syscallRetrying("KVM_SET_GSI_ROUTING") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_GSI_ROUTING, &table) }
    }
}
