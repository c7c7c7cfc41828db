/// The interrupt lines a device model drives, with bhyve's names and semantics (`VM_ISA_*_IRQ`,
/// `VM_IOAPIC_*_IRQ`, `VM_LAPIC_MSI`).
///
/// Assert and deassert count: a line is high while any source asserts it (wired-OR), so several
/// devices may share one. A pulse is an assert immediately followed by a deassert, for
/// edge-triggered legacy sources such as the 8254, the UARTs and the RTC.
public protocol InterruptLines: AnyObject, Sendable {
    /// Asserts 8259A IRQ `irq` (0–15) and, when given, I/O APIC pin `ioapicPin`.
    func isaAssert(_ irq: Int, ioapicPin: Int?)
    func isaDeassert(_ irq: Int, ioapicPin: Int?)
    func isaPulse(_ irq: Int, ioapicPin: Int?)

    /// Asserts I/O APIC pin `pin` (0–31).
    func ioapicAssert(_ pin: Int)
    func ioapicDeassert(_ pin: Int)
    func ioapicPulse(_ pin: Int)

    /// Sends a message-signalled interrupt; `address` and `data` are the device's MSI registers.
    func sendMSI(address: UInt64, data: UInt32)
}
