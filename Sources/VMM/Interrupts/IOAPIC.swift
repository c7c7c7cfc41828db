import Synchronization

/// Where the I/O APIC's deliveries go (in Hyve: KVM_SIGNAL_MSI into KVM's local APICs).
///
/// Both methods are called with the I/O APIC's lock held, so that routes and deliveries reach
/// KVM in the order the guest caused them; an implementation must not call back into the
/// I/O APIC.
public protocol IOAPICOutput: AnyObject, Sendable {
    /// Sends one interrupt message to the local APICs.
    func deliver(_ message: MSIMessage)
    /// A pin's redirection entry changed: its message now, or nil when masked. Hyve mirrors these
    /// into KVM's GSI routes so that KVM knows which vectors are level-triggered and reports their
    /// EOIs. An entry whose delivery mode the I/O APIC drops (SMI, NMI, INIT, start-up, reserved)
    /// reports nil as well, since it never produces a message.
    func routeChanged(pin: Int, message: MSIMessage?)
}

/// The I/O APIC as bhyve's vioapic models it: an 82093AA with 32 redirection entries at
/// 0xFEC00000, reached through IOREGSEL (offset 0x00) and IOWIN (offset 0x10).
///
/// Each pin counts its asserts and deasserts, so several sources can share one (wired-OR); the
/// line is high while the count is above zero. Deliveries are synchronous, so Delivery Status
/// always reads 0.
public final class IOAPIC: MMIODevice {
    /// The guest physical address of IOREGSEL.
    public static let baseAddress: UInt64 = 0xFEC0_0000
    /// The length of the I/O APIC's MMIO window.
    public static let size: UInt64 = 0x1000
    /// Redirection entries, and so input pins.
    public static let pinCount = 32

    private static let selectOffset: UInt64 = 0x00
    private static let windowOffset: UInt64 = 0x10

    private static let idRegister: UInt8 = 0x00
    private static let versionRegister: UInt8 = 0x01
    private static let arbitrationRegister: UInt8 = 0x02
    private static let firstEntryRegister: UInt8 = 0x10
    /// Version 0x11 (an 82093AA, so no EOI register) and maximum redirection entry 31.
    private static let version = UInt32(pinCount - 1) << 16 | 0x11
    /// The 82093AA's ID register holds a 4-bit APIC ID in bits 24–27; the rest are reserved.
    private static let idMask: UInt32 = 0x0F00_0000

    /// Redirection entry fields. Polarity (bit 13) is stored like any other bit but never
    /// consulted: lines here are logical levels, not voltages.
    private enum Entry {
        static let vectorMask: UInt64 = 0xFF
        static let deliveryModeShift: UInt64 = 8
        static let logicalDestination: UInt64 = 1 << 11
        static let deliveryStatus: UInt64 = 1 << 12
        static let remoteIRR: UInt64 = 1 << 14
        static let levelTriggered: UInt64 = 1 << 15
        static let masked: UInt64 = 1 << 16
        static let destinationShift: UInt64 = 56
        static let readOnly = deliveryStatus | remoteIRR
    }

    private struct State {
        var select: UInt8 = 0
        var id: UInt32 = 0
        var entries = [UInt64](repeating: Entry.masked, count: IOAPIC.pinCount)
        var assertCounts = [Int](repeating: 0, count: IOAPIC.pinCount)

        func read() -> UInt32 {
            switch select {
            case IOAPIC.idRegister, IOAPIC.arbitrationRegister:
                return id
            case IOAPIC.versionRegister:
                return IOAPIC.version
            default:
                guard let (pin, shift) = IOAPIC.entryHalf(select) else { return 0 }
                return UInt32(truncatingIfNeeded: entries[pin] >> shift)
            }
        }

        mutating func write(_ value: UInt32, output: any IOAPICOutput) {
            if select == IOAPIC.idRegister {
                id = value & IOAPIC.idMask
                return
            }
            guard let (pin, shift) = IOAPIC.entryHalf(select) else { return }
            let old = entries[pin]
            let half: UInt64 = 0xFFFF_FFFF << shift
            var entry = (old & ~half | UInt64(value) << shift) & ~Entry.readOnly | old & Entry.readOnly
            // Real I/O APICs drop Remote-IRR when an entry turns edge-triggered, and Linux relies
            // on it: with no EOI register (version < 0x20) it clears a stuck Remote-IRR by
            // switching the entry to edge and back to level.
            if entry & Entry.levelTriggered == 0 { entry &= ~Entry.remoteIRR }
            entries[pin] = entry
            output.routeChanged(pin: pin, message: IOAPIC.message(for: entry))
            // An edge that came while the pin was masked is lost, as on the 82093AA; a level line
            // still high is an interrupt still wanted.
            if entry & Entry.levelTriggered != 0, entry & Entry.remoteIRR == 0, assertCounts[pin] > 0 {
                send(pin, output: output)
            }
        }

        mutating func setLine(_ pin: Int, high: Bool, output: any IOAPICOutput) {
            guard high else {
                // An unmatched deassert is a source's bug; clamping keeps it from eating the
                // next source's rising edge.
                assertCounts[pin] = max(assertCounts[pin] - 1, 0)
                return
            }
            assertCounts[pin] += 1
            guard assertCounts[pin] == 1 else { return }
            // A level interrupt awaiting its EOI is not sent again, even on a fresh rising edge.
            if entries[pin] & Entry.levelTriggered != 0, entries[pin] & Entry.remoteIRR != 0 { return }
            send(pin, output: output)
        }

        mutating func endOfInterrupt(_ vector: UInt8, output: any IOAPICOutput) {
            for pin in 0..<IOAPIC.pinCount {
                let entry = entries[pin]
                guard entry & Entry.remoteIRR != 0, entry & Entry.vectorMask == UInt64(vector) else { continue }
                entries[pin] = entry & ~Entry.remoteIRR
                if assertCounts[pin] > 0 { send(pin, output: output) }
            }
        }

        /// Delivers `pin`'s message unless it is masked or its mode is dropped. Remote-IRR is set
        /// only when a level message really went out, since only then will an EOI come back.
        mutating func send(_ pin: Int, output: any IOAPICOutput) {
            guard let message = IOAPIC.message(for: entries[pin]) else { return }
            if message.levelTriggered { entries[pin] |= Entry.remoteIRR }
            output.deliver(message)
        }
    }

    private let state = Mutex(State())
    private let output: any IOAPICOutput

    /// An I/O APIC in its power-on state, delivering to `output`.
    public init(output: any IOAPICOutput) {
        self.output = output
    }

    /// Raises `pin` (0–31) for one more source; an unmasked pin delivers on the line's rising
    /// edge, or for a level-triggered pin whenever Remote-IRR is clear. Other pin numbers are
    /// ignored.
    public func assert(_ pin: Int) {
        guard Self.isPin(pin) else { return }
        state.withLock { $0.setLine(pin, high: true, output: output) }
    }

    /// Withdraws one source's assertion of `pin` (0–31).
    public func deassert(_ pin: Int) {
        guard Self.isPin(pin) else { return }
        state.withLock { $0.setLine(pin, high: false, output: output) }
    }

    /// Asserts and at once deasserts `pin` (0–31), as edge-triggered sources do.
    public func pulse(_ pin: Int) {
        guard Self.isPin(pin) else { return }
        state.withLock { state in
            state.setLine(pin, high: true, output: output)
            state.setLine(pin, high: false, output: output)
        }
    }

    /// A local APIC EOI'd `vector` (KVM_EXIT_IOAPIC_EOI): clears Remote-IRR on pins with that
    /// vector and re-delivers a level pin still asserted.
    public func endOfInterrupt(vector: UInt8) {
        state.withLock { $0.endOfInterrupt(vector, output: output) }
    }

    /// Power-on state: every entry masked with Remote-IRR clear, ID 0, IOREGSEL 0, and every
    /// line low (sources are reset with the machine); reports each pin's route as nil.
    public func reset() {
        state.withLock { state in
            state = State()
            for pin in 0..<Self.pinCount { output.routeChanged(pin: pin, message: nil) }
        }
    }

    /// Reads IOREGSEL or IOWIN; any other offset, or a size other than 4, reads 0.
    public func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        guard size == 4 else { return 0 }
        switch address &- Self.baseAddress {
        case Self.selectOffset: return UInt64(state.withLock { $0.select })
        case Self.windowOffset: return UInt64(state.withLock { $0.read() })
        default: return 0
        }
    }

    /// Writes IOREGSEL or IOWIN; any other offset, or a size other than 4, is ignored.
    public func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        guard size == 4 else { return }
        let value = UInt32(truncatingIfNeeded: value)
        switch address &- Self.baseAddress {
        case Self.selectOffset:
            // IOREGSEL's bits 8–31 are reserved.
            state.withLock { $0.select = UInt8(truncatingIfNeeded: value) }
        case Self.windowOffset:
            state.withLock { $0.write(value, output: output) }
        default:
            break
        }
    }

    private static func isPin(_ pin: Int) -> Bool { pin >= 0 && pin < pinCount }

    /// The pin and bit shift of the redirection entry half that register `index` selects.
    private static func entryHalf(_ index: UInt8) -> (pin: Int, shift: UInt64)? {
        guard index >= firstEntryRegister, Int(index - firstEntryRegister) < 2 * pinCount else { return nil }
        let offset = Int(index - firstEntryRegister)
        return (offset / 2, offset % 2 == 1 ? 32 : 0)
    }

    /// The message an entry sends: nil when masked or for a delivery mode the I/O APIC drops,
    /// as bhyve delivers only Fixed, Lowest Priority and ExtINT.
    private static func message(for entry: UInt64) -> MSIMessage? {
        guard entry & Entry.masked == 0,
              let mode = MSIMessage.DeliveryMode(rawValue: UInt8((entry >> Entry.deliveryModeShift) & 7)),
              [.fixed, .lowestPriority, .extINT].contains(mode) else { return nil }
        return MSIMessage(vector: UInt8(entry & Entry.vectorMask), deliveryMode: mode,
                          levelTriggered: entry & Entry.levelTriggered != 0,
                          destination: UInt8(truncatingIfNeeded: entry >> Entry.destinationShift),
                          logical: entry & Entry.logicalDestination != 0,
                          redirectionHint: mode == .lowestPriority)
    }
}
