/// bhyve's `lpc` PCI-ISA bridge (`amd64/pci_lpc.c`), normally at 0:31.0: Intel 0x8086:0x7000,
/// class ISA bridge, no BARs, no interrupt. Its PIRQA–PIRQD registers at configuration offsets
/// 0x60–0x63 and PIRQE–PIRQH at 0x68–0x6B read and steer the bus's ``PCIInterruptRouting`` links
/// (bit 7 disables a link, bits 3–0 select its ISA IRQ).
///
/// bhyve handles only byte writes of these registers and lets wider ones land in configuration
/// space without steering anything; here every byte of any access steers its link. Only one LPC
/// bridge may exist per bus, and it reserves the ISA IRQs of COM1–COM4, which bhyve's LPC always
/// claims, so that no PIRQ link is routed onto them.
public final class LPCBridge: PCIFunction {
    public static let vendorID: UInt16 = 0x8086
    public static let deviceID: UInt16 = 0x7000
    /// Base class bridge, subclass ISA bridge.
    public static let classCode: UInt32 = 0x06_01_00
    /// The slot bhyve's examples put it in.
    public static let conventionalSlot = 31
    /// IRQ 4 (COM1, COM3) and IRQ 3 (COM2, COM4).
    public static let reservedISAIRQs = [4, 3]

    public let pci: PCIFunctionState
    private let routing: PCIInterruptRouting

    /// The LPC bridge of the bus that owns `routing`, with bhyve's IDs unless overridden
    /// (`pcireg.*`). Throws if that bus already has one.
    public init(routing: PCIInterruptRouting,
                identity: PCIIdentity = PCIIdentity(vendorID: vendorID, deviceID: deviceID, classCode: classCode))
        throws(PCIBusError) {
        guard routing.claimLPC() else { throw PCIBusError("only one LPC bridge is allowed") }
        self.routing = routing
        pci = PCIFunctionState(identity: identity)
        for irq in Self.reservedISAIRQs { routing.reserveISAIRQ(irq) }
    }

    /// The PIRQ registers read their links' routes.
    public func configRead(offset: Int, size: Int) -> UInt32? {
        guard let link = Self.link(at: offset) else { return nil }
        var value: UInt32 = 0
        for i in 0..<size { value |= UInt32(routing.linkRegister(link + i)) << (8 * UInt32(i)) }
        return value
    }

    /// Each byte written to a PIRQ register steers its link.
    public func configWrite(offset: Int, size: Int, value: UInt32) -> Bool {
        guard let link = Self.link(at: offset) else { return false }
        for i in 0..<size { routing.writeLinkRegister(link + i, value: UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
        return true
    }

    /// The link whose register is at `offset`. Accesses are naturally aligned, so one that starts
    /// in a group of four registers stays in it.
    private static func link(at offset: Int) -> Int? {
        PCIInterruptRouting.linkConfigOffsets.firstIndex(of: offset)
    }
}
