import Synchronization

/// The Intel 8254 programmable interval timer at ports 0x40–0x43, with the NMI status and control
/// register ("port B", 0x61) that carries channel 2's gate, the speaker bit and channel 2's output.
///
/// Channel 0 drives 8259 IRQ0 and I/O APIC pin 2; channel 1 (DRAM refresh on a PC) and channel 2
/// (the speaker, which Linux also uses to calibrate the TSC) drive no interrupt. Counts are derived
/// from the clock when read, so a running channel costs nothing between accesses; channel 0 arms
/// one clock timer per terminal count.
///
/// Where bhyve's vatpit simplifies, this model follows the 8254 datasheet: every mode 0–5 and
/// access mode (LSB, MSB, LSB then MSB) is honoured, the gate of channel 2 suspends or triggers it
/// as its mode says, a new count reaches a running mode 2 or 3 channel at the end of its current
/// (half-)cycle, and the status byte reports OUT in every mode. Channels 0 and 1 have their gates
/// tied high, as on a PC, so modes 1 and 5 never start there.
///
/// Simplifications: a count is loaded at once rather than on the next input clock; channel 0
/// interrupts at the terminal count itself (in mode 4 OUT rises one tick later); BCD counting is not
/// modelled (the BCD bit is kept and reported in the status byte, but counting stays binary); and a
/// counter given no count since reset runs down through 16 bits, where the datasheet leaves it
/// undefined and bhyve loads a 100 Hz divisor on the first read.
public final class PIT: PortIODevice {
    /// The three counters (0x40–0x42) and the control word register (0x43).
    public static let ports: ClosedRange<UInt16> = 0x40...0x43
    /// The NMI status and control register ("port B").
    public static let nmiStatusPort: UInt16 = 0x61
    /// The input clock of every channel, in Hz.
    public static let frequency: UInt64 = 1_193_182

    static let controlPort: UInt16 = 0x43
    static let nanosecondsPerSecond: UInt64 = 1_000_000_000
    /// Channel 0 interrupts are at least this far apart (ns), whatever the divisor: without a floor a
    /// guest programming a divisor of 2 would ask the host for 600 000 timer wake-ups a second.
    /// KVM's in-kernel PIT limits periodic timers the same way (200 µs); 100 µs spares every rate a
    /// real guest uses (Linux's HZ=1000 tick is 1 ms).
    static let minimumInterruptInterval: UInt64 = 100_000

    static let gateBit: UInt8 = 1 << 0
    static let speakerBit: UInt8 = 1 << 1
    static let refreshBit: UInt8 = 1 << 4
    static let outputBit: UInt8 = 1 << 5

    private let clock: any Clock
    private let lines: any InterruptLines
    private let state: Mutex<State>

    /// Creates the timer in its power-on state; channel 0's interrupts go to `lines`.
    public init(clock: any Clock, lines: any InterruptLines) {
        self.clock = clock
        self.lines = lines
        state = Mutex(State(now: clock.now))
        let timer = clock.makeTimer { [weak self] in self?.channel0Expired() }
        state.withLock { $0.timer = timer }
    }

    /// Returns to the power-on state: no channel programmed, channel 2's gate and the speaker off,
    /// no interrupt pending.
    public func reset() {
        state.withLock { state in
            state.reset(now: clock.now)
        }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        if port == Self.nmiStatusPort {
            // bhyve answers any width here and zero-extends the byte.
            return UInt32(state.withLock { $0.readNMIStatus(now: clock.now) })
        }
        guard size == 1, port >= Self.ports.lowerBound, port < Self.controlPort else { return 0xFFFF_FFFF }
        let channel = Int(port - Self.ports.lowerBound)
        return UInt32(state.withLock { $0.channels[channel].read(now: clock.now) })
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        if port == Self.nmiStatusPort {
            state.withLock { $0.writeNMIControl(byte, now: clock.now) }
            return
        }
        guard size == 1, Self.ports.contains(port) else { return }
        state.withLock { state in
            let now = clock.now
            if port == Self.controlPort {
                state.writeControl(byte, now: now)
            } else {
                state.channels[Int(port - Self.ports.lowerBound)].write(byte, now: now)
            }
            let reprogramsChannel0 = port == Self.ports.lowerBound
                || (port == Self.controlPort && byte >> 6 == 0 && byte & 0x30 != 0)
            if reprogramsChannel0 { state.rescheduleChannel0(now: now) }
        }
    }

    private func channel0Expired() {
        state.withLock { state in
            let now = clock.now
            // A firing for a deadline that was since moved or cancelled.
            guard let armed = state.armed, now >= armed.deadline else { return }
            state.armed = nil
            state.channels[0].sync(now: now)
            if armed.terminalCount { state.lastInterruptDeadline = armed.deadline }
            state.scheduleChannel0(now: now)
            if armed.terminalCount { lines.isaPulse(0, ioapicPin: 2) }
        }
    }

    /// Input clock ticks in `nanoseconds`, rounded down.
    static func ticks(in nanoseconds: UInt64) -> UInt64 {
        nanosecondsPerSecond.dividingFullWidth(nanoseconds.multipliedFullWidth(by: frequency)).quotient
    }

    /// Nanoseconds until `ticks` input clock ticks have passed, rounded up, saturating.
    static func nanoseconds(forTicks ticks: UInt64) -> UInt64 {
        let product = ticks.multipliedFullWidth(by: nanosecondsPerSecond)
        guard product.high < frequency else { return .max }
        let (quotient, remainder) = frequency.dividingFullWidth(product)
        return remainder == 0 || quotient == .max ? quotient : quotient + 1
    }
}

extension PIT {
    /// The next channel 0 timer deadline, and whether it is a terminal count (an interrupt) or only
    /// the moment a deferred count takes over.
    struct Deadline {
        var deadline: UInt64
        var terminalCount: Bool
    }

    /// A count written to a running mode 2 or 3 channel, waiting for the end of the current cycle
    /// (mode 2) or half-cycle (mode 3).
    struct PendingCount {
        var count: UInt64
        var tick: UInt64
        /// Mode 3 switching at the end of a high half continues with the new count's low half.
        var entersLowHalf: Bool
    }

    enum Access {
        case low, high, word
    }

    /// One counter. Its counting element is described by a segment: `count` loaded at `base`
    /// (ns), `offset` ticks already counted then, and counting onwards while `running`.
    struct Channel {
        /// Bits 5–0 of the last control word: access mode, mode, BCD; the status byte returns them.
        var controlBits: UInt8 = 0x30
        var mode = 0
        var access = Access.word
        var gate: Bool
        /// The last complete count written since the control word, 1–65536.
        var countRegister: UInt64?
        var pendingLowByte: UInt8?
        var readHighNext = false
        var latchedCount: UInt16?
        var latchedHighNext = false
        var latchedStatus: UInt8?
        var nullCount = true
        /// Whether the counting element holds a count written since the control word. When false,
        /// the element just runs down through 16 bits (or stands still) and OUT rests at the
        /// mode's initial level.
        var loaded = false
        var running = true
        var count: UInt64 = 0x10000
        var base: UInt64
        var offset: UInt64 = 0
        var pending: PendingCount?

        init(gate: Bool, now: UInt64) {
            self.gate = gate
            base = now
        }

        func elapsed(at now: UInt64) -> UInt64 {
            guard running, now > base else { return offset }
            return offset &+ PIT.ticks(in: now - base)
        }

        /// When tick `tick` of the current segment happens.
        func time(ofTick tick: UInt64) -> UInt64 {
            guard tick > offset else { return base }
            let (sum, overflow) = base.addingReportingOverflow(PIT.nanoseconds(forTicks: tick - offset))
            return overflow ? .max : sum
        }

        func value(at now: UInt64) -> UInt16 {
            let elapsed = elapsed(at: now)
            guard loaded else { return UInt16(truncatingIfNeeded: count &- elapsed) }
            switch mode {
            case 2:
                return UInt16(truncatingIfNeeded: count - elapsed % count)
            case 3:
                return UInt16(truncatingIfNeeded: squareWaveValue(phase: elapsed % count))
            default:
                return UInt16(truncatingIfNeeded: count &- elapsed)
            }
        }

        /// Mode 3 decrements by two. An even count runs N, N-2, …, 2 in each half. An odd count
        /// runs N, N-1, N-3, …, 2 while high ((N+1)/2 ticks) and N, N-3, …, 2 while low.
        private func squareWaveValue(phase: UInt64) -> UInt64 {
            let high = (count + 1) / 2
            if count % 2 == 0 {
                return count - 2 * (phase < high ? phase : phase - high)
            }
            if phase == 0 || phase == high { return count }
            return phase < high ? count + 1 - 2 * phase : count - 1 - 2 * (phase - high)
        }

        func output(at now: UInt64) -> Bool {
            guard loaded else { return mode != 0 }
            let elapsed = elapsed(at: now)
            switch mode {
            case 0, 1:
                return elapsed >= count
            case 2:
                return !gate || elapsed % count != count - 1
            case 3:
                return !gate || elapsed % count < (count + 1) / 2
            default:
                return elapsed != count
            }
        }

        func status(at now: UInt64) -> UInt8 {
            (output(at: now) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | controlBits
        }

        /// Lets a deferred count take over once its tick has passed.
        mutating func sync(now: UInt64) {
            guard let pending, running, elapsed(at: now) >= pending.tick else { return }
            base = time(ofTick: pending.tick)
            count = pending.count
            offset = pending.entersLowHalf ? (pending.count + 1) / 2 : 0
            self.pending = nil
            nullCount = false
        }

        mutating func load(_ newCount: UInt64, now: UInt64, running: Bool) {
            count = newCount
            base = now
            offset = 0
            loaded = true
            self.running = running
            nullCount = false
            pending = nil
        }

        /// Leaves the count in the element, running down through 16 bits or standing still.
        mutating func unload(now: UInt64, running: Bool) {
            let current = UInt64(value(at: now))
            loaded = false
            pending = nil
            count = 0x10000
            base = now
            offset = (0x10000 - current) % 0x10000
            self.running = running
        }

        mutating func suspend(now: UInt64) {
            offset = elapsed(at: now)
            running = false
        }

        mutating func resume(now: UInt64) {
            base = now
            running = true
        }

        mutating func latchCount(now: UInt64) {
            guard latchedCount == nil else { return }
            latchedCount = value(at: now)
            latchedHighNext = false
        }

        mutating func latchStatus(now: UInt64) {
            guard latchedStatus == nil else { return }
            latchedStatus = status(at: now)
        }

        mutating func program(_ word: UInt8, now: UInt64) {
            sync(now: now)
            controlBits = word & 0x3F
            let modeBits = Int(word >> 1) & 7
            mode = modeBits >= 6 ? modeBits - 4 : modeBits
            switch word & 0x30 {
            case 0x10: access = .low
            case 0x20: access = .high
            default: access = .word
            }
            countRegister = nil
            pendingLowByte = nil
            readHighNext = false
            latchedCount = nil
            latchedStatus = nil
            nullCount = true
            unload(now: now, running: true)
        }

        mutating func read(now: UInt64) -> UInt8 {
            sync(now: now)
            if let status = latchedStatus {
                latchedStatus = nil
                return status
            }
            if let latched = latchedCount {
                let high = access == .high || (access == .word && latchedHighNext)
                if access == .word && !latchedHighNext {
                    latchedHighNext = true
                } else {
                    latchedCount = nil
                }
                return UInt8(truncatingIfNeeded: high ? latched >> 8 : latched)
            }
            // Without a latch the count is read as it runs; a word takes two reads, low byte first.
            let high = access == .high || (access == .word && readHighNext)
            if access == .word { readHighNext.toggle() }
            let current = value(at: now)
            return UInt8(truncatingIfNeeded: high ? current >> 8 : current)
        }

        mutating func write(_ byte: UInt8, now: UInt64) {
            sync(now: now)
            let written: UInt64
            switch access {
            case .low:
                written = UInt64(byte)
            case .high:
                written = UInt64(byte) << 8
            case .word:
                guard let low = pendingLowByte else {
                    pendingLowByte = byte
                    // Datasheet, mode 0: the first byte of a two-byte count stops counting and
                    // drives OUT low at once.
                    if mode == 0 { unload(now: now, running: false) }
                    return
                }
                pendingLowByte = nil
                written = UInt64(low) | UInt64(byte) << 8
            }
            let newCount = written == 0 ? 0x10000 : written
            countRegister = newCount
            nullCount = true
            switch mode {
            case 0, 4:
                load(newCount, now: now, running: gate)
            case 2, 3:
                if loaded {
                    deferCount(newCount, now: now)
                } else {
                    load(newCount, now: now, running: gate)
                }
            default:
                // Modes 1 and 5 load the count on the next rising edge of the gate.
                break
            }
        }

        private mutating func deferCount(_ newCount: UInt64, now: UInt64) {
            let elapsed = elapsed(at: now)
            let cycleStart = elapsed / count * count
            let high = (count + 1) / 2
            if mode == 3 && elapsed - cycleStart < high {
                pending = PendingCount(count: newCount, tick: cycleStart + high, entersLowHalf: true)
            } else {
                pending = PendingCount(count: newCount, tick: cycleStart + count, entersLowHalf: false)
            }
        }

        mutating func setGate(_ level: Bool, now: UInt64) {
            sync(now: now)
            guard level != gate else { return }
            gate = level
            switch (mode, level) {
            case (0, true), (4, true):
                if loaded { resume(now: now) }
            case (_, true):
                // Modes 2 and 3 restart from the count register; modes 1 and 5 are triggered.
                if let countRegister { load(countRegister, now: now, running: true) }
            case (0, false), (2, false), (3, false), (4, false):
                if loaded { suspend(now: now) }
            default:
                break
            }
        }

        /// The next channel 0 deadline no earlier than `earliest`, if any.
        func nextDeadline(now: UInt64, earliest: UInt64) -> Deadline? {
            guard loaded, running else { return nil }
            switch mode {
            case 2, 3:
                let passed = earliest > base ? elapsed(at: earliest - 1) : offset
                let terminal = (passed / count + 1) * count
                if let pending, pending.tick <= terminal {
                    return Deadline(deadline: time(ofTick: pending.tick), terminalCount: pending.tick == terminal)
                }
                return Deadline(deadline: time(ofTick: terminal), terminalCount: true)
            default:
                guard elapsed(at: now) < count else { return nil }
                return Deadline(deadline: max(time(ofTick: count), earliest), terminalCount: true)
            }
        }
    }

    struct State {
        var channels: [Channel]
        var speaker = false
        var refreshToggle = false
        var timer: (any ClockTimer)?
        var armed: Deadline?
        var lastInterruptDeadline: UInt64?

        init(now: UInt64) {
            channels = (0..<3).map { Channel(gate: $0 != 2, now: now) }
        }

        mutating func reset(now: UInt64) {
            channels = (0..<3).map { Channel(gate: $0 != 2, now: now) }
            speaker = false
            refreshToggle = false
            armed = nil
            lastInterruptDeadline = nil
            timer?.cancel()
        }

        mutating func writeControl(_ word: UInt8, now: UInt64) {
            let select = Int(word >> 6)
            guard select < 3 else {
                readBack(word, now: now)
                return
            }
            if word & 0x30 == 0 {
                channels[select].sync(now: now)
                channels[select].latchCount(now: now)
            } else {
                channels[select].program(word, now: now)
            }
        }

        /// Read-back command: bits 1–3 select channels; bit 5 clear latches their counts, bit 4
        /// clear their status.
        private mutating func readBack(_ word: UInt8, now: UInt64) {
            for index in channels.indices where word & (2 << index) != 0 {
                channels[index].sync(now: now)
                if word & 0x20 == 0 { channels[index].latchCount(now: now) }
                if word & 0x10 == 0 { channels[index].latchStatus(now: now) }
            }
        }

        mutating func readNMIStatus(now: UInt64) -> UInt8 {
            channels[2].sync(now: now)
            // Real boards toggle bit 4 every 15 µs with DRAM refresh; flipping it on each read keeps
            // delay loops that wait for a toggle moving.
            refreshToggle.toggle()
            var value: UInt8 = 0
            if channels[2].gate { value |= PIT.gateBit }
            if speaker { value |= PIT.speakerBit }
            if refreshToggle { value |= PIT.refreshBit }
            if channels[2].output(at: now) { value |= PIT.outputBit }
            return value
        }

        mutating func writeNMIControl(_ byte: UInt8, now: UInt64) {
            speaker = byte & PIT.speakerBit != 0
            channels[2].setGate(byte & PIT.gateBit != 0, now: now)
        }

        /// Re-arms channel 0's timer after the guest reprogrammed it. A terminal count already due
        /// happened before the reprogramming, so its firing is left to deliver it and re-arm.
        mutating func rescheduleChannel0(now: UInt64) {
            if let armed, armed.deadline <= now, armed.terminalCount { return }
            scheduleChannel0(now: now)
        }

        /// Arms channel 0's timer for its next deadline, or disarms it.
        mutating func scheduleChannel0(now: UInt64) {
            var earliest = now
            if let last = lastInterruptDeadline {
                let (floor, overflow) = last.addingReportingOverflow(PIT.minimumInterruptInterval)
                earliest = max(earliest, overflow ? .max : floor)
            }
            let next = channels[0].nextDeadline(now: now, earliest: earliest)
            armed = next
            if let next {
                timer?.arm(at: next.deadline)
            } else {
                timer?.cancel()
            }
        }
    }
}
