import Synchronization
import VMM

/// The 16550A UART behind bhyve's LPC COM ports (`usr.sbin/bhyve/uart_emul.c`): eight byte-wide
/// registers from `base`, a 16-byte receive FIFO, and an edge-triggered ISA interrupt.
///
/// What the guest writes to THR goes straight to the ``UARTBackend`` (the transmitter is always
/// empty, so LSR always shows THRE and TEMT); what the host sends arrives through ``receive(_:)``.
/// Reception is flow-controlled as in bhyve: bytes that do not fit in the FIFO stay with the
/// back end, which stops reading until ``UARTBackend/resumeInput()`` says there is room again, so
/// host input is never lost to an overrun. Overruns (LSR OE, and the byte dropped) happen only in
/// loopback mode, where THR feeds the FIFO directly.
///
/// Interrupts, by priority as in IIR: receiver line status (an overrun, with ELSI), received data
/// or character timeout (ERBFI), THR empty (ETBEI), modem status (EDSSI). The interrupt line is
/// high while any enabled source is pending and each rising edge is delivered as
/// `isaPulse(irq, ioapicPin: irq)`. bhyve pulses after every register access while a source is
/// pending; Hyve pulses only when the condition arises, as the pin of a real 16550 would edge an
/// edge-triggered 8259A or I/O APIC input. Writing THR clears and re-raises the THR-empty
/// condition (the byte leaves at once), so each THR write with ETBEI set is a new edge unless a
/// higher source holds the line. As in bhyve, MCR OUT2 does not gate the interrupt.
///
/// Where bhyve simplifies and the datasheet differs, Hyve follows the datasheet:
/// - Received data is reported as IIR 0x04 when the FIFO holds at least the FCR trigger level
///   (1, 4, 8 or 14; any byte in 16450 mode) and as the character timeout 0x0C when it holds
///   fewer; bhyve always reports 0x0C. The timeout is indicated as soon as data sits below the
///   trigger level: back ends deliver host input in bursts, with no line timing to wait four
///   character times for.
/// - Reading RBR with nothing received returns the last byte received (bhyve returns 0xFF).
///
/// Modem inputs are as bhyve has them: DCD and DSR asserted (CTS and RI not) outside loopback; in
/// loopback RTS, DTR, OUT1 and OUT2 drive CTS, DSR, RI and DCD, with delta bits on change. No back
/// end carries parity, framing or break conditions, so LSR PE, FE, BI and the FIFO error bit read
/// zero. Divisor latches are storage only; they reset to 1 (115200 baud, bhyve's default).
///
/// Accesses of 2 or 4 bytes are split into byte accesses on consecutive registers, as bhyve's LPC
/// handler does for 2 (bhyve refuses 4); bytes past the eighth register read 0xFF and are ignored
/// on write.
public final class UART16550: PortIODevice {
    /// bhyve's four LPC COM ports: name, base port and ISA IRQ.
    public static let com: [(name: String, port: UInt16, irq: Int)] = [
        ("com1", 0x3F8, 4), ("com2", 0x2F8, 3), ("com3", 0x3E8, 4), ("com4", 0x2E8, 3),
    ]
    /// Ports a UART occupies from its base.
    public static let portCount = 8
    /// Capacity of the receive FIFO once FCR enables it; in 16450 mode it holds one byte.
    public static let fifoSize = 16

    // Register offsets. With LCR DLAB set, offsets 0 and 1 are the divisor latches instead.
    static let dataOffset = 0
    static let interruptEnableOffset = 1
    static let interruptIdentOffset = 2
    static let lineControlOffset = 3
    static let modemControlOffset = 4
    static let lineStatusOffset = 5
    static let modemStatusOffset = 6
    static let scratchOffset = 7

    static let enableReceivedData: UInt8 = 0x01
    static let enableTransmitterEmpty: UInt8 = 0x02
    static let enableLineStatus: UInt8 = 0x04
    static let enableModemStatus: UInt8 = 0x08
    static let interruptEnableMask: UInt8 = 0x0F

    /// IIR bits 6–7 when the FIFOs are enabled.
    static let fifosEnabledIdent: UInt8 = 0xC0

    static let fifoEnable: UInt8 = 0x01
    static let fifoReceiveReset: UInt8 = 0x02
    static let fifoDMAMode: UInt8 = 0x08
    static let fifoTriggerMask: UInt8 = 0xC0
    static let triggerLevels = [1, 4, 8, 14]

    static let divisorLatchAccess: UInt8 = 0x80

    static let dataTerminalReady: UInt8 = 0x01
    static let requestToSend: UInt8 = 0x02
    static let out1: UInt8 = 0x04
    static let out2: UInt8 = 0x08
    static let loopback: UInt8 = 0x10
    static let modemControlMask: UInt8 = 0x1F

    static let dataReady: UInt8 = 0x01
    static let overrunError: UInt8 = 0x02
    static let transmitterHoldingEmpty: UInt8 = 0x20
    static let transmitterEmpty: UInt8 = 0x40

    static let deltaClearToSend: UInt8 = 0x01
    static let deltaDataSetReady: UInt8 = 0x02
    static let trailingEdgeRing: UInt8 = 0x04
    static let deltaCarrierDetect: UInt8 = 0x08
    static let modemDeltaMask: UInt8 = 0x0F
    static let clearToSend: UInt8 = 0x10
    static let dataSetReady: UInt8 = 0x20
    static let ringIndicator: UInt8 = 0x40
    static let carrierDetect: UInt8 = 0x80

    /// 1.8432 MHz / 16 / 115200, the divisor bhyve resets to.
    static let resetDivisor: UInt8 = 1

    /// The interrupt sources as IIR bits 0–3, highest priority first.
    enum Interrupt: UInt8 {
        case lineStatus = 0x06
        case receivedData = 0x04
        case characterTimeout = 0x0C
        case transmitterEmpty = 0x02
        case modemStatus = 0x00
        case none = 0x01
    }

    struct State {
        var interruptEnable: UInt8 = 0
        var lineControl: UInt8 = 0
        var modemControl: UInt8 = 0
        var modemStatus: UInt8 = UART16550.modemInputs(modemControl: 0)
        var fifoControl: UInt8 = 0
        var scratch: UInt8 = 0
        var divisorLow: UInt8 = UART16550.resetDivisor
        var divisorHigh: UInt8 = 0
        var overrun = false
        var transmitterEmptyPending = false
        var received: [UInt8] = []
        var receiveCapacity = 1
        var lastReceived: UInt8 = 0
        var lineHigh = false
        /// The back end holds bytes that did not fit and waits for ``UARTBackend/resumeInput()``.
        var inputBlocked = false

        var fifosEnabled: Bool { fifoControl & UART16550.fifoEnable != 0 }
        var inLoopback: Bool { modemControl & UART16550.loopback != 0 }
        var triggerLevel: Int { UART16550.triggerLevels[Int(fifoControl >> 6)] }

        mutating func resetReceiver(capacity: Int) {
            received.removeAll(keepingCapacity: true)
            receiveCapacity = capacity
        }
    }

    /// The first of the UART's eight ports.
    public let base: UInt16
    /// The ISA IRQ, and I/O APIC pin, the UART pulses.
    public let irq: Int
    private let lines: any InterruptLines
    private let backend: (any UARTBackend)?
    private let state = Mutex(State())

    /// A UART at ports `base`…`base + 7` raising ISA IRQ `irq` (and the same I/O APIC pin) on
    /// `lines`. Without a `backend` the guest's output is dropped and nothing is received, as a
    /// bhyve COM port with no path.
    public init(base: UInt16, irq: Int, lines: any InterruptLines, backend: (any UARTBackend)?) {
        self.base = base
        self.irq = irq
        self.lines = lines
        self.backend = backend
    }

    /// Claims the UART's ports on `vm` under `name`, starts the back end on the VM's event loop
    /// and resets the UART with the VM. The back end stays connected across resets.
    public func attach(to vm: VirtualMachine, name: String) throws {
        try vm.ports.register(self, ports: base, count: Self.portCount, label: name)
        try start(loop: vm.eventLoop)
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    /// Starts the back end delivering host input on `loop`.
    public func start(loop: EventLoop) throws {
        try backend?.start(loop: loop) { [weak self] bytes in self?.receive(bytes) ?? bytes.count }
    }

    /// Host → guest bytes; back ends call it on the event-loop thread. Returns how many bytes
    /// were taken: the caller keeps the rest and offers them again after
    /// ``UARTBackend/resumeInput()``. In loopback the receiver is disconnected from the line, so
    /// everything is taken and discarded.
    @discardableResult
    public func receive(_ bytes: [UInt8]) -> Int {
        access { state in
            guard !state.inLoopback else { return bytes.count }
            let taken = min(bytes.count, state.receiveCapacity - state.received.count)
            state.received.append(contentsOf: bytes.prefix(taken))
            if taken < bytes.count { state.inputBlocked = true }
            updateLine(&state)
            return taken
        }
    }

    /// Power-on state: registers at their reset values, the FIFO empty and in 16450 mode, no
    /// interrupt pending.
    public func reset() {
        access { state in
            let blocked = state.inputBlocked
            state = State()
            state.inputBlocked = blocked
        }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        let first = Int(port) - Int(base)
        return access { state in
            var value: UInt32 = 0
            for lane in 0..<min(size, 4) {
                value |= UInt32(read(first + lane, &state)) << (8 * UInt32(lane))
            }
            return value
        }
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        let first = Int(port) - Int(base)
        let sent = access { state -> [UInt8] in
            var sent: [UInt8] = []
            for lane in 0..<min(size, 4) {
                let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt32(lane)))
                if let out = write(first + lane, byte, &state) { sent.append(out) }
            }
            return sent
        }
        if !sent.isEmpty { backend?.write(sent) }
    }

    /// Runs `body` under the lock, then tells the back end when room has appeared for input it
    /// is holding back. The back end is called with the lock released.
    private func access<Result>(_ body: (inout State) -> Result) -> Result {
        let (result, wake) = state.withLock { state in
            let result = body(&state)
            let room = state.inLoopback || state.received.count < state.receiveCapacity
            let wake = state.inputBlocked && room
            if wake { state.inputBlocked = false }
            return (result, wake)
        }
        if wake { backend?.resumeInput() }
        return result
    }

    private func read(_ offset: Int, _ state: inout State) -> UInt8 {
        defer { updateLine(&state) }
        if state.lineControl & Self.divisorLatchAccess != 0 {
            if offset == Self.dataOffset { return state.divisorLow }
            if offset == Self.interruptEnableOffset { return state.divisorHigh }
        }
        switch offset {
        case Self.dataOffset:
            if !state.received.isEmpty { state.lastReceived = state.received.removeFirst() }
            return state.lastReceived
        case Self.interruptEnableOffset:
            return state.interruptEnable
        case Self.interruptIdentOffset:
            let pending = Self.pendingInterrupt(state)
            // Reading IIR acknowledges a THR-empty interrupt, and only when it is the one shown.
            if pending == .transmitterEmpty { state.transmitterEmptyPending = false }
            return (state.fifosEnabled ? Self.fifosEnabledIdent : 0) | pending.rawValue
        case Self.lineControlOffset:
            return state.lineControl
        case Self.modemControlOffset:
            return state.modemControl
        case Self.lineStatusOffset:
            var status = Self.transmitterHoldingEmpty | Self.transmitterEmpty
            if !state.received.isEmpty { status |= Self.dataReady }
            if state.overrun { status |= Self.overrunError }
            state.overrun = false
            return status
        case Self.modemStatusOffset:
            defer { state.modemStatus &= ~Self.modemDeltaMask }
            return state.modemStatus
        case Self.scratchOffset:
            return state.scratch
        default:
            return 0xFF
        }
    }

    /// Performs a register write; returns the byte to transmit when it was a THR write outside
    /// loopback.
    private func write(_ offset: Int, _ value: UInt8, _ state: inout State) -> UInt8? {
        defer { updateLine(&state) }
        if state.lineControl & Self.divisorLatchAccess != 0 {
            if offset == Self.dataOffset {
                state.divisorLow = value
                return nil
            }
            if offset == Self.interruptEnableOffset {
                state.divisorHigh = value
                return nil
            }
        }
        switch offset {
        case Self.dataOffset:
            // THR is emptied the moment it is written: the THR-empty condition drops and rises
            // again, which is a fresh edge if nothing else holds the line.
            state.transmitterEmptyPending = false
            updateLine(&state)
            state.transmitterEmptyPending = true
            guard state.inLoopback else { return value }
            if state.received.count < state.receiveCapacity {
                state.received.append(value)
            } else {
                state.overrun = true
            }
        case Self.interruptEnableOffset:
            // THRE always holds, so enabling its interrupt raises it at once.
            if state.interruptEnable & Self.enableTransmitterEmpty == 0 && value & Self.enableTransmitterEmpty != 0 {
                state.transmitterEmptyPending = true
            }
            state.interruptEnable = value & Self.interruptEnableMask
        case Self.interruptIdentOffset:
            writeFIFOControl(value, &state)
        case Self.lineControlOffset:
            state.lineControl = value
        case Self.modemControlOffset:
            writeModemControl(value, &state)
        case Self.scratchOffset:
            state.scratch = value
        default:
            // LSR and MSR are read-only.
            break
        }
        return nil
    }

    private func writeFIFOControl(_ value: UInt8, _ state: inout State) {
        let enable = value & Self.fifoEnable != 0
        if enable != state.fifosEnabled {
            state.resetReceiver(capacity: enable ? Self.fifoSize : 1)
        }
        // The other FCR bits take effect only together with FIFO enable.
        guard enable else {
            state.fifoControl = 0
            return
        }
        if value & Self.fifoReceiveReset != 0 { state.resetReceiver(capacity: Self.fifoSize) }
        state.fifoControl = value & (Self.fifoEnable | Self.fifoDMAMode | Self.fifoTriggerMask)
    }

    private func writeModemControl(_ value: UInt8, _ state: inout State) {
        state.modemControl = value & Self.modemControlMask
        let old = state.modemStatus
        let new = Self.modemInputs(modemControl: state.modemControl)
        var deltas = old & Self.modemDeltaMask
        if (old ^ new) & Self.clearToSend != 0 { deltas |= Self.deltaClearToSend }
        if (old ^ new) & Self.dataSetReady != 0 { deltas |= Self.deltaDataSetReady }
        if (old ^ new) & Self.carrierDetect != 0 { deltas |= Self.deltaCarrierDetect }
        if old & Self.ringIndicator != 0 && new & Self.ringIndicator == 0 { deltas |= Self.trailingEdgeRing }
        state.modemStatus = new | deltas
    }

    /// The MSR input bits (4–7) for modem control `mcr`.
    static func modemInputs(modemControl mcr: UInt8) -> UInt8 {
        // Outside loopback bhyve asserts DCD and DSR, so that opening the tty never waits for carrier.
        guard mcr & loopback != 0 else { return carrierDetect | dataSetReady }
        var inputs: UInt8 = 0
        if mcr & requestToSend != 0 { inputs |= clearToSend }
        if mcr & dataTerminalReady != 0 { inputs |= dataSetReady }
        if mcr & out1 != 0 { inputs |= ringIndicator }
        if mcr & out2 != 0 { inputs |= carrierDetect }
        return inputs
    }

    static func pendingInterrupt(_ state: State) -> Interrupt {
        let enabled = state.interruptEnable
        if state.overrun && enabled & enableLineStatus != 0 { return .lineStatus }
        if !state.received.isEmpty && enabled & enableReceivedData != 0 {
            return state.fifosEnabled && state.received.count < state.triggerLevel ? .characterTimeout : .receivedData
        }
        if state.transmitterEmptyPending && enabled & enableTransmitterEmpty != 0 { return .transmitterEmpty }
        if state.modemStatus & modemDeltaMask != 0 && enabled & enableModemStatus != 0 { return .modemStatus }
        return .none
    }

    /// Follows the interrupt condition and pulses the IRQ on each rising edge.
    private func updateLine(_ state: inout State) {
        let high = Self.pendingInterrupt(state) != .none
        if high && !state.lineHigh { lines.isaPulse(irq, ioapicPin: irq) }
        state.lineHigh = high
    }

    /// Bytes waiting in the receive FIFO.
    var receivedCount: Int { state.withLock { $0.received.count } }

    /// Whether an enabled interrupt source is pending (the interrupt line is high).
    var interruptPending: Bool { state.withLock { $0.lineHigh } }
}
