import Synchronization

/// A trigger-mode request the ``ATPIC`` refuses.
public struct ATPICError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
}

/// The PC's two cascaded 8259A interrupt controllers with the chipset's edge/level control
/// registers (ELCR), as bhyve's `vatpic`: master at 0x20/0x21, slave at 0xA0/0xA1 cascaded on
/// master pin 2, ELCR at 0x4D0/0x4D1.
///
/// The master's INTR output is a level: high exactly while the master has an unmasked request of
/// higher priority than anything in service. Master pin 2 follows the slave's INT as a level
/// (bhyve pulses it). Where bhyve simplifies, the 8259A datasheet is followed: an edge-triggered
/// request is consumed by its acknowledge even if the line stays high, the rotate-in-auto-EOI flag changes only by its own OCW2 commands, poll mode does not need the
/// read-register bit, special fully nested mode still blocks the master's lower pins, and the
/// spurious vector does not set an in-service bit. ICW1 also clears the in-service register, so
/// that a guest re-initialising the controllers does not inherit levels never ended. ICW1 single
/// mode, a missing ICW4 and 8080 mode, which bhyve refuses, are accepted: the ICW sequence follows
/// them, the cascade stays wired and vectors stay 8086-style.
///
/// Only byte accesses reach the registers; others read all-ones and are ignored on write.
public final class ATPIC: PortIODevice {
    /// Master command (0x20) and data (0x21) ports.
    public static let masterPorts: ClosedRange<UInt16> = 0x20...0x21
    /// Slave command (0xA0) and data (0xA1) ports.
    public static let slavePorts: ClosedRange<UInt16> = 0xA0...0xA1
    /// ELCR of the master (0x4D0, IRQ 0–7) and of the slave (0x4D1, IRQ 8–15).
    public static let elcrPorts: ClosedRange<UInt16> = 0x4D0...0x4D1

    /// ELCR bits that may be set: the timer, keyboard and cascade (IRQ 0–2) and the RTC and FPU
    /// error (IRQ 8 and 13) are wired edge-triggered on the board.
    static let masterLevelCapable: UInt8 = 0xF8
    static let slaveLevelCapable: UInt8 = 0xDE

    /// The master pin the slave's INT output drives.
    static let cascadePin = 2

    private let output: @Sendable (Bool) -> Void
    private let registers: Mutex<State>

    /// `output` is called (no lock held) whenever the master's INTR output changes level.
    ///
    /// Calls are serialised and in order of the changes; a change made on one thread may be
    /// reported by another thread that is reporting at the time. `output` may call back into the
    /// controller.
    public init(output: @escaping @Sendable (Bool) -> Void) {
        self.output = output
        registers = Mutex(State())
    }

    /// Asserts IRQ `irq` (0–15) for one more source; the line is high while any source asserts it.
    public func assert(_ irq: Int) {
        precondition((0..<16).contains(irq), "8259A IRQ \(irq) out of range")
        update { $0.changeLine(irq, asserted: true) }
    }

    /// Withdraws one source's assertion of IRQ `irq` (0–15). A deassert with no source asserting is
    /// ignored.
    public func deassert(_ irq: Int) {
        precondition((0..<16).contains(irq), "8259A IRQ \(irq) out of range")
        update { $0.changeLine(irq, asserted: false) }
    }

    /// Asserts and at once deasserts IRQ `irq` (0–15): one edge for an edge-triggered pin.
    public func pulse(_ irq: Int) {
        precondition((0..<16).contains(irq), "8259A IRQ \(irq) out of range")
        update { state in
            state.changeLine(irq, asserted: true)
            state.settle()
            state.changeLine(irq, asserted: false)
        }
    }

    /// Sets IRQ `irq`'s ELCR bit, as bhyve's `VM_ISA_SET_IRQ_TRIGGER`. Refuses IRQs outside 0–15 and
    /// level mode for IRQ 0, 1, 2, 8 and 13. The setting is also what ``reset()`` restores, as
    /// firmware would program the ELCR at power-on; the guest may change it through 0x4D0/0x4D1.
    public func setTriggerMode(_ irq: Int, level: Bool) throws(ATPICError) {
        guard (0..<16).contains(irq) else { throw ATPICError(description: "8259A IRQ \(irq) out of range") }
        let bit: UInt8 = 1 << (irq & 7)
        let capable = irq < 8 ? Self.masterLevelCapable : Self.slaveLevelCapable
        guard !level || capable & bit != 0 else {
            throw ATPICError(description: "8259A IRQ \(irq) must be edge-triggered")
        }
        update { state in
            if irq < 8 {
                state.configuredMasterELCR = level ? state.configuredMasterELCR | bit : state.configuredMasterELCR & ~bit
                state.master.setELCR(level ? state.master.elcr | bit : state.master.elcr & ~bit)
            } else {
                state.configuredSlaveELCR = level ? state.configuredSlaveELCR | bit : state.configuredSlaveELCR & ~bit
                state.slave.setELCR(level ? state.slave.elcr | bit : state.slave.elcr & ~bit)
            }
        }
    }

    /// The INTA cycle: returns the vector the CPU receives and moves the request from IRR to ISR
    /// (unless in auto-EOI mode); for a slave request, master pin 2 is acknowledged too. When
    /// master pin 2 requests with no slave request behind it (a source on IRQ 2 itself), the
    /// slave's spurious vector (slave base + 7) comes back and only master pin 2 is acknowledged.
    /// nil when the output is low: because the output and this cycle are evaluated under one lock,
    /// a request that vanishes (masked, or a level line falling) lowers the output rather than
    /// producing a spurious vector later.
    ///
    /// The output can stay high afterwards, when another request is ready; no call of `output`
    /// marks that, so a caller checks ``outputAsserted`` again.
    public func acknowledge() -> UInt8? {
        update { $0.acknowledge() }
    }

    /// The master's INTR output now.
    public var outputAsserted: Bool {
        registers.withLock { $0.output }
    }

    /// Power-on state: both controllers uninitialised (output low until the guest sends the ICWs),
    /// ELCR as last set by ``setTriggerMode(_:level:)``. Line levels are kept: the devices driving
    /// them are not part of the controller.
    public func reset() {
        update { $0.powerOn() }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        guard size == 1 else { return Self.unclaimed(size) }
        switch port {
        case Self.masterPorts, Self.slavePorts:
            return UInt32(update { $0.read(slave: port >= Self.slavePorts.lowerBound, data: port & 1 != 0) })
        case Self.elcrPorts.lowerBound:
            return UInt32(registers.withLock { $0.master.elcr })
        case Self.elcrPorts.upperBound:
            return UInt32(registers.withLock { $0.slave.elcr })
        default:
            return Self.unclaimed(size)
        }
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        guard size == 1 else { return }
        let byte = UInt8(truncatingIfNeeded: value)
        switch port {
        case Self.masterPorts:
            update { $0.master.write(byte, data: port & 1 != 0) }
        case Self.slavePorts:
            update { $0.slave.write(byte, data: port & 1 != 0) }
        case Self.elcrPorts.lowerBound:
            update { $0.master.setELCR(byte & Self.masterLevelCapable) }
        case Self.elcrPorts.upperBound:
            update { $0.slave.setELCR(byte & Self.slaveLevelCapable) }
        default:
            break
        }
    }

    /// The registers as they are, for invariant checks in tests.
    var snapshot: State {
        registers.withLock { $0 }
    }

    private static func unclaimed(_ size: Int) -> UInt32 {
        (1...3).contains(size) ? UInt32.max >> (32 - 8 * size) : .max
    }

    /// Runs `body` on the registers, lets the cascade and the output follow, then reports output
    /// changes with the lock released.
    private func update<Result: Sendable>(_ body: (inout State) -> Result) -> Result {
        let (result, reports) = registers.withLock { state in
            let result = body(&state)
            state.settle()
            return (result, state.claimReporting())
        }
        if reports { reportOutput() }
        return result
    }

    private func reportOutput() {
        while let level = registers.withLock({ $0.nextReport() }) {
            output(level)
        }
    }
}

extension ATPIC {
    /// One 8259A.
    struct Chip {
        let isMaster: Bool
        /// Initialised: the ICW sequence has completed.
        var ready = false
        /// The ICW the data port expects next (2–4), or 0 when it takes OCW1.
        var nextICW = 0
        var expectsICW3 = false
        var expectsICW4 = false
        var vectorBase: UInt8 = 0
        var irr: UInt8
        var isr: UInt8 = 0
        var imr: UInt8 = 0
        /// Input pin levels as last seen, for edge detection.
        var inputs: UInt8
        var elcr: UInt8
        var lowestPriority = 7
        var readsISR = false
        var pollPending = false
        var autoEOI = false
        var rotatesOnAutoEOI = false
        var specialMask = false
        var specialFullyNested = false

        /// The state after power-on or ICW1: the edge latches are cleared, so an edge-triggered
        /// input that is already high has to fall and rise again to request.
        init(isMaster: Bool, elcr: UInt8, inputs: UInt8) {
            self.isMaster = isMaster
            self.elcr = elcr
            self.inputs = inputs
            irr = elcr & inputs
        }

        /// The pin the priority resolver would acknowledge now.
        func highestRequest() -> Int? {
            guard ready else { return nil }
            for step in 1...8 {
                let pin = (lowestPriority + step) & 7
                let bit: UInt8 = 1 << pin
                let inService = !specialMask && isr & bit != 0
                // In special fully nested mode a slave in service must still reach the master
                // with its higher-priority requests, so pin 2 does not block itself.
                if inService && !(specialFullyNested && pin == ATPIC.cascadePin) { return nil }
                if irr & ~imr & bit != 0 { return pin }
                if inService { return nil }
            }
            return nil
        }

        /// The pin a non-specific EOI clears: the highest in service, skipping in special mask mode
        /// those that are masked.
        func highestInService() -> Int? {
            for step in 1...8 {
                let pin = (lowestPriority + step) & 7
                let bit: UInt8 = 1 << pin
                if isr & bit != 0 && !(specialMask && imr & bit != 0) { return pin }
            }
            return nil
        }

        mutating func drive(_ pin: Int, high: Bool) {
            let bit: UInt8 = 1 << pin
            let wasHigh = inputs & bit != 0
            inputs = high ? inputs | bit : inputs & ~bit
            if elcr & bit != 0 {
                irr = (irr & ~bit) | (inputs & bit)
            } else if high && !wasHigh {
                irr |= bit
            }
        }

        mutating func setELCR(_ value: UInt8) {
            elcr = value
            irr = (irr & ~elcr) | (inputs & elcr)
        }

        /// Acknowledges `pin`: an edge request is consumed, a level request stays while its line is high.
        mutating func accept(_ pin: Int) {
            let bit: UInt8 = 1 << pin
            irr = (irr & ~bit) | (inputs & elcr & bit)
            if !autoEOI {
                isr |= bit
            } else if rotatesOnAutoEOI {
                lowestPriority = pin
            }
        }

        mutating func write(_ value: UInt8, data: Bool) {
            if data {
                writeData(value)
            } else if value & 0x10 != 0 {
                self = Chip(isMaster: isMaster, elcr: elcr, inputs: inputs)
                nextICW = 2
                expectsICW3 = value & 0x02 == 0
                expectsICW4 = value & 0x01 != 0
            } else if ready {
                if value & 0x08 != 0 { writeOCW3(value) } else { writeOCW2(value) }
            }
        }

        private mutating func writeData(_ value: UInt8) {
            switch nextICW {
            case 2:
                vectorBase = value & 0xF8
                nextICW = expectsICW3 ? 3 : expectsICW4 ? 4 : 0
            case 3:
                nextICW = expectsICW4 ? 4 : 0
            case 4:
                autoEOI = value & 0x02 != 0
                specialFullyNested = isMaster && value & 0x10 != 0
                nextICW = 0
            default:
                imr = value
                return
            }
            if nextICW == 0 { ready = true }
        }

        private mutating func writeOCW2(_ value: UInt8) {
            let pin = Int(value & 7)
            switch value >> 5 {
            case 0b001: endOfInterrupt(highestInService(), rotate: false)
            case 0b011: endOfInterrupt(pin, rotate: false)
            case 0b101: endOfInterrupt(highestInService(), rotate: true)
            case 0b111: endOfInterrupt(pin, rotate: true)
            case 0b100: rotatesOnAutoEOI = true
            case 0b000: rotatesOnAutoEOI = false
            case 0b110: lowestPriority = pin
            default: break
            }
        }

        private mutating func endOfInterrupt(_ pin: Int?, rotate: Bool) {
            guard let pin else { return }
            isr &= ~(1 << pin)
            if rotate { lowestPriority = pin }
        }

        private mutating func writeOCW3(_ value: UInt8) {
            if value & 0x40 != 0 { specialMask = value & 0x20 != 0 }
            if value & 0x02 != 0 { readsISR = value & 0x01 != 0 }
            pollPending = value & 0x04 != 0
        }
    }

    struct State {
        var master = Chip(isMaster: true, elcr: 0, inputs: 0)
        var slave = Chip(isMaster: false, elcr: 0, inputs: 0)
        /// Sources asserting each IRQ line.
        var lineCounts = [Int](repeating: 0, count: 16)
        var configuredMasterELCR: UInt8 = 0
        var configuredSlaveELCR: UInt8 = 0
        var output = false
        var unreported: [Bool] = []
        var reporting = false

        mutating func powerOn() {
            master = Chip(isMaster: true, elcr: configuredMasterELCR, inputs: lineBits(0))
            slave = Chip(isMaster: false, elcr: configuredSlaveELCR, inputs: lineBits(8))
        }

        private func lineBits(_ first: Int) -> UInt8 {
            (0..<8).reduce(0) { bits, pin in lineCounts[first + pin] > 0 ? bits | 1 << pin : bits }
        }

        mutating func changeLine(_ irq: Int, asserted: Bool) {
            lineCounts[irq] = asserted ? lineCounts[irq] + 1 : max(lineCounts[irq] - 1, 0)
            let high = lineCounts[irq] > 0
            if irq >= 8 {
                slave.drive(irq - 8, high: high)
            } else if irq != ATPIC.cascadePin {
                master.drive(irq, high: high)
            }
        }

        /// Lets master pin 2 follow the slave's INT (wired-OR with any source on IRQ 2) and the
        /// output follow the master.
        mutating func settle() {
            let cascadeHigh = slave.highestRequest() != nil || lineCounts[ATPIC.cascadePin] > 0
            master.drive(ATPIC.cascadePin, high: cascadeHigh)
            // An 8259A input has to stay high until acknowledged. The slave's INT is a true level,
            // unlike the pulses devices give, so a request that leaves the slave leaves pin 2 too.
            if !cascadeHigh { master.irr &= ~(1 << ATPIC.cascadePin) }
            let level = master.highestRequest() != nil
            if level != output {
                output = level
                unreported.append(level)
            }
        }

        /// The slave's INT falls while it is acknowledged, so a further slave request rises again
        /// on master pin 2 and is not lost to its edge trigger.
        private mutating func slaveAcknowledged() {
            master.drive(ATPIC.cascadePin, high: lineCounts[ATPIC.cascadePin] > 0)
        }

        mutating func acknowledge() -> UInt8? {
            guard output, let pin = master.highestRequest() else { return nil }
            master.accept(pin)
            guard pin == ATPIC.cascadePin else { return master.vectorBase | UInt8(pin) }
            guard let slavePin = slave.highestRequest() else { return slave.vectorBase | 7 }
            slave.accept(slavePin)
            slaveAcknowledged()
            return slave.vectorBase | UInt8(slavePin)
        }

        mutating func read(slave isSlave: Bool, data: Bool) -> UInt8 {
            let chip = isSlave ? slave : master
            if chip.pollPending { return poll(slave: isSlave) }
            if data { return chip.imr }
            return chip.readsISR ? chip.isr : chip.irr
        }

        /// A read in poll mode is the chip's own acknowledge: 0x80 | pin, or 0 with nothing pending.
        private mutating func poll(slave isSlave: Bool) -> UInt8 {
            if isSlave {
                slave.pollPending = false
                guard let pin = slave.highestRequest() else { return 0 }
                slave.accept(pin)
                slaveAcknowledged()
                return 0x80 | UInt8(pin)
            }
            master.pollPending = false
            guard let pin = master.highestRequest() else { return 0 }
            master.accept(pin)
            return 0x80 | UInt8(pin)
        }

        /// Takes on reporting the unreported output changes unless another thread already does.
        mutating func claimReporting() -> Bool {
            guard !reporting, !unreported.isEmpty else { return false }
            reporting = true
            return true
        }

        mutating func nextReport() -> Bool? {
            guard !unreported.isEmpty else {
                reporting = false
                return nil
            }
            return unreported.removeFirst()
        }
    }
}
