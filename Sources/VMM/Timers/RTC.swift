import Synchronization

/// The MC146818 real-time clock and its 128 bytes of CMOS RAM, behind index port 0x70 and data
/// port 0x71: bhyve's `vrtc`, with the datasheet's behaviour where `vrtc` simplifies.
///
/// The clock counts whole seconds since the Unix epoch and derives the calendar registers from
/// them. Its 32.768 kHz divider chain, running while register A's divider field is 0x20, sets
/// the phase of both the once-a-second update and the periodic interrupt. Interrupt flags are
/// worked out from that phase whenever something looks at the device, and the timer is armed
/// only for the next event that could raise IRQF, so an RTC whose interrupts are off or already
/// pending costs no wake-ups.
///
/// Where this differs from bhyve, and why:
/// - Register A's UIP bit reads 1 for the 244 µs before each update, as on the chip (bhyve
///   never sets it), so guests that wait for an update edge find one.
/// - PF, AF and UF are set whether or not their enable bits are (datasheet; bhyve sets them only
///   when enabled).
/// - The update and the periodic interrupt keep the divider chain's phase: the first update
///   comes half a second after the dividers start (datasheet), and clearing SET does not restart
///   the second (bhyve restarts both on every change).
/// - A guest write to a date or time register while SET is clear takes effect at once, as on
///   the chip; bhyve drops it, except for the century byte.
/// - An invalid date programmed by the guest cannot stop the VM, as bhyve's
///   `hw.vmm.vrtc.flag_broken_time` does, since port I/O here has no way to fail. The clock
///   stops counting instead: the registers keep what the guest wrote, no update or alarm occurs,
///   and ``time`` keeps the last valid time, until the guest writes a valid date or the host
///   calls ``setTime(_:)``.
/// - Years are limited to 1970–9999 (the century byte holds two BCD digits): earlier dates are
///   invalid as in bhyve, and host times outside the range are clamped into it.
public final class RTC: PortIODevice {
    /// Index port 0x70 and data port 0x71.
    public static let ports: ClosedRange<UInt16> = 0x70...0x71

    private let clock: any Clock
    private let lines: any InterruptLines
    private let state: Mutex<State>

    /// An RTC whose clock reads `time`, in seconds since the Unix epoch, as the guest should see
    /// it: Hyve passes host UTC, or local time when the user asks, as bhyve's `-u` chooses.
    ///
    /// `lowMemory` and `highMemory` are the guest RAM below 4 GiB and above it, reported in the
    /// CMOS size fields that bhyve's `rtc.c` fills in for UEFI: 0x34–0x35 count the 64 KiB
    /// blocks between 16 MiB and 4 GiB, 0x5B–0x5D those above 4 GiB (little-endian). bhyve
    /// writes no other size field (not the KiB fields at 0x15–0x18 and 0x30–0x31), so neither
    /// does this; values too large for a field saturate instead of wrapping as bhyve's do.
    public init(clock: any Clock, lines: any InterruptLines, time: Int64, lowMemory: UInt64, highMemory: UInt64) {
        self.clock = clock
        self.lines = lines
        state = Mutex(State(time: time, now: Int64(clamping: clock.now), lowMemory: lowMemory, highMemory: highMemory))
        let timer = clock.makeTimer { [weak self] in self?.timerFired() }
        state.withLock { $0.timer = timer }
    }

    deinit {
        state.withLock { $0.timer?.cancel() }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        // The index port is write-only; bhyve reads it as 0xFF, and fails wider accesses.
        guard size == 1, port == Self.ports.upperBound else { return Self.allOnes(size) }
        return UInt32(withCurrentState { $0.readData() })
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        guard size == 1 else { return }
        let byte = UInt8(truncatingIfNeeded: value)
        if port == Self.ports.lowerBound {
            // Bit 7 is the chipset's NMI mask, not part of the index; bhyve ignores it too.
            state.withLock { $0.index = Int(byte & 0x7F) }
        } else if port == Self.ports.upperBound {
            withCurrentState { $0.writeData(byte) }
        }
    }

    /// bhyve's `VM_RTC_READ`: the CMOS byte at `offset` (0–127), with the date and time
    /// registers brought up to date. Unlike a guest read, reading register C here clears nothing.
    public func readNVRAM(_ offset: Int) throws(RTCError) -> UInt8 {
        guard (0..<MC146818.size).contains(offset) else { throw RTCError(offset: offset, reason: .outOfRange) }
        return withCurrentState { $0.peek(offset) }
    }

    /// bhyve's `VM_RTC_WRITE`: stores `value` at CMOS `offset`. Like bhyve, refuses the clock
    /// and control registers (0–13) and the century byte (0x32), which belong to the clock.
    public func writeNVRAM(_ offset: Int, _ value: UInt8) throws(RTCError) {
        guard (0..<MC146818.size).contains(offset) else { throw RTCError(offset: offset, reason: .outOfRange) }
        guard offset >= MC146818.firstNVRAM, offset != MC146818.century else {
            throw RTCError(offset: offset, reason: .clockRegister)
        }
        state.withLock { $0.bytes[offset] = value }
    }

    /// bhyve's `VM_RTC_SETTIME`: sets the clock to `seconds` since the epoch and restarts the
    /// second from now. bhyve refuses this with EBUSY while the guest holds SET; here the host's
    /// time wins and replaces the registers the guest is editing.
    public func setTime(_ seconds: Int64) {
        withCurrentState { $0.setTime(seconds) }
    }

    /// bhyve's `VM_RTC_GETTIME`: the clock's time in seconds since the epoch. While the guest
    /// holds SET or has programmed an invalid date, this is the time at which the clock stopped
    /// (bhyve answers -1).
    public var time: Int64 {
        withCurrentState { $0.seconds }
    }

    /// A VM reset, which reaches the chip as its RESET pin rather than as a power loss: as in
    /// bhyve's `vrtc_reset`, PIE, AIE, UIE and SQWE and the interrupt flags are cleared, while
    /// the battery-backed time, the other registers and the NVRAM (with the memory sizes that
    /// firmware reads on every boot) are kept.
    public func reset() {
        withCurrentState { state in
            state.bytes[MC146818.registerB] &= ~(MC146818.interruptEnables | MC146818.squareWaveEnable)
            state.flags = 0
        }
    }

    private func timerFired() {
        // The firing used up the armed deadline, so the next one must be armed afresh.
        withCurrentState { $0.armed = nil }
    }

    /// Runs `body` on the state brought up to the clock's present, then pulses IRQ 8 if IRQF
    /// rose and re-arms the timer for the next event that could raise it.
    private func withCurrentState<T: Sendable>(_ body: (inout State) -> T) -> T {
        let now = Int64(clamping: clock.now)
        return state.withLock { state in
            state.advance(to: now)
            // A flag that fell due before the timer ran raises IRQF before `body` can see it.
            raiseIfDue(&state)
            let result = body(&state)
            raiseIfDue(&state)
            state.reschedule()
            return result
        }
    }

    private func raiseIfDue(_ state: inout State) {
        if state.updateIRQF() {
            lines.isaPulse(MC146818.irq, ioapicPin: MC146818.irq)
        }
    }

    private static func allOnes(_ size: Int) -> UInt32 {
        (1..<4).contains(size) ? (1 << (8 * UInt32(size))) - 1 : .max
    }
}

/// Why bhyve's CMOS ioctls refused an access.
public struct RTCError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The offset is outside the 128-byte CMOS.
        case outOfRange
        /// The offset is a clock or control register, or the century byte, which only the clock
        /// and the guest may write.
        case clockRegister
    }

    public let offset: Int
    public let reason: Reason

    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .outOfRange: "CMOS offset \(offset) is outside 0-127"
        case .clockRegister: "CMOS offset 0x\(String(offset, radix: 16)) is a clock register and cannot be written"
        }
    }
}

extension RTC {
    /// Register numbers and bits from the MC146818A datasheet, and bhyve's CMOS layout.
    fileprivate enum MC146818 {
        static let seconds = 0x00, secondsAlarm = 0x01, minutes = 0x02, minutesAlarm = 0x03
        static let hours = 0x04, hoursAlarm = 0x05, dayOfWeek = 0x06, dayOfMonth = 0x07
        static let month = 0x08, year = 0x09
        static let registerA = 0x0A, registerB = 0x0B, registerC = 0x0C, registerD = 0x0D
        static let firstNVRAM = 0x0E
        static let century = 0x32
        static let size = 128

        static let updateInProgress: UInt8 = 0x80
        static let dividerField: UInt8 = 0x70
        static let dividerRunning: UInt8 = 0x20
        static let rateSelect: UInt8 = 0x0F

        static let set: UInt8 = 0x80
        static let periodicEnable: UInt8 = 0x40
        static let alarmEnable: UInt8 = 0x20
        static let updateEnable: UInt8 = 0x10
        static let interruptEnables: UInt8 = 0x70
        static let squareWaveEnable: UInt8 = 0x08
        static let binary: UInt8 = 0x04
        static let twentyFourHour: UInt8 = 0x02
        static let pm: UInt8 = 0x80

        // Register C's flags sit at the same bits as their enables in register B.
        static let interruptRequest: UInt8 = 0x80
        static let periodicFlag: UInt8 = 0x40
        static let alarmFlag: UInt8 = 0x20
        static let updateFlag: UInt8 = 0x10

        static let validRAMAndTime: UInt8 = 0x80
        static let alarmDontCare: UInt8 = 0xC0
        static let secondsWritable: UInt8 = 0x7F

        /// UIP rises 244 µs (eight 32.768 kHz cycles) before each update.
        static let updateLead: Int64 = 244_140
        /// Leaving divider reset, the first update comes half a second later.
        static let firstUpdateDelay: Int64 = 500_000_000
        static let irq = 8

        /// bhyve's `rtc.c` memory-size fields.
        static let lowMemoryBlocks = 0x34
        static let highMemoryBlocks = 0x5B
        static let blockSize: UInt64 = 64 << 10
        static let lowMemoryBase: UInt64 = 16 << 20
        static let lowMemoryLimit: UInt64 = 4 << 30
        static let highMemoryBlocksLimit: UInt64 = 0xFF_FFFF

        static let nanosecondsPerSecond: Int64 = 1_000_000_000
        static let secondsPerDay: Int64 = 86_400
        /// 1970-01-01 00:00:00 to 9999-12-31 23:59:59, the times the registers can show.
        static let representableTimes: ClosedRange<Int64> = 0...253_402_300_799
    }

    /// The registers and the time line, guarded by the device's lock.
    fileprivate struct State {
        var bytes = [UInt8](repeating: 0, count: MC146818.size)
        var index = MC146818.registerD
        /// The clock's time; it stands still while the dividers are stopped, the guest holds SET or
        /// the guest's date is invalid.
        var seconds: Int64
        /// The guest programmed a date the clock cannot count from (bhyve's "broken time").
        var broken = false
        /// The clock instant from which the divider chain counts: updates fall on whole seconds
        /// after it and periodic ticks on whole periods.
        var origin: Int64
        /// The clock instant up to which updates and ticks have been applied.
        var processed: Int64
        /// PF, AF and UF as register C holds them.
        var flags: UInt8 = 0
        var irqf = false
        /// Set just after the device is made, since the timer's handler refers to the device.
        var timer: (any ClockTimer)?
        /// The deadline the timer is armed for, if any.
        var armed: Int64?

        init(time: Int64, now: Int64, lowMemory: UInt64, highMemory: UInt64) {
            seconds = Self.representable(time)
            origin = now
            processed = now
            bytes[MC146818.registerA] = MC146818.dividerRunning
            bytes[MC146818.registerB] = MC146818.twentyFourHour
            storeClockFields()

            let lowMemory = min(max(lowMemory, MC146818.lowMemoryBase), MC146818.lowMemoryLimit)
            let low = (lowMemory - MC146818.lowMemoryBase) / MC146818.blockSize
            let high = min(highMemory / MC146818.blockSize, MC146818.highMemoryBlocksLimit)
            for byte in 0..<2 {
                bytes[MC146818.lowMemoryBlocks + byte] = UInt8(truncatingIfNeeded: low >> (8 * byte))
            }
            for byte in 0..<3 {
                bytes[MC146818.highMemoryBlocks + byte] = UInt8(truncatingIfNeeded: high >> (8 * byte))
            }
        }

        static func representable(_ time: Int64) -> Int64 {
            min(max(time, MC146818.representableTimes.lowerBound), MC146818.representableTimes.upperBound)
        }

        var registerA: UInt8 { bytes[MC146818.registerA] }
        var registerB: UInt8 { bytes[MC146818.registerB] }
        var format: Format { Format(registerB: registerB) }
        var dividerRunning: Bool { registerA & MC146818.dividerField == MC146818.dividerRunning }
        var halted: Bool { registerB & MC146818.set != 0 }
        var counting: Bool { dividerRunning && !halted && !broken }

        /// Interrupts per second selected by register A, for the 32.768 kHz time base.
        var periodicRate: Int64? {
            guard dividerRunning else { return nil }
            switch registerA & MC146818.rateSelect {
            case 0: return nil
            case 1: return 256
            case 2: return 128
            case let select: return 1 << (16 - Int64(select))
            }
        }

        // MARK: Time line

        /// Applies the updates and periodic ticks that fell due up to `instant`.
        mutating func advance(to instant: Int64) {
            let now = max(instant, processed)
            if let rate = periodicRate, ticks(rate, through: now) > ticks(rate, through: processed) {
                flags |= MC146818.periodicFlag
            }
            if counting {
                let elapsed = updates(through: now) - updates(through: processed)
                if elapsed > 0 {
                    flags |= MC146818.updateFlag
                    if let alarm = nextAlarm(after: seconds), alarm - seconds <= elapsed {
                        flags |= MC146818.alarmFlag
                    }
                    seconds = min(seconds + elapsed, MC146818.representableTimes.upperBound)
                }
            }
            processed = now
        }

        /// Updates from the divider's start through `instant`.
        func updates(through instant: Int64) -> Int64 {
            floorDivide(instant - origin, by: MC146818.nanosecondsPerSecond)
        }

        func nextUpdate(after instant: Int64) -> Int64 {
            origin + (updates(through: instant) + 1) * MC146818.nanosecondsPerSecond
        }

        /// Periodic ticks from the divider's start through `instant`; tick k falls on the first
        /// nanosecond at or after k / rate seconds, so every second holds exactly `rate` of them.
        func ticks(_ rate: Int64, through instant: Int64) -> Int64 {
            let elapsed = instant - origin
            let wholeSeconds = floorDivide(elapsed, by: MC146818.nanosecondsPerSecond)
            let fraction = elapsed - wholeSeconds * MC146818.nanosecondsPerSecond
            return wholeSeconds * rate + fraction * rate / MC146818.nanosecondsPerSecond
        }

        func nextTick(_ rate: Int64, after instant: Int64) -> Int64 {
            let tick = ticks(rate, through: instant) + 1
            let wholeSeconds = floorDivide(tick, by: rate)
            let remainder = tick - wholeSeconds * rate
            let fraction = (remainder * MC146818.nanosecondsPerSecond + rate - 1) / rate
            return origin + wholeSeconds * MC146818.nanosecondsPerSecond + fraction
        }

        var updateInProgress: Bool {
            counting && nextUpdate(after: processed) - processed <= MC146818.updateLead
        }

        // MARK: Registers

        mutating func readData() -> UInt8 {
            let value = peek(index)
            if index == MC146818.registerC {
                flags = 0
            }
            return value
        }

        mutating func peek(_ offset: Int) -> UInt8 {
            switch offset {
            case MC146818.registerA:
                return registerA | (updateInProgress ? MC146818.updateInProgress : 0)
            case MC146818.registerC:
                return (irqf ? MC146818.interruptRequest : 0) | flags
            case MC146818.registerD:
                return MC146818.validRAMAndTime
            default:
                if Self.isClockField(offset) {
                    refreshClockFields()
                }
                return bytes[offset]
            }
        }

        mutating func writeData(_ value: UInt8) {
            switch index {
            case MC146818.registerA:
                writeRegisterA(value)
            case MC146818.registerB:
                writeRegisterB(value)
            case MC146818.registerC, MC146818.registerD:
                break
            case let offset where Self.isClockField(offset):
                refreshClockFields()
                // bhyve keeps the seconds register's top bit read-only.
                bytes[offset] = offset == MC146818.seconds ? value & MC146818.secondsWritable : value
                if !halted {
                    loadClockFields()
                }
            default:
                bytes[index] = value
            }
        }

        mutating func writeRegisterA(_ value: UInt8) {
            let wasRunning = dividerRunning
            bytes[MC146818.registerA] = value & ~MC146818.updateInProgress
            if !wasRunning && dividerRunning {
                origin = processed - MC146818.firstUpdateDelay
            }
        }

        mutating func writeRegisterB(_ value: UInt8) {
            let wasHalted = halted
            var value = value
            if !wasHalted && value & MC146818.set != 0 {
                // The datasheet: SET going high clears UIE.
                value &= ~MC146818.updateEnable
            }
            bytes[MC146818.registerB] = value
            if wasHalted {
                if !halted { loadClockFields() }
            } else if !broken {
                // As bhyve does, the registers the guest is about to edit under SET show the count
                // in the format just chosen.
                storeClockFields()
            }
        }

        mutating func setTime(_ time: Int64) {
            seconds = Self.representable(time)
            broken = false
            origin = processed
            storeClockFields()
        }

        /// Sets IRQF from the flags and their enables; true when it rose, which is when IRQ 8 pulses.
        mutating func updateIRQF() -> Bool {
            let raised = flags & registerB & MC146818.interruptEnables != 0
            defer { irqf = raised }
            return raised && !irqf
        }

        /// Arms the timer for the next event that could raise IRQF, or disarms it when none can,
        /// including while IRQF is already set (only a register C read or a register B write can
        /// lower it, and both reschedule).
        mutating func reschedule() {
            let deadline = irqf ? nil : nextInterrupt()
            guard deadline != armed else { return }
            armed = deadline
            if let deadline {
                timer?.arm(at: UInt64(clamping: deadline))
            } else {
                timer?.cancel()
            }
        }

        func nextInterrupt() -> Int64? {
            var next: Int64?
            func consider(_ instant: Int64) { next = min(next ?? instant, instant) }
            if registerB & MC146818.periodicEnable != 0, let rate = periodicRate {
                consider(nextTick(rate, after: processed))
            }
            if counting {
                let update = nextUpdate(after: processed)
                if registerB & MC146818.updateEnable != 0 {
                    consider(update)
                }
                if registerB & MC146818.alarmEnable != 0, let alarm = nextAlarm(after: seconds) {
                    consider(update + (alarm - seconds - 1) * MC146818.nanosecondsPerSecond)
                }
            }
            return next
        }

        // MARK: Date and time registers

        static func isClockField(_ offset: Int) -> Bool {
            switch offset {
            case MC146818.seconds, MC146818.minutes, MC146818.hours, MC146818.dayOfWeek, MC146818.dayOfMonth,
                 MC146818.month, MC146818.year, MC146818.century:
                true
            default:
                false
            }
        }

        /// Brings the date and time registers to the count, unless the guest owns them (SET) or
        /// they hold an invalid date the guest wrote.
        mutating func refreshClockFields() {
            guard !halted, !broken else { return }
            storeClockFields()
        }

        mutating func storeClockFields() {
            let format = format
            let civil = CivilTime(seconds: seconds)
            bytes[MC146818.seconds] = format.encode(civil.second)
            bytes[MC146818.minutes] = format.encode(civil.minute)
            bytes[MC146818.hours] = format.encodeHour(civil.hour)
            bytes[MC146818.dayOfWeek] = format.encode(civil.weekday + 1)
            bytes[MC146818.dayOfMonth] = format.encode(civil.day)
            bytes[MC146818.month] = format.encode(civil.month)
            bytes[MC146818.year] = format.encode(civil.year % 100)
            bytes[MC146818.century] = format.encode(civil.year / 100)
        }

        /// Takes the time from the registers the guest wrote, or marks it broken if they do not
        /// hold a valid date. The day of the week is ignored, as bhyve does: guests disagree on it.
        mutating func loadClockFields() {
            let format = format
            guard let second = format.decode(bytes[MC146818.seconds]), second < 60,
                  let minute = format.decode(bytes[MC146818.minutes]), minute < 60,
                  let hour = format.decodeHour(bytes[MC146818.hours]),
                  let day = format.decode(bytes[MC146818.dayOfMonth]),
                  let month = format.decode(bytes[MC146818.month]),
                  let year = format.decode(bytes[MC146818.year]), year < 100,
                  let century = format.decode(bytes[MC146818.century]),
                  let time = CivilTime.seconds(year: century * 100 + year, month: month, day: day,
                                               hour: hour, minute: minute, second: second),
                  MC146818.representableTimes.contains(time)
            else {
                broken = true
                return
            }
            seconds = time
            broken = false
        }

        /// The first time after `time` whose seconds, minutes and hours registers match the alarm
        /// registers, compared as encoded bytes like the chip does; nil when none ever can.
        func nextAlarm(after time: Int64) -> Int64? {
            let format = format
            let second = Self.matches(bytes[MC146818.secondsAlarm], count: 60, encode: format.encode)
            let minute = Self.matches(bytes[MC146818.minutesAlarm], count: 60, encode: format.encode)
            let hour = Self.matches(bytes[MC146818.hoursAlarm], count: 24, encode: format.encodeHour)
            guard second != 0, minute != 0, hour != 0 else { return nil }
            let start = time + 1
            let day = floorDivide(start, by: MC146818.secondsPerDay) * MC146818.secondsPerDay
            if let match = Self.firstMatch(from: Int(start - day), hours: hour, minutes: minute, seconds: second) {
                return day + Int64(match)
            }
            return Self.firstMatch(from: 0, hours: hour, minutes: minute, seconds: second)
                .map { day + MC146818.secondsPerDay + Int64($0) }
        }

        /// Bit n set when value n's encoding matches `alarm`.
        static func matches(_ alarm: UInt8, count: Int, encode: (Int) -> UInt8) -> UInt64 {
            var mask: UInt64 = 0
            for value in 0..<count where alarm >= MC146818.alarmDontCare || encode(value) == alarm {
                mask |= 1 << value
            }
            return mask
        }

        /// The first second of the day at or after `start` allowed by the three masks.
        static func firstMatch(from start: Int, hours: UInt64, minutes: UInt64, seconds: UInt64) -> Int? {
            let (startHour, startMinute, startSecond) = (start / 3600, start / 60 % 60, start % 60)
            var hour = lowestBit(of: hours, from: startHour)
            while let h = hour {
                var minute = lowestBit(of: minutes, from: h == startHour ? startMinute : 0)
                while let m = minute {
                    if let s = lowestBit(of: seconds, from: h == startHour && m == startMinute ? startSecond : 0) {
                        return (h * 60 + m) * 60 + s
                    }
                    minute = lowestBit(of: minutes, from: m + 1)
                }
                hour = lowestBit(of: hours, from: h + 1)
            }
            return nil
        }

        static func lowestBit(of mask: UInt64, from bit: Int) -> Int? {
            guard bit < 64 else { return nil }
            let rest = mask & (UInt64.max << bit)
            return rest == 0 ? nil : rest.trailingZeroBitCount
        }
    }

    /// Register B's data mode (BCD or binary) and hour format.
    fileprivate struct Format {
        let binary: Bool
        let twentyFourHour: Bool

        init(registerB: UInt8) {
            binary = registerB & MC146818.binary != 0
            twentyFourHour = registerB & MC146818.twentyFourHour != 0
        }

        func encode(_ value: Int) -> UInt8 {
            UInt8(truncatingIfNeeded: binary ? value : (value / 10) << 4 | value % 10)
        }

        func decode(_ byte: UInt8) -> Int? {
            if binary { return Int(byte) }
            let (tens, units) = (byte >> 4, byte & 0x0F)
            guard tens <= 9, units <= 9 else { return nil }
            return Int(tens) * 10 + Int(units)
        }

        /// In 12-hour mode hours run 12, 1 … 11, with bit 7 set after noon.
        func encodeHour(_ hour: Int) -> UInt8 {
            if twentyFourHour { return encode(hour) }
            let clockHour = hour % 12 == 0 ? 12 : hour % 12
            return encode(clockHour) | (hour >= 12 ? MC146818.pm : 0)
        }

        func decodeHour(_ byte: UInt8) -> Int? {
            if twentyFourHour {
                guard let hour = decode(byte), hour < 24 else { return nil }
                return hour
            }
            guard let clockHour = decode(byte & ~MC146818.pm), (1...12).contains(clockHour) else { return nil }
            return clockHour % 12 + (byte & MC146818.pm != 0 ? 12 : 0)
        }
    }

    /// A UTC calendar date and time of day, converted with the proleptic Gregorian calendar.
    fileprivate struct CivilTime {
        var year: Int
        var month: Int
        var day: Int
        var hour: Int
        var minute: Int
        var second: Int
        /// 0 is Sunday.
        var weekday: Int

        init(seconds: Int64) {
            let days = floorDivide(seconds, by: MC146818.secondsPerDay)
            let timeOfDay = Int(seconds - days * MC146818.secondsPerDay)
            (hour, minute, second) = (timeOfDay / 3600, timeOfDay / 60 % 60, timeOfDay % 60)
            // 1970-01-01 was a Thursday.
            weekday = Int(days + 4 - floorDivide(days + 4, by: 7) * 7)
            // Count from 0000-03-01 so that the leap day ends each 400-year era's years.
            let shifted = days + 719_468
            let era = floorDivide(shifted, by: 146_097)
            let dayOfEra = shifted - era * 146_097
            let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
            let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
            let marchMonth = (5 * dayOfYear + 2) / 153
            day = Int(dayOfYear - (153 * marchMonth + 2) / 5 + 1)
            month = Int(marchMonth < 10 ? marchMonth + 3 : marchMonth - 9)
            year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        }

        /// Seconds since the epoch, or nil when the day does not exist in that month.
        static func seconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
            guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
            let marchYear = Int64(month <= 2 ? year - 1 : year)
            let era = floorDivide(marchYear, by: 400)
            let yearOfEra = marchYear - era * 400
            let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
            let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
            let days = era * 146_097 + dayOfEra - 719_468
            return days * MC146818.secondsPerDay + Int64(hour * 3600 + minute * 60 + second)
        }

        static func daysIn(month: Int, year: Int) -> Int {
            switch month {
            case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
            case 4, 6, 9, 11: 30
            default: 31
            }
        }
    }

    /// Division rounding toward negative infinity, for times before an origin.
    fileprivate static func floorDivide(_ value: Int64, by divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }
}
