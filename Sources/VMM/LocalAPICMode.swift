/// Whose local APICs a VM has (`hyve --lapic`).
public enum LocalAPICMode: String, Sendable, CaseIterable {
    /// KVM's in-kernel local APICs, with Hyve's 8259A, I/O APIC and timers beside them (KVM's
    /// split irqchip).
    case kernel
    /// Hyve's own (``LocalAPIC``), as bhyve's vlapic: KVM has no irqchip at all, and every
    /// interrupt the guest sees is injected by Hyve.
    case user
}
