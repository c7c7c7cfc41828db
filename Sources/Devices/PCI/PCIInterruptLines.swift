import VMM

/// The interrupt plumbing PCI INTx routing drives: the ``InterruptLines`` plus the ELCR, which
/// makes the ISA IRQs the PIRQ links use level-triggered. ``InterruptRouter`` is the VM's.
public protocol PCIInterruptLines: InterruptLines {
    /// Makes ISA IRQ `irq` edge- or level-triggered (bhyve's `VM_ISA_SET_IRQ_TRIGGER`).
    func setISATriggerMode(_ irq: Int, level: Bool) throws(ATPICError)
}

extension InterruptRouter: PCIInterruptLines {}
