/// Where the platform's interrupt controllers deliver, whichever local APICs the VM has: KVM's
/// (``KVMInterruptDelivery``, `--lapic kernel`) or Hyve's own (``LocalAPICBus``, `--lapic user`).
/// The I/O APIC, the HPET's FSB route and PCI MSIs reach either through this one interface.
public protocol InterruptDelivery: IOAPICOutput {
    /// bhyve's `VM_LAPIC_MSI`: a message-signalled interrupt. A message outside the APIC window,
    /// or addressed to no APIC, is dropped, as the bus would drop it.
    func sendMSI(address: UInt64, data: UInt32)

    /// bhyve's `VM_LAPIC_IRQ`: `vector` straight into vCPU `vcpu`'s local APIC, edge- or
    /// level-triggered. Ignored for a vCPU the VM does not have.
    func interrupt(vcpu: Int, vector: UInt8, levelTriggered: Bool)
}
