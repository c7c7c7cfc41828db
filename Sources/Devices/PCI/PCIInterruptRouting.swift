import Synchronization
import VMM

/// Where one slot's interrupt pin is wired: an I/O APIC pin, and the PIRQ link that carries it to
/// the 8259A.
public struct PCIINTxRoute: Sendable, Equatable, Hashable {
    public let ioapicPin: Int
    /// 0 = PIRQA … 7 = PIRQH.
    public let link: Int

    public init(ioapicPin: Int, link: Int) {
        self.ioapicPin = ioapicPin
        self.link = link
    }
}

/// Bus 0's INTx wiring, as bhyve's `pci_irq.c` (an ICH10-style router with eight PIRQ links) and
/// `amd64/ioapic.c` (I/O APIC pins for PCI) do it.
///
/// Each (slot, pin) in use gets, in bus order, the next I/O APIC pin of the pool above the 16 ISA
/// pins (round robin) and the least used PIRQ link (the lowest on a tie). A link's first user also
/// routes it: to the least used ISA IRQ of 3–7, 9–12, 14, 15 (the lowest on a tie) that no legacy
/// device reserved, made level-triggered in the ELCR.
///
/// Assertion is wired-OR: every asserting function asserts its I/O APIC pin, and a link's ISA IRQ
/// is asserted while any of its functions is, if the link is enabled with a permitted IRQ. The
/// guest re-steers links through the LPC bridge's PIRQ registers (bit 7 disables, bits 3–0 are the
/// IRQ); a register naming an IRQ outside the permitted set behaves as disabled, as in bhyve.
public final class PCIInterruptRouting: Sendable {
    /// PIRQA–PIRQH.
    public static let linkCount = 8
    /// LPC bridge configuration offsets of PIRQA–PIRQH.
    public static let linkConfigOffsets: [Int] = [0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6A, 0x6B]
    /// ISA IRQs a link may use (bhyve's mask 0xDEF8).
    public static let permittedIRQs: Set<Int> = [3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15]
    /// A PIRQ register's disable bit.
    public static let linkDisabled: UInt8 = 0x80
    static let linkIRQMask: UInt8 = 0x0F
    /// I/O APIC pins below this are the ISA pins.
    public static let firstIOAPICPin = 16

    private struct Link {
        var register = PCIInterruptRouting.linkDisabled
        /// What routing chose, restored on reset.
        var routed = PCIInterruptRouting.linkDisabled
        var users = 0
        var asserted = 0
    }

    private struct State {
        var links = [Link](repeating: Link(), count: PCIInterruptRouting.linkCount)
        /// Links routed to each ISA IRQ; nil for IRQs a link may not use.
        var irqUsers: [Int?] = (0..<16).map { PCIInterruptRouting.permittedIRQs.contains($0) ? 0 : nil }
        var ioapicPinsHandedOut = 0
        var lpcClaimed = false
    }

    /// The interrupt controllers the routes drive.
    public let lines: any PCIInterruptLines
    private let state = Mutex(State())

    /// Routing that drives `lines`, with every link disabled until routes are made.
    public init(lines: any PCIInterruptLines) {
        self.lines = lines
    }

    /// Keeps ISA IRQ `irq` off the links, for a legacy device that owns it (bhyve's
    /// `pci_irq_reserve`). Only routes made afterwards avoid it.
    public func reserveISAIRQ(_ irq: Int) {
        guard (0..<16).contains(irq) else { return }
        state.withLock { $0.irqUsers[irq] = nil }
    }

    /// Records the one LPC bridge; false if there is one already.
    func claimLPC() -> Bool {
        state.withLock { state in
            defer { state.lpcClaimed = true }
            return !state.lpcClaimed
        }
    }

    /// Wires a new (slot, pin).
    func allocateRoute() -> PCIINTxRoute {
        state.withLock { state in
            let pool = IOAPIC.pinCount - Self.firstIOAPICPin
            let ioapicPin = Self.firstIOAPICPin + state.ioapicPinsHandedOut % pool
            state.ioapicPinsHandedOut += 1
            let link = state.links.indices.min { state.links[$0].users < state.links[$1].users }!
            state.links[link].users += 1
            if state.links[link].register == Self.linkDisabled,
               let irq = state.irqUsers.indices.filter({ state.irqUsers[$0] != nil })
                   .min(by: { state.irqUsers[$0]! < state.irqUsers[$1]! }) {
                state.irqUsers[irq]! += 1
                state.links[link].register = UInt8(irq)
                state.links[link].routed = UInt8(irq)
                try? lines.setISATriggerMode(irq, level: true)
            }
            return PCIINTxRoute(ioapicPin: ioapicPin, link: link)
        }
    }

    /// One more function asserts `route`.
    func assert(_ route: PCIINTxRoute) {
        state.withLock { state in
            state.links[route.link].asserted += 1
            if state.links[route.link].asserted == 1, let irq = Self.irq(state.links[route.link].register) {
                lines.isaAssert(irq, ioapicPin: route.ioapicPin)
            } else {
                lines.ioapicAssert(route.ioapicPin)
            }
        }
    }

    /// One function stops asserting `route`.
    func deassert(_ route: PCIINTxRoute) {
        state.withLock { state in
            guard state.links[route.link].asserted > 0 else { return }
            state.links[route.link].asserted -= 1
            if state.links[route.link].asserted == 0, let irq = Self.irq(state.links[route.link].register) {
                lines.isaDeassert(irq, ioapicPin: route.ioapicPin)
            } else {
                lines.ioapicDeassert(route.ioapicPin)
            }
        }
    }

    /// PIRQ register `link` (bhyve's `pirq_read`).
    public func linkRegister(_ link: Int) -> UInt8 {
        state.withLock { $0.links[link].register }
    }

    /// The ISA IRQ link `link` delivers to; nil while it is disabled or names an IRQ outside the
    /// permitted set.
    public func linkIRQ(_ link: Int) -> Int? {
        Self.irq(linkRegister(link))
    }

    /// A guest write of PIRQ register `link` (bhyve's `pirq_write`): the reserved bits 6–4 read as
    /// 0; if the link is asserted, its old IRQ is deasserted and its new one asserted; a new
    /// permitted IRQ is made level-triggered.
    public func writeLinkRegister(_ link: Int, value: UInt8) {
        state.withLock { steer(&$0.links[link], to: value) }
    }

    /// Back to the routes chosen at attach time, as firmware would program them after a reset.
    func resetLinks() {
        state.withLock { state in
            for link in state.links.indices { steer(&state.links[link], to: state.links[link].routed) }
        }
    }

    private func steer(_ link: inout Link, to value: UInt8) {
        let register = value & (Self.linkDisabled | Self.linkIRQMask)
        guard register != link.register else { return }
        if link.asserted > 0, let old = Self.irq(link.register) { lines.isaDeassert(old, ioapicPin: nil) }
        link.register = register
        guard let irq = Self.irq(register) else { return }
        try? lines.setISATriggerMode(irq, level: true)
        if link.asserted > 0 { lines.isaAssert(irq, ioapicPin: nil) }
    }

    private static func irq(_ register: UInt8) -> Int? {
        guard register & linkDisabled == 0 else { return nil }
        let irq = Int(register & linkIRQMask)
        return permittedIRQs.contains(irq) ? irq : nil
    }
}
