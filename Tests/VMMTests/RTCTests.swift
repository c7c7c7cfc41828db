import Synchronization
import Testing
import TestSupport
import VMM

/// 2026-11-25 14:30:05 UTC, a Wednesday.
private let novemberAfternoon: Int64 = 1_795_617_005
private let second: UInt64 = 1_000_000_000
private let irq8 = RecordingInterruptLines.Event.isaPulse(8, 8)

private enum Register {
    static let seconds = 0x00, secondsAlarm = 0x01, minutes = 0x02, minutesAlarm = 0x03, hours = 0x04
    static let hoursAlarm = 0x05, dayOfWeek = 0x06, dayOfMonth = 0x07, month = 0x08, year = 0x09
    static let a = 0x0A, b = 0x0B, c = 0x0C, d = 0x0D, century = 0x32
    /// Seconds, minutes, hours, day of week, day of month, month, year, century.
    static let clock = [seconds, minutes, hours, dayOfWeek, dayOfMonth, month, year, century]
}

/// An RTC on a manual clock that starts at 1 s, so the RTC's seconds turn at whole seconds.
private final class RTCBench {
    let clock = ManualClock()
    let lines = RecordingInterruptLines()
    let rtc: RTC

    init(time: Int64 = novemberAfternoon, lowMemory: UInt64 = 3 << 30, highMemory: UInt64 = 2 << 30) {
        rtc = RTC(clock: clock, lines: lines, time: time, lowMemory: lowMemory, highMemory: highMemory)
    }

    func write(_ register: Int, _ value: UInt8) {
        rtc.portWrite(0x70, size: 1, value: UInt32(register))
        rtc.portWrite(0x71, size: 1, value: UInt32(value))
    }

    func read(_ register: Int) -> UInt8 {
        rtc.portWrite(0x70, size: 1, value: UInt32(register))
        return UInt8(truncatingIfNeeded: rtc.portRead(0x71, size: 1))
    }

    var clockRegisters: [UInt8] { Register.clock.map(read) }

    func writeClockRegisters(_ values: [UInt8]) {
        for (register, value) in zip(Register.clock, values) { write(register, value) }
    }

    var pulses: Int { lines.count(irq8) }

    /// Advances by `duration` in `step`s, reading register C after each; returns the values read.
    @discardableResult
    func advanceReadingC(by duration: UInt64, step: UInt64) -> [UInt8] {
        let end = clock.now + duration
        var values: [UInt8] = []
        while clock.now < end {
            clock.advance(by: min(step, end - clock.now))
            values.append(read(Register.c))
        }
        return values
    }
}

/// A clock whose timers never fire, standing in for a timer thread that runs late.
private final class StalledClock: Clock {
    private final class IdleTimer: ClockTimer {
        func arm(at deadline: UInt64) {}
        func cancel() {}
    }

    private let instant = Mutex<UInt64>(second)

    var now: UInt64 { instant.withLock { $0 } }

    func advance(by nanoseconds: UInt64) { instant.withLock { $0 += nanoseconds } }

    func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer { IdleTimer() }
}

@Suite struct RTCRegisterTests {
    @Test func powerOnRegisterValues() {
        let bench = RTCBench()
        #expect(bench.read(Register.a) == 0x20)
        #expect(bench.read(Register.b) == 0x02)
        #expect(bench.read(Register.c) == 0x00)
        #expect(bench.read(Register.d) == 0x80)
    }

    @Test func indexPortReadsAllOnesAndIgnoresTheNMIMaskBit() throws {
        let bench = RTCBench()
        #expect(bench.rtc.portRead(0x70, size: 1) == 0xFF)
        bench.rtc.portWrite(0x70, size: 1, value: 0x80 | 0x40)
        bench.rtc.portWrite(0x71, size: 1, value: 0x5A)
        #expect(try bench.rtc.readNVRAM(0x40) == 0x5A)
        bench.rtc.portWrite(0x70, size: 1, value: 0x80 | UInt32(Register.d))
        #expect(bench.rtc.portRead(0x71, size: 1) == 0x80)
    }

    @Test func nonByteAccessesReadAllOnesAndAreIgnored() throws {
        let bench = RTCBench()
        #expect(bench.rtc.portRead(0x70, size: 2) == 0xFFFF)
        #expect(bench.rtc.portRead(0x71, size: 2) == 0xFFFF)
        #expect(bench.rtc.portRead(0x71, size: 4) == 0xFFFF_FFFF)
        bench.rtc.portWrite(0x70, size: 1, value: 0x40)
        bench.rtc.portWrite(0x70, size: 2, value: 0x41)
        bench.rtc.portWrite(0x71, size: 2, value: 0x77)
        bench.rtc.portWrite(0x71, size: 4, value: 0x77)
        #expect(try bench.rtc.readNVRAM(0x40) == 0)
        #expect(try bench.rtc.readNVRAM(0x41) == 0)
        #expect(bench.rtc.portRead(0x71, size: 1) == 0)
    }

    @Test func registerDAlwaysReadsValidAndIgnoresWrites() {
        let bench = RTCBench()
        bench.write(Register.d, 0x00)
        #expect(bench.read(Register.d) == 0x80)
        bench.write(Register.d, 0xFF)
        #expect(bench.read(Register.d) == 0x80)
    }

    @Test func registerAKeepsWrittenBitsButNotUIP() {
        let bench = RTCBench()
        bench.write(Register.a, 0xA6)
        #expect(bench.read(Register.a) == 0x26)
    }

    @Test func registerCIgnoresWrites() {
        let bench = RTCBench()
        bench.write(Register.c, 0xF0)
        #expect(bench.read(Register.c) == 0x00)
    }

    @Test func registerBKeepsEveryWrittenBit() {
        let bench = RTCBench()
        bench.write(Register.b, 0x7F)
        #expect(bench.read(Register.b) == 0x7F)
    }

    @Test func nvramBytesRoundTripThroughThePorts() throws {
        let bench = RTCBench()
        for offset in [0x0E, 0x33, 0x7F] {
            bench.write(offset, UInt8(offset) ^ 0xA5)
        }
        for offset in [0x0E, 0x33, 0x7F] {
            #expect(bench.read(offset) == UInt8(offset) ^ 0xA5)
            #expect(try bench.rtc.readNVRAM(offset) == UInt8(offset) ^ 0xA5)
        }
    }

    @Test func alarmRegistersRoundTrip() {
        let bench = RTCBench()
        bench.write(Register.secondsAlarm, 0x12)
        bench.write(Register.minutesAlarm, 0xC3)
        bench.write(Register.hoursAlarm, 0xFF)
        let alarms = [Register.secondsAlarm, Register.minutesAlarm, Register.hoursAlarm]
        #expect(alarms.map(bench.read) == [0x12, 0xC3, 0xFF])
    }
}

@Suite struct RTCTimekeepingTests {
    @Test func bcdRegistersShowTheCreationTime() {
        let bench = RTCBench()
        #expect(bench.clockRegisters == [0x05, 0x30, 0x14, 0x04, 0x25, 0x11, 0x26, 0x20])
        #expect(bench.rtc.time == novemberAfternoon)
    }

    @Test func binaryRegistersShowTheCreationTime() {
        let bench = RTCBench()
        bench.write(Register.b, 0x06)
        #expect(bench.clockRegisters == [5, 30, 14, 4, 25, 11, 26, 20])
    }

    @Test func twelveHourModeSetsThePMBit() {
        let bench = RTCBench()
        bench.write(Register.b, 0x00)
        #expect(bench.read(Register.hours) == 0x82)
        bench.write(Register.b, 0x04)
        #expect(bench.read(Register.hours) == 0x82)
        bench.rtc.setTime(1_795_565_700)
        #expect(bench.read(Register.hours) == 12)
        bench.write(Register.b, 0x00)
        #expect(bench.read(Register.hours) == 0x12)
        bench.rtc.setTime(1_795_608_900)
        #expect(bench.read(Register.hours) == 0x92)
    }

    @Test func timeAdvancesOneSecondPerBillionClockNanoseconds() {
        let bench = RTCBench()
        bench.clock.advance(by: second - 1)
        #expect(bench.read(Register.seconds) == 0x05)
        #expect(bench.rtc.time == novemberAfternoon)
        bench.clock.advance(by: 1)
        #expect(bench.read(Register.seconds) == 0x06)
        #expect(bench.rtc.time == novemberAfternoon + 1)
        bench.clock.advance(by: 55 * second)
        #expect(bench.read(Register.minutes) == 0x31)
        #expect(bench.read(Register.seconds) == 0x01)
        #expect(bench.rtc.time == novemberAfternoon + 56)
    }

    @Test func yearEndRollsOverEveryField() {
        let bench = RTCBench(time: 1_798_761_599)
        #expect(bench.clockRegisters == [0x59, 0x59, 0x23, 0x05, 0x31, 0x12, 0x26, 0x20])
        bench.clock.advance(by: second)
        #expect(bench.clockRegisters == [0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x27, 0x20])
    }

    @Test func leapDayFollowsTheTwentyEighthOfFebruary() {
        let bench = RTCBench(time: 1_835_395_199)
        bench.clock.advance(by: second)
        #expect(bench.clockRegisters == [0x00, 0x00, 0x00, 0x03, 0x29, 0x02, 0x28, 0x20])
    }

    @Test func uipIsSetForTheLast244MicrosecondsBeforeAnUpdate() {
        let bench = RTCBench()
        bench.clock.advance(to: 2 * second - 244_141)
        #expect(bench.read(Register.a) == 0x20)
        bench.clock.advance(by: 1)
        #expect(bench.read(Register.a) == 0xA0)
        #expect(bench.read(Register.seconds) == 0x05)
        bench.clock.advance(to: 2 * second)
        #expect(bench.read(Register.a) == 0x20)
        #expect(bench.read(Register.seconds) == 0x06)
    }

    @Test func uipStaysClearWhileSetHoldsTheClock() {
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.clock.advance(to: 2 * second - 1000)
        #expect(bench.read(Register.a) == 0x20)
    }

    @Test func setFreezesTheRegistersAndTheTime() {
        let bench = RTCBench()
        bench.clock.advance(by: second + 300_000_000)
        bench.write(Register.b, 0x82)
        bench.clock.advance(by: 5 * second)
        #expect(bench.clockRegisters == [0x06, 0x30, 0x14, 0x04, 0x25, 0x11, 0x26, 0x20])
        #expect(bench.rtc.time == novemberAfternoon + 1)
    }

    @Test func writesUnderSetTakeEffectWhenSetClears() {
        let bench = RTCBench()
        bench.clock.advance(by: 300_000_000)
        bench.write(Register.b, 0x82)
        bench.writeClockRegisters([0x05, 0x04, 0x03, 0x01, 0x02, 0x01, 0x30, 0x20])
        #expect(bench.rtc.time == novemberAfternoon)
        bench.clock.advance(by: 300_000_000)
        bench.write(Register.b, 0x02)
        #expect(bench.rtc.time == 1_893_553_445)
        // The day of the week follows the date (2030-01-02 is a Wednesday).
        #expect(bench.clockRegisters == [0x05, 0x04, 0x03, 0x04, 0x02, 0x01, 0x30, 0x20])
        // The divider kept its phase: the next second still turns at clock time 2 s.
        bench.clock.advance(to: 2 * second - 1)
        #expect(bench.read(Register.seconds) == 0x05)
        bench.clock.advance(by: 1)
        #expect(bench.read(Register.seconds) == 0x06)
        #expect(bench.rtc.time == 1_893_553_446)
    }

    @Test func setGoingHighClearsUIE() {
        let bench = RTCBench()
        bench.write(Register.b, 0x12)
        bench.write(Register.b, 0x92)
        #expect(bench.read(Register.b) == 0x82)
        bench.write(Register.b, 0x92)
        #expect(bench.read(Register.b) == 0x92)
    }

    @Test func secondsTopBitIsReadOnly() {
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.write(Register.seconds, 0xD9)
        #expect(bench.read(Register.seconds) == 0x59)
    }

    @Test func writeOutsideSetTakesEffectAtOnce() {
        let bench = RTCBench()
        bench.write(Register.minutes, 0x45)
        #expect(bench.rtc.time == 1_795_617_905)
        #expect(bench.read(Register.minutes) == 0x45)
    }

    @Test func centuryWriteOutsideSetMovesTheDate() {
        let bench = RTCBench()
        bench.write(Register.century, 0x21)
        #expect(bench.rtc.time == 4_951_290_605)
        #expect(bench.clockRegisters == [0x05, 0x30, 0x14, 0x02, 0x25, 0x11, 0x26, 0x21])
    }

    static let invalidFields: [(Int, UInt8)] = [
        (Register.seconds, 0x5A), (Register.seconds, 0x60), (Register.minutes, 0x60),
        (Register.hours, 0x24), (Register.dayOfMonth, 0x00), (Register.dayOfMonth, 0x31),
        (Register.month, 0x00), (Register.month, 0x13), (Register.year, 0xA0), (Register.century, 0x19),
    ]

    @Test(arguments: invalidFields)
    func invalidDateStopsTheClockAndKeepsTheGuestsBytes(register: Int, value: UInt8) {
        let bench = RTCBench()
        bench.write(Register.b, 0x92)
        bench.write(register, value)
        bench.write(Register.b, 0x12)
        bench.clock.advance(by: 3 * second)
        #expect(bench.read(register) == value)
        #expect(bench.rtc.time == novemberAfternoon)
        #expect(bench.read(Register.c) == 0x00)
        #expect(bench.read(Register.a) == 0x20)
        #expect(bench.pulses == 0)
    }

    @Test func invalidTwelveHourValuesStopTheClock() {
        for hour: UInt8 in [0x00, 0x13, 0x80, 0x93] {
            let bench = RTCBench()
            bench.write(Register.b, 0x80)
            bench.write(Register.hours, hour)
            bench.write(Register.b, 0x00)
            bench.clock.advance(by: 2 * second)
            #expect(bench.read(Register.hours) == hour)
            #expect(bench.rtc.time == novemberAfternoon)
        }
    }

    @Test func validGuestWriteRestartsAStoppedClock() {
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.write(Register.dayOfMonth, 0x31)
        bench.write(Register.b, 0x02)
        bench.clock.advance(by: 2 * second)
        bench.write(Register.dayOfMonth, 0x26)
        #expect(bench.rtc.time == novemberAfternoon + 86_400)
        bench.clock.advance(by: second)
        #expect(bench.rtc.time == novemberAfternoon + 86_401)
        #expect(bench.read(Register.seconds) == 0x06)
    }

    @Test func setTimeRestartsAStoppedClock() {
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.write(Register.month, 0x13)
        bench.write(Register.b, 0x02)
        bench.rtc.setTime(novemberAfternoon)
        #expect(bench.clockRegisters == [0x05, 0x30, 0x14, 0x04, 0x25, 0x11, 0x26, 0x20])
        bench.clock.advance(by: second)
        #expect(bench.rtc.time == novemberAfternoon + 1)
    }

    @Test func dividerResetHoldsTheTimeAndTheFirstUpdateComesHalfASecondAfterRelease() {
        let bench = RTCBench()
        bench.write(Register.a, 0x70)
        bench.clock.advance(by: 3 * second + 250_000_000)
        #expect(bench.read(Register.seconds) == 0x05)
        #expect(bench.rtc.time == novemberAfternoon)
        bench.write(Register.a, 0x20)
        bench.clock.advance(by: 500_000_000 - 1)
        #expect(bench.read(Register.seconds) == 0x05)
        bench.clock.advance(by: 1)
        #expect(bench.read(Register.seconds) == 0x06)
        bench.clock.advance(by: second)
        #expect(bench.rtc.time == novemberAfternoon + 2)
    }

    @Test func setTimeRestartsTheSecond() {
        let bench = RTCBench()
        bench.clock.advance(by: 700_000_000)
        bench.rtc.setTime(1_893_553_445)
        #expect(bench.clockRegisters == [0x05, 0x04, 0x03, 0x04, 0x02, 0x01, 0x30, 0x20])
        bench.clock.advance(by: second - 1)
        #expect(bench.rtc.time == 1_893_553_445)
        bench.clock.advance(by: 1)
        #expect(bench.rtc.time == 1_893_553_446)
    }

    @Test func setTimeWhileTheGuestHoldsSetReplacesTheRegisters() {
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.write(Register.minutes, 0x59)
        bench.rtc.setTime(1_893_553_445)
        #expect(bench.read(Register.minutes) == 0x04)
        bench.write(Register.b, 0x02)
        #expect(bench.rtc.time == 1_893_553_445)
    }

    @Test func timesOutsideTheRegistersRangeAreClamped() {
        let early = RTCBench(time: -5)
        #expect(early.rtc.time == 0)
        #expect(early.clockRegisters == [0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x70, 0x19])
        early.rtc.setTime(.max)
        #expect(early.rtc.time == 253_402_300_799)
        #expect(early.clockRegisters == [0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x99])
        early.clock.advance(by: 5 * second)
        #expect(early.rtc.time == 253_402_300_799)
    }

    @Test func leapYearRulesDecideWhetherFebruary29Exists() {
        for (century, year, valid) in [(UInt8(0x20), UInt8(0x00), true), (0x21, 0x00, false), (0x20, 0x27, false)] {
            let bench = RTCBench()
            bench.write(Register.b, 0x82)
            bench.writeClockRegisters([0x00, 0x00, 0x06, 0x01, 0x29, 0x02, year, century])
            bench.write(Register.b, 0x02)
            #expect((bench.rtc.time != novemberAfternoon) == valid)
        }
        let bench = RTCBench()
        bench.write(Register.b, 0x82)
        bench.writeClockRegisters([0x00, 0x00, 0x06, 0x01, 0x29, 0x02, 0x00, 0x20])
        bench.write(Register.b, 0x02)
        #expect(bench.rtc.time == 951_804_000)
    }
}

@Suite struct RTCInterruptTests {
    @Test func periodicInterruptAt1024HzPulses1024TimesASecondWhenRegisterCIsRead() {
        let bench = RTCBench()
        bench.write(Register.a, 0x26)
        bench.write(Register.b, 0x42)
        let values = bench.advanceReadingC(by: second, step: 500_000)
        #expect(bench.pulses == 1024)
        #expect(values.filter { $0 & 0xC0 == 0xC0 }.count == 1024)
        #expect(bench.lines.events.allSatisfy { $0 == irq8 })
    }

    @Test func periodicInterruptPulsesOnceWhileRegisterCIsNotRead() {
        let bench = RTCBench()
        bench.write(Register.a, 0x26)
        bench.write(Register.b, 0x42)
        bench.clock.advance(by: second)
        #expect(bench.pulses == 1)
        #expect(bench.clock.armedTimerCount == 0)
        #expect(bench.read(Register.c) == 0xD0)
        bench.clock.advance(by: 976_563)
        #expect(bench.pulses == 2)
    }

    @Test(arguments: Array(1...15))
    func periodicRateFollowsRateSelect(select: Int) {
        let rates = [0, 256, 128, 8192, 4096, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2]
        let bench = RTCBench()
        bench.write(Register.a, 0x20 | UInt8(select))
        bench.write(Register.b, 0x42)
        bench.advanceReadingC(by: second, step: second / UInt64(2 * rates[select]))
        #expect(bench.pulses == rates[select])
    }

    @Test func rateSelectZeroOrAStoppedDividerGivesNoPeriodicFlag() {
        for registerA: UInt8 in [0x20, 0x76, 0x06] {
            let bench = RTCBench()
            bench.write(Register.a, registerA)
            bench.write(Register.b, 0x42)
            bench.clock.advance(by: 2 * second)
            #expect(bench.pulses == 0)
            #expect(bench.read(Register.c) & 0x40 == 0)
        }
    }

    @Test func flagsAreSetWithoutTheirEnablesAndAnEnablePulsesForAPendingFlag() throws {
        let bench = RTCBench()
        bench.write(Register.a, 0x26)
        bench.clock.advance(by: second)
        #expect(bench.pulses == 0)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0x50)
        bench.write(Register.b, 0x42)
        #expect(bench.pulses == 1)
        #expect(bench.read(Register.c) == 0xD0)
    }

    @Test func clearingAnEnableLowersIRQFAndSettingItAgainPulses() throws {
        let bench = RTCBench()
        bench.write(Register.a, 0x26)
        bench.write(Register.b, 0x42)
        bench.clock.advance(by: 1_000_000)
        #expect(bench.pulses == 1)
        bench.write(Register.b, 0x02)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0x40)
        bench.write(Register.b, 0x42)
        #expect(bench.pulses == 2)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0xC0)
    }

    @Test func updateInterruptPulsesOncePerSecond() {
        let bench = RTCBench()
        bench.write(Register.b, 0x12)
        let values = bench.advanceReadingC(by: 10 * second, step: second / 4)
        #expect(bench.pulses == 10)
        #expect(values.filter { $0 == 0x90 }.count == 10)
        #expect(values.filter { $0 == 0x00 }.count == 30)
    }

    @Test func updateInterruptPulsesOnceWhileRegisterCIsNotRead() {
        let bench = RTCBench()
        bench.write(Register.b, 0x12)
        bench.clock.advance(by: 10 * second)
        #expect(bench.pulses == 1)
        #expect(bench.read(Register.c) == 0x90)
        #expect(bench.read(Register.c) == 0x00)
    }

    @Test func lateTimerStillRaisesIRQFBeforeTheGuestSeesTheFlag() {
        let clock = StalledClock()
        let lines = RecordingInterruptLines()
        let rtc = RTC(clock: clock, lines: lines, time: novemberAfternoon, lowMemory: 0, highMemory: 0)
        rtc.portWrite(0x70, size: 1, value: UInt32(Register.b))
        rtc.portWrite(0x71, size: 1, value: 0x12)
        clock.advance(by: 2 * second)
        rtc.portWrite(0x70, size: 1, value: UInt32(Register.c))
        #expect(rtc.portRead(0x71, size: 1) == 0x90)
        #expect(lines.events == [irq8])
    }

    @Test func registerCReadClearsTheFlags() {
        let bench = RTCBench()
        bench.write(Register.a, 0x2F)
        bench.write(Register.b, 0x72)
        bench.clock.advance(by: 5 * second)
        #expect(bench.read(Register.c) == 0xD0)
        #expect(bench.read(Register.c) == 0x00)
    }

    @Test func alarmFiresAtTheProgrammedTime() {
        let bench = RTCBench()
        bench.write(Register.secondsAlarm, 0x10)
        bench.write(Register.minutesAlarm, 0x30)
        bench.write(Register.hoursAlarm, 0x14)
        bench.write(Register.b, 0x22)
        bench.clock.advance(by: 5 * second - 1)
        #expect(bench.pulses == 0)
        bench.clock.advance(by: 1)
        #expect(bench.pulses == 1)
        #expect(bench.read(Register.c) == 0xB0)
        bench.advanceReadingC(by: 10 * second, step: second / 2)
        #expect(bench.pulses == 1)
    }

    @Test func alarmThatJustPassedFiresTheNextDay() {
        let bench = RTCBench()
        bench.write(Register.secondsAlarm, 0x05)
        bench.write(Register.minutesAlarm, 0x30)
        bench.write(Register.hoursAlarm, 0x14)
        bench.write(Register.b, 0x22)
        bench.clock.advance(by: 86_400 * second - 1)
        #expect(bench.pulses == 0)
        bench.clock.advance(by: 1)
        #expect(bench.pulses == 1)
        #expect(bench.rtc.time == novemberAfternoon + 86_400)
    }

    @Test func alarmWithEveryFieldDontCareFiresEverySecond() {
        let bench = RTCBench()
        for register in [Register.secondsAlarm, Register.minutesAlarm, Register.hoursAlarm] {
            bench.write(register, 0xC0)
        }
        bench.write(Register.b, 0x22)
        let values = bench.advanceReadingC(by: 5 * second, step: second / 2)
        #expect(bench.pulses == 5)
        #expect(values.filter { $0 == 0xB0 }.count == 5)
    }

    @Test func alarmWithDontCareHoursAndMinutesFiresOnceAMinute() {
        let bench = RTCBench()
        bench.write(Register.secondsAlarm, 0x00)
        bench.write(Register.minutesAlarm, 0xFF)
        bench.write(Register.hoursAlarm, 0xC5)
        bench.write(Register.b, 0x22)
        bench.advanceReadingC(by: 180 * second, step: second)
        #expect(bench.pulses == 3)
    }

    @Test func alarmInTwelveHourModeComparesThePMBit() {
        let pm = RTCBench()
        pm.write(Register.b, 0x20)
        pm.write(Register.secondsAlarm, 0x07)
        pm.write(Register.minutesAlarm, 0x30)
        pm.write(Register.hoursAlarm, 0x82)
        pm.clock.advance(by: 2 * second)
        #expect(pm.pulses == 1)

        let am = RTCBench()
        am.write(Register.b, 0x20)
        am.write(Register.secondsAlarm, 0x07)
        am.write(Register.minutesAlarm, 0x30)
        am.write(Register.hoursAlarm, 0x02)
        am.clock.advance(by: 2 * second)
        #expect(am.pulses == 0)
        #expect(am.clock.armedTimerCount == 1)
    }

    @Test func alarmInBinaryModeComparesBinaryValues() {
        let bench = RTCBench()
        bench.write(Register.b, 0x26)
        bench.write(Register.secondsAlarm, 7)
        bench.write(Register.minutesAlarm, 30)
        bench.write(Register.hoursAlarm, 14)
        bench.clock.advance(by: 2 * second - 1)
        #expect(bench.pulses == 0)
        bench.clock.advance(by: 1)
        #expect(bench.pulses == 1)
    }

    @Test func alarmThatCanNeverMatchArmsNoTimer() {
        let bench = RTCBench()
        bench.write(Register.secondsAlarm, 0x60)
        bench.write(Register.b, 0x22)
        #expect(bench.clock.armedTimerCount == 0)
        bench.clock.advance(by: 120 * second)
        #expect(bench.pulses == 0)
        #expect(bench.read(Register.c) == 0x10)
    }

    @Test func noTimerIsArmedWithoutEnabledInterrupts() {
        let bench = RTCBench()
        bench.write(Register.a, 0x23)
        #expect(bench.clock.armedTimerCount == 0)
        bench.write(Register.b, 0x12)
        #expect(bench.clock.armedTimerCount == 1)
        bench.write(Register.b, 0x02)
        #expect(bench.clock.armedTimerCount == 0)
    }

    @Test func stoppedClockRaisesNoUpdateOrAlarm() {
        let bench = RTCBench()
        for register in [Register.secondsAlarm, Register.minutesAlarm, Register.hoursAlarm] {
            bench.write(register, 0xC0)
        }
        bench.write(Register.b, 0x32)
        bench.write(Register.a, 0x60)
        bench.clock.advance(by: 3 * second)
        #expect(bench.pulses == 0)
        #expect(bench.read(Register.c) == 0x00)
    }

    @Test func resetClearsEnablesAndFlagsButKeepsTimeAndNVRAM() throws {
        let bench = RTCBench()
        bench.write(Register.a, 0x26)
        bench.write(0x40, 0x99)
        bench.write(Register.b, 0x7A)
        bench.clock.advance(by: second)
        #expect(bench.pulses == 1)
        bench.rtc.reset()
        #expect(bench.read(Register.b) == 0x02)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0x00)
        #expect(bench.read(Register.a) == 0x26)
        #expect(bench.clock.armedTimerCount == 0)
        #expect(bench.rtc.time == novemberAfternoon + 1)
        #expect(bench.read(0x40) == 0x99)
        #expect(try bench.rtc.readNVRAM(0x35) == 0xBF)
        bench.clock.advance(by: second)
        #expect(bench.pulses == 1)
        #expect(bench.rtc.time == novemberAfternoon + 2)
    }
}

@Suite struct RTCNVRAMTests {
    @Test func memorySizeFieldsFor3GiBLowAnd2GiBHigh() throws {
        let bench = RTCBench(lowMemory: 3 << 30, highMemory: 2 << 30)
        // (3 GiB - 16 MiB) / 64 KiB = 0xBF00; 2 GiB / 64 KiB = 0x8000.
        #expect(try [0x34, 0x35].map(bench.rtc.readNVRAM) == [0x00, 0xBF])
        #expect(try [0x5B, 0x5C, 0x5D].map(bench.rtc.readNVRAM) == [0x00, 0x80, 0x00])
        // bhyve's rtc.c fills in no KiB size field.
        #expect(try [0x15, 0x16, 0x17, 0x18, 0x30, 0x31].map(bench.rtc.readNVRAM) == [0, 0, 0, 0, 0, 0])
    }

    @Test func memorySizeFieldsSaturate() throws {
        let small = RTCBench(lowMemory: 8 << 20, highMemory: 0)
        #expect(try [0x34, 0x35, 0x5B, 0x5C, 0x5D].map(small.rtc.readNVRAM) == [0, 0, 0, 0, 0])
        let large = RTCBench(lowMemory: 6 << 30, highMemory: 2 << 40)
        #expect(try [0x34, 0x35, 0x5B, 0x5C, 0x5D].map(large.rtc.readNVRAM) == [0x00, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test func writeNVRAMRefusesClockRegistersAndTheCentury() {
        let bench = RTCBench()
        for offset in Array(0...13) + [0x32] {
            #expect(throws: RTCError(offset: offset, reason: .clockRegister)) { try bench.rtc.writeNVRAM(offset, 0x11) }
        }
        for offset in [-1, 128, 1000] {
            #expect(throws: RTCError(offset: offset, reason: .outOfRange)) { try bench.rtc.writeNVRAM(offset, 0x11) }
            #expect(throws: RTCError(offset: offset, reason: .outOfRange)) { try bench.rtc.readNVRAM(offset) }
        }
        #expect(bench.clockRegisters == [0x05, 0x30, 0x14, 0x04, 0x25, 0x11, 0x26, 0x20])
        #expect(bench.read(Register.b) == 0x02)
        #expect(bench.read(Register.secondsAlarm) == 0x00)
    }

    @Test func writeNVRAMStoresEveryOtherByte() throws {
        let bench = RTCBench()
        for offset in [0x0E, 0x31, 0x33, 0x7F] {
            try bench.rtc.writeNVRAM(offset, 0x3C)
            #expect(bench.read(offset) == 0x3C)
        }
    }

    @Test func readNVRAMSeesTheCurrentTimeAndLeavesRegisterCAlone() throws {
        let bench = RTCBench()
        bench.write(Register.b, 0x12)
        bench.clock.advance(by: 2 * second)
        #expect(try bench.rtc.readNVRAM(Register.seconds) == 0x07)
        #expect(try bench.rtc.readNVRAM(Register.century) == 0x20)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0x90)
        #expect(try bench.rtc.readNVRAM(Register.c) == 0x90)
        #expect(try bench.rtc.readNVRAM(Register.d) == 0x80)
    }

    @Test func errorsDescribeTheOffset() {
        #expect(RTCError(offset: 0x0B, reason: .clockRegister).description.contains("0xb"))
        #expect(RTCError(offset: 200, reason: .outOfRange).description.contains("200"))
    }
}

@Suite struct RTCRandomTrafficTests {
    @Test func randomPortTrafficKeepsTheInvariants() throws {
        var random = SeededGenerator(seed: 0x0146_818A)
        let bench = RTCBench()
        let rtc = bench.rtc
        var index = Register.d
        var writtenA: UInt8 = 0x20
        let interesting = Array(0...0x0D) + [Register.century, 0x34, 0x7F]
        for _ in 0..<100_000 {
            let irqfBefore = try rtc.readNVRAM(Register.c) & 0x80 != 0
            bench.lines.clear()
            var readC = false
            var advanced = false
            switch random.next() % 16 {
            case 0, 1:
                let scale: [UInt64] = [1_000, 250_000, 100_000_000, 3 * second]
                bench.clock.advance(by: random.next() % scale[Int(random.next() % 4)])
                advanced = true
            case 2...5:
                let value = random.next() % 2 == 0
                    ? UInt8(interesting[Int(random.next() % UInt64(interesting.count))])
                    : UInt8(truncatingIfNeeded: random.next())
                let size = [1, 1, 1, 2, 4][Int(random.next() % 5)]
                rtc.portWrite(0x70, size: size, value: UInt32(value))
                if size == 1 { index = Int(value & 0x7F) }
            case 6...10:
                var value = UInt8(truncatingIfNeeded: random.next())
                if index == Register.a && random.next() % 2 == 0 { value = 0x20 | value & 0x0F }
                if index == Register.b { value &= random.next() % 2 == 0 ? 0x7F : 0xFF }
                let size = [1, 1, 1, 1, 2, 4][Int(random.next() % 6)]
                rtc.portWrite(0x71, size: size, value: UInt32(value) | 0xAB00)
                if size == 1 && index == Register.a { writtenA = value & 0x7F }
            default:
                if random.next() % 4 == 0 {
                    rtc.portWrite(0x70, size: 1, value: UInt32(Register.c))
                    index = Register.c
                }
                let port: UInt16 = random.next() % 4 == 0 ? 0x70 : 0x71
                let size = [1, 1, 1, 2, 4][Int(random.next() % 5)]
                let registerB = try rtc.readNVRAM(Register.b)
                let value = rtc.portRead(port, size: size)
                if size != 1 {
                    #expect(value == (size == 2 ? 0xFFFF : 0xFFFF_FFFF))
                } else if port == 0x70 {
                    #expect(value == 0xFF)
                } else if index == Register.c {
                    readC = true
                    #expect(value & 0x0F == 0)
                    #expect((value & 0x80 != 0) == (UInt8(value) & registerB & 0x70 != 0))
                } else if index == Register.d {
                    #expect(value == 0x80)
                }
            }

            let events = bench.lines.events
            let registerA = try rtc.readNVRAM(Register.a)
            let registerB = try rtc.readNVRAM(Register.b)
            let registerC = try rtc.readNVRAM(Register.c)
            #expect(events.allSatisfy { $0 == irq8 })
            #expect(events.count <= 1)
            if !events.isEmpty {
                #expect(registerB & 0x70 != 0, "IRQ 8 pulsed with every interrupt disabled")
                #expect(!(advanced && irqfBefore), "IRQ 8 pulsed while IRQF was already set")
                #expect(readC || registerC & 0x80 != 0)
            }
            #expect(registerC & 0x0F == 0)
            #expect((registerC & 0x80 != 0) == (registerC & registerB & 0x70 != 0))
            #expect(try rtc.readNVRAM(Register.d) == 0x80)
            #expect(registerA & 0x7F == writtenA)
            if registerA & 0x80 != 0 {
                #expect(registerA & 0x70 == 0x20 && registerB & 0x80 == 0, "UIP set while the clock cannot update")
            }
            #expect((0...253_402_300_799).contains(rtc.time))
            #expect(bench.clock.armedTimerCount <= 1)
            if registerC & 0x80 != 0 || registerB & 0x70 == 0 {
                #expect(bench.clock.armedTimerCount == 0, "timer armed although no interrupt can be raised")
            }
        }

        // Whatever the traffic left behind, the host can set a known time and read it back.
        bench.rtc.reset()
        bench.write(Register.a, 0x20)
        bench.write(Register.b, 0x02)
        rtc.setTime(novemberAfternoon)
        #expect(bench.clockRegisters == [0x05, 0x30, 0x14, 0x04, 0x25, 0x11, 0x26, 0x20])
        bench.clock.advance(by: second)
        #expect(rtc.time == novemberAfternoon + 1)
    }
}
