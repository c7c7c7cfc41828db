/// bhyve's interrupt plumbing (vatpic + vioapic + MSI) behind the ``InterruptLines`` the device
/// models drive: ISA lines reach the 8259A pair and, when given, an I/O APIC pin; I/O APIC and MSI
/// deliveries go to the local APICs through an ``InterruptDelivery``: KVM's or Hyve's.
public final class InterruptRouter: InterruptLines {
    /// bhyve's `VM_IOAPIC_PINCOUNT`.
    public static let ioapicPinCount = IOAPIC.pinCount
    static let isaIRQCount = 16

    public let atpic: ATPIC
    public let ioapic: IOAPIC
    /// Where I/O APIC messages and MSIs go.
    public let delivery: any InterruptDelivery

    /// `extIntChanged` learns when the 8259A's INTR output changes level (LINT0, ExtINT).
    init(delivery: any InterruptDelivery, extIntChanged: @escaping @Sendable (Bool) -> Void) {
        self.delivery = delivery
        atpic = ATPIC(output: extIntChanged)
        ioapic = IOAPIC(output: delivery)
    }

    public func isaAssert(_ irq: Int, ioapicPin: Int?) {
        if Self.isISA(irq) { atpic.assert(irq) }
        if let pin = ioapicPin { ioapicAssert(pin) }
    }

    public func isaDeassert(_ irq: Int, ioapicPin: Int?) {
        if Self.isISA(irq) { atpic.deassert(irq) }
        if let pin = ioapicPin { ioapicDeassert(pin) }
    }

    public func isaPulse(_ irq: Int, ioapicPin: Int?) {
        if Self.isISA(irq) { atpic.pulse(irq) }
        if let pin = ioapicPin { ioapicPulse(pin) }
    }

    public func ioapicAssert(_ pin: Int) {
        if Self.isPin(pin) { ioapic.assert(pin) }
    }

    public func ioapicDeassert(_ pin: Int) {
        if Self.isPin(pin) { ioapic.deassert(pin) }
    }

    public func ioapicPulse(_ pin: Int) {
        if Self.isPin(pin) { ioapic.pulse(pin) }
    }

    public func sendMSI(address: UInt64, data: UInt32) {
        delivery.sendMSI(address: address, data: data)
    }

    /// bhyve's `VM_ISA_SET_IRQ_TRIGGER`: edge or level in the ELCR.
    public func setISATriggerMode(_ irq: Int, level: Bool) throws(ATPICError) {
        try atpic.setTriggerMode(irq, level: level)
    }

    private static func isISA(_ irq: Int) -> Bool { irq >= 0 && irq < isaIRQCount }
    private static func isPin(_ pin: Int) -> Bool { pin >= 0 && pin < ioapicPinCount }
}
