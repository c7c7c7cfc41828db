import Dispatch
import Synchronization
import Testing
import TestSupport
import VMM

/// Register offsets and bits, spelled out as the IA-PC HPET specification numbers them.
private enum Reg {
    static let capabilities: UInt64 = 0x000
    static let period: UInt64 = 0x004
    static let configuration: UInt64 = 0x010
    static let status: UInt64 = 0x020
    static let counter: UInt64 = 0x0F0

    static func config(_ n: Int) -> UInt64 { 0x100 + 0x20 * UInt64(n) }
    static func comparator(_ n: Int) -> UInt64 { config(n) + 0x08 }
    static func fsb(_ n: Int) -> UInt64 { config(n) + 0x10 }

    static let enableCounter: UInt64 = 1 << 0
    static let legacyRoute: UInt64 = 1 << 1

    static let level: UInt64 = 1 << 1
    static let interruptEnable: UInt64 = 1 << 2
    static let periodic: UInt64 = 1 << 3
    static let valueSet: UInt64 = 1 << 6
    static let fsbEnable: UInt64 = 1 << 14
    static func route(_ pin: Int) -> UInt64 { UInt64(pin) << 9 }

    static let writableTimerBits: UInt64 = 0x7E4E
    static let powerOnTimerConfig: UInt64 = 0xFF00_0000_0000_8010
}

/// 2^24 ticks per second.
private let ticksPerSecond: UInt64 = 1 << 24
private let second: UInt64 = 1_000_000_000

/// The first nanosecond at which `ticks` ticks have elapsed.
private func nanoseconds(ofTicks ticks: UInt64) -> UInt64 {
    (ticks * 1_953_125 + 32_767) / 32_768
}

/// A device, a manual clock and recorded lines, with register helpers relative to the HPET base.
private struct Rig {
    let clock = ManualClock()
    let lines = RecordingInterruptLines()
    let hpet: HPET
    let start: UInt64

    init() {
        hpet = HPET(clock: clock, lines: lines)
        start = clock.now
    }

    func read(_ offset: UInt64, size: Int = 8) -> UInt64 {
        hpet.mmioRead(HPET.baseAddress + offset, size: size)
    }

    func write(_ offset: UInt64, _ value: UInt64, size: Int = 8) {
        hpet.mmioWrite(HPET.baseAddress + offset, size: size, value: value)
    }

    func enableCounter() { write(Reg.configuration, Reg.enableCounter) }

    /// Moves the clock to `ticks` main-counter ticks after the rig was created.
    func advance(toTick ticks: UInt64) { clock.advance(to: start + nanoseconds(ofTicks: ticks)) }

    /// A one-shot (or, with `extra`, otherwise configured) timer `n` on I/O APIC pin `pin`.
    func program(_ n: Int, pin: Int = 24, extra: UInt64 = 0, comparator: UInt64) {
        write(Reg.config(n), Reg.interruptEnable | Reg.route(pin) | extra)
        write(Reg.comparator(n), comparator)
    }
}

@Suite struct HPETRegisterTests {
    private let rig = Rig()

    @Test func capabilitiesAdvertiseEightTimersLegacyRoutingAndA32BitCounter() {
        #expect(rig.hpet.capabilities == 0x8086_8701)
        #expect(rig.read(Reg.capabilities) == 0x038D_7EA4_8086_8701)
        #expect(rig.read(Reg.capabilities, size: 4) == 0x8086_8701)
        #expect(rig.read(Reg.period, size: 4) == HPET.periodFemtoseconds)
        #expect(HPET.periodFemtoseconds == 1_000_000_000_000_000 / ticksPerSecond)
    }

    @Test func capabilitiesIgnoreWrites() {
        rig.write(Reg.capabilities, 0)
        rig.write(Reg.period, 0, size: 4)
        #expect(rig.read(Reg.capabilities) == 0x038D_7EA4_8086_8701)
    }

    @Test func generalConfigurationKeepsOnlyEnableAndLegacyRoute() {
        rig.write(Reg.configuration, .max)
        #expect(rig.read(Reg.configuration) == 3)
        #expect(rig.read(Reg.configuration + 4, size: 4) == 0)
        rig.write(Reg.configuration, 0xFFFF_FFFE, size: 4)
        #expect(rig.read(Reg.configuration) == 2)
    }

    @Test func timersPowerOnWithCapabilitiesAndAllOnesComparators() {
        for n in 0..<HPET.timerCount {
            #expect(rig.read(Reg.config(n)) == Reg.powerOnTimerConfig)
            #expect(rig.read(Reg.config(n) + 4, size: 4) == 0xFF00_0000)
            #expect(rig.read(Reg.comparator(n)) == 0xFFFF_FFFF)
            #expect(rig.read(Reg.fsb(n)) == 0)
        }
    }

    @Test func timerReadOnlyBitsStay() {
        rig.write(Reg.config(3), .max)
        #expect(rig.read(Reg.config(3)) == 0xFF00_0000_0000_FE5E)
        rig.write(Reg.config(3), 0)
        #expect(rig.read(Reg.config(3)) == Reg.powerOnTimerConfig)
        rig.write(Reg.config(3) + 4, 0, size: 4)
        rig.write(Reg.config(3), 0xFFFF_FFFF, size: 4)
        #expect(rig.read(Reg.config(3)) == 0xFF00_0000_0000_FE5E)
    }

    @Test func routesOutsidePins24To31ReadBackAsUnconnected() {
        rig.write(Reg.config(0), Reg.route(5))
        #expect(rig.read(Reg.config(0)) == Reg.powerOnTimerConfig)
        rig.write(Reg.config(0), Reg.route(23))
        #expect(rig.read(Reg.config(0)) == Reg.powerOnTimerConfig)
        for pin in 24...31 {
            rig.write(Reg.config(0), Reg.route(pin))
            #expect(rig.read(Reg.config(0)) == Reg.powerOnTimerConfig | Reg.route(pin))
        }
    }

    @Test func narrowAndMisalignedAccessesReadAllOnesAndAreIgnored() {
        #expect(rig.read(Reg.capabilities, size: 1) == 0xFF)
        #expect(rig.read(Reg.capabilities, size: 2) == 0xFFFF)
        #expect(rig.read(Reg.capabilities + 2, size: 4) == 0xFFFF_FFFF)
        #expect(rig.read(Reg.period, size: 8) == .max)
        rig.write(Reg.configuration, 1, size: 1)
        rig.write(Reg.configuration, 1, size: 2)
        rig.write(Reg.configuration + 1, 1, size: 4)
        rig.write(Reg.comparator(0) + 4, 5, size: 8)
        #expect(rig.read(Reg.configuration) == 0)
        #expect(rig.read(Reg.comparator(0)) == 0xFFFF_FFFF)
    }

    @Test func reservedRegistersReadZero() {
        for offset: UInt64 in [0x008, 0x018, 0x028, 0x0E8, 0x0F8, 0x118, 0x138, 0x200, 0x3F8] {
            rig.write(offset, .max)
            #expect(rig.read(offset) == 0)
        }
    }

    @Test func comparatorAndFSBRouteReadBack() {
        rig.write(Reg.comparator(2), 0xDEAD_BEEF_1234_5678)
        #expect(rig.read(Reg.comparator(2)) == 0x1234_5678)
        rig.write(Reg.comparator(2) + 4, 0x9999, size: 4)
        #expect(rig.read(Reg.comparator(2)) == 0x1234_5678)
        rig.write(Reg.fsb(2), 0xFEE0_1000_0000_4031)
        #expect(rig.read(Reg.fsb(2)) == 0xFEE0_1000_0000_4031)
        rig.write(Reg.fsb(2) + 4, 0xFEE0_2000, size: 4)
        #expect(rig.read(Reg.fsb(2) + 4, size: 4) == 0xFEE0_2000)
        #expect(rig.read(Reg.fsb(2), size: 4) == 0x4031)
    }
}

@Suite struct HPETCounterTests {
    private let rig = Rig()

    @Test func counterReadBackTracksTheClockAt2To24Hz() {
        rig.enableCounter()
        rig.clock.advance(by: 59)
        #expect(rig.read(Reg.counter) == 0)
        rig.clock.advance(by: 1)
        #expect(rig.read(Reg.counter) == 1)
        rig.clock.advance(to: rig.start + second)
        #expect(rig.read(Reg.counter) == ticksPerSecond)
        rig.clock.advance(by: second / 2)
        #expect(rig.read(Reg.counter, size: 4) == 3 * ticksPerSecond / 2)
        #expect(rig.read(Reg.counter + 4, size: 4) == 0)
    }

    @Test func haltedCounterIsFrozenAndWritable() {
        rig.clock.advance(by: second)
        #expect(rig.read(Reg.counter) == 0)
        rig.write(Reg.counter, 0xABCD_0000_1234_5678)
        rig.write(Reg.counter + 4, 0xFFFF_FFFF, size: 4)
        rig.clock.advance(by: second)
        #expect(rig.read(Reg.counter) == 0x1234_5678)
        rig.write(Reg.counter, 0x55, size: 4)
        #expect(rig.read(Reg.counter) == 0x55)
    }

    @Test func disablingFreezesTheCounterAndEnablingResumesFromIt() {
        rig.enableCounter()
        rig.clock.advance(by: second)
        rig.write(Reg.configuration, 0)
        rig.clock.advance(by: 5 * second)
        #expect(rig.read(Reg.counter) == ticksPerSecond)
        rig.enableCounter()
        rig.clock.advance(by: second / 4)
        #expect(rig.read(Reg.counter) == ticksPerSecond + ticksPerSecond / 4)
    }

    @Test func counterWrapsAt32Bits() {
        rig.write(Reg.counter, 0xFFFF_FFF0)
        rig.enableCounter()
        rig.clock.advance(by: nanoseconds(ofTicks: 0x20))
        #expect(rig.read(Reg.counter) == 0x10)
    }

    @Test func counterWriteWhileCountingRestartsFromTheValue() {
        rig.enableCounter()
        rig.clock.advance(by: second)
        rig.write(Reg.counter, 100)
        rig.clock.advance(by: nanoseconds(ofTicks: 50))
        #expect(rig.read(Reg.counter) == 150)
    }
}

@Suite struct HPETTimerTests {
    private let rig = Rig()

    @Test func periodicTimerFires100TimesPerSecond() {
        let period = ticksPerSecond / 100
        rig.program(0, extra: Reg.periodic | Reg.valueSet, comparator: period)
        rig.enableCounter()
        rig.advance(toTick: ticksPerSecond)
        #expect(rig.lines.events == Array(repeating: .ioapicPulse(24), count: 100))
        #expect(rig.read(Reg.comparator(0)) == 101 * period)
    }

    @Test func periodicTimerDoesNotDriftAcrossTheCounterWrap() {
        let period = ticksPerSecond / 100
        rig.program(1, pin: 25, extra: Reg.periodic | Reg.valueSet, comparator: period)
        rig.enableCounter()
        rig.clock.advance(to: rig.start + 300 * second)
        #expect(rig.lines.count(.ioapicPulse(25)) == Int(300 * ticksPerSecond / period))
        #expect(rig.read(Reg.comparator(1)) == (30_001 * period) & 0xFFFF_FFFF)
    }

    @Test func periodicFiringsHappenExactlyAtEachComparatorValue() {
        rig.program(0, extra: Reg.periodic | Reg.valueSet, comparator: 1000)
        rig.write(Reg.comparator(0), 300)
        #expect(rig.read(Reg.config(0)) & Reg.valueSet == 0)
        #expect(rig.read(Reg.comparator(0)) == 1000)
        rig.enableCounter()
        for (tick, fired) in [(999, 0), (1000, 1), (1299, 1), (1300, 2), (1599, 2), (1600, 3)] as [(UInt64, Int)] {
            rig.advance(toTick: tick)
            #expect(rig.lines.events.count == fired, "at tick \(tick)")
        }
        #expect(rig.read(Reg.comparator(0)) == 1900)
    }

    @Test func valueSetWriteSetsComparatorAndPeriodTogether() {
        rig.program(0, extra: Reg.periodic | Reg.valueSet, comparator: 500)
        rig.enableCounter()
        rig.advance(toTick: 2000)
        #expect(rig.lines.events.count == 4)
        #expect(rig.read(Reg.comparator(0)) == 2500)
    }

    @Test func lateFiringFiresOnceAndSkipsTheMissedPeriods() {
        let clock = StalledClock()
        let lines = RecordingInterruptLines()
        let hpet = HPET(clock: clock, lines: lines)
        let base = HPET.baseAddress
        hpet.mmioWrite(base + Reg.config(0), size: 8, value: Reg.interruptEnable | Reg.route(24) | Reg.periodic | Reg.valueSet)
        hpet.mmioWrite(base + Reg.comparator(0), size: 8, value: 1000)
        hpet.mmioWrite(base + Reg.configuration, size: 8, value: Reg.enableCounter)
        clock.move(toTick: 3500)
        clock.runHandlers()
        #expect(lines.events == [.ioapicPulse(24)])
        #expect(hpet.mmioRead(base + Reg.comparator(0), size: 8) == 4000)
        clock.move(toTick: 3999)
        clock.runHandlers()
        #expect(lines.events.count == 1)
        clock.move(toTick: 4000)
        #expect(hpet.mmioRead(base + Reg.status, size: 8) == 0)
        #expect(lines.events == [.ioapicPulse(24), .ioapicPulse(24)])
    }

    @Test func stoppingTheCounterFiresADeadlineThatPassedUnserviced() {
        let clock = StalledClock()
        let lines = RecordingInterruptLines()
        let hpet = HPET(clock: clock, lines: lines)
        let base = HPET.baseAddress
        hpet.mmioWrite(base + Reg.config(2), size: 8, value: Reg.interruptEnable | Reg.route(26))
        hpet.mmioWrite(base + Reg.comparator(2), size: 8, value: 100)
        hpet.mmioWrite(base + Reg.configuration, size: 8, value: Reg.enableCounter)
        clock.move(toTick: 200)
        hpet.mmioWrite(base + Reg.configuration, size: 8, value: 0)
        #expect(lines.events == [.ioapicPulse(26)])
        #expect(hpet.mmioRead(base + Reg.counter, size: 8) == 200)
    }

    @Test func oneShotTimerFiresOncePerCounterWrap() {
        rig.program(0, comparator: ticksPerSecond)
        rig.enableCounter()
        rig.clock.advance(to: rig.start + 2 * second)
        #expect(rig.lines.events == [.ioapicPulse(24)])
        rig.clock.advance(to: rig.start + 257 * second - 1)
        #expect(rig.lines.events.count == 1)
        rig.clock.advance(by: 1)
        #expect(rig.lines.events == [.ioapicPulse(24), .ioapicPulse(24)])
        #expect(rig.read(Reg.comparator(0)) == ticksPerSecond)
    }

    @Test func oneShotComparatorBehindTheCounterWaitsForTheWrap() {
        rig.enableCounter()
        rig.advance(toTick: 100)
        rig.program(0, comparator: 50)
        rig.advance(toTick: 1 << 32)
        #expect(rig.lines.events.isEmpty)
        rig.advance(toTick: (1 << 32) + 50)
        #expect(rig.lines.events == [.ioapicPulse(24)])
    }

    @Test func comparatorEqualToTheCounterMatchesWhenCountingStarts() {
        rig.write(Reg.counter, 7000)
        rig.program(0, comparator: 7000)
        rig.enableCounter()
        #expect(rig.lines.events == [.ioapicPulse(24)])
    }

    @Test func leavingPeriodicModeDropsThePeriod() {
        rig.program(0, extra: Reg.periodic | Reg.valueSet, comparator: 1000)
        rig.enableCounter()
        rig.advance(toTick: 1000)
        rig.write(Reg.config(0), Reg.interruptEnable | Reg.route(24))
        #expect(rig.read(Reg.comparator(0)) == 2000)
        rig.advance(toTick: 2000)
        rig.advance(toTick: 3000)
        #expect(rig.lines.events.count == 2)
        rig.advance(toTick: 2000 + (1 << 32))
        #expect(rig.lines.events.count == 3)
    }

    @Test func disabledInterruptDeliversNothingWhileThePeriodicComparatorAdvances() {
        rig.write(Reg.config(0), Reg.periodic | Reg.valueSet | Reg.route(24))
        rig.write(Reg.comparator(0), 1000)
        rig.enableCounter()
        rig.advance(toTick: 5500)
        #expect(rig.lines.events.isEmpty)
        #expect(rig.read(Reg.comparator(0)) == 6000)
        rig.write(Reg.config(0), Reg.interruptEnable | Reg.periodic | Reg.route(24))
        rig.advance(toTick: 6000)
        #expect(rig.lines.events == [.ioapicPulse(24)])
    }

    @Test func haltedCounterFiresNothingAndResumesFromTheFrozenValue() {
        rig.program(0, comparator: 1000)
        rig.enableCounter()
        rig.advance(toTick: 600)
        rig.write(Reg.configuration, 0)
        rig.clock.advance(by: 10 * second)
        #expect(rig.lines.events.isEmpty)
        let resumed = rig.clock.now
        rig.enableCounter()
        rig.clock.advance(to: resumed + nanoseconds(ofTicks: 399))
        #expect(rig.lines.events.isEmpty)
        rig.clock.advance(to: resumed + nanoseconds(ofTicks: 400))
        #expect(rig.lines.events == [.ioapicPulse(24)])
    }
}

@Suite struct HPETInterruptTests {
    private let rig = Rig()

    @Test func levelTimerSetsStatusAndHoldsThePinUntilWriteOneToClear() {
        rig.program(0, pin: 30, extra: Reg.level | Reg.periodic | Reg.valueSet, comparator: 1000)
        rig.enableCounter()
        rig.advance(toTick: 3500)
        #expect(rig.lines.events == [.ioapicAssert(30)])
        #expect(rig.read(Reg.status) == 1)
        rig.write(Reg.status, 0xFE)
        #expect(rig.read(Reg.status) == 1)
        rig.write(Reg.status, 1)
        #expect(rig.lines.events == [.ioapicAssert(30), .ioapicDeassert(30)])
        #expect(rig.read(Reg.status) == 0)
        rig.advance(toTick: 4000)
        #expect(rig.lines.events == [.ioapicAssert(30), .ioapicDeassert(30), .ioapicAssert(30)])
        #expect(rig.read(Reg.status, size: 4) == 1)
    }

    @Test func edgeTimersLeaveTheStatusClear() {
        rig.program(5, pin: 29, comparator: 10)
        rig.enableCounter()
        rig.advance(toTick: 10)
        #expect(rig.lines.events == [.ioapicPulse(29)])
        #expect(rig.read(Reg.status) == 0)
    }

    @Test(arguments: [
        Reg.level | Reg.route(31),
        Reg.interruptEnable | Reg.route(31),
        Reg.interruptEnable | Reg.level | Reg.route(28),
        Reg.interruptEnable | Reg.level | Reg.route(31) | Reg.fsbEnable,
    ])
    func reconfiguringALevelTimerAwayReleasesItsPin(config: UInt64) {
        rig.program(7, pin: 31, extra: Reg.level, comparator: 10)
        rig.enableCounter()
        rig.advance(toTick: 10)
        rig.write(Reg.config(7), config)
        #expect(rig.lines.events == [.ioapicAssert(31), .ioapicDeassert(31)])
        #expect(rig.read(Reg.status) == 0)
    }

    @Test func levelTimerKeepsItsPinAcrossUnrelatedConfigurationWrites() {
        rig.program(7, pin: 31, extra: Reg.level, comparator: 10)
        rig.enableCounter()
        rig.advance(toTick: 10)
        rig.write(Reg.config(7), Reg.interruptEnable | Reg.level | Reg.route(31) | Reg.periodic)
        #expect(rig.lines.events == [.ioapicAssert(31)])
        #expect(rig.read(Reg.status) == 1 << 7)
    }

    @Test func unconnectedTimerDeliversNothing() {
        rig.program(0, pin: 5, extra: Reg.level, comparator: 10)
        rig.enableCounter()
        rig.advance(toTick: 100)
        #expect(rig.lines.events.isEmpty)
        #expect(rig.read(Reg.status) == 0)
    }

    @Test func fsbDeliversTheProgrammedMessage() {
        let message = MSIMessage(vector: 0x41, destination: 3)
        rig.write(Reg.fsb(4), UInt64(message.data), size: 4)
        rig.write(Reg.fsb(4) + 4, message.address, size: 4)
        rig.program(4, extra: Reg.fsbEnable | Reg.level, comparator: 10)
        rig.enableCounter()
        rig.advance(toTick: 10)
        #expect(rig.lines.events == [.msi(address: message.address, data: message.data)])
        #expect(rig.read(Reg.status) == 0)
        rig.write(Reg.fsb(4), 0xFEE0_0000_0000_0052)
        rig.write(Reg.comparator(4), 20)
        rig.advance(toTick: 20)
        #expect(rig.lines.events.last == .msi(address: 0xFEE0_0000, data: 0x52))
    }

    @Test func legacyReplacementReroutesTimers0And1() {
        rig.program(0, pin: 24, comparator: 10)
        rig.program(1, pin: 25, comparator: 20)
        rig.program(2, pin: 26, comparator: 30)
        rig.write(Reg.configuration, Reg.enableCounter | Reg.legacyRoute)
        rig.advance(toTick: 30)
        #expect(rig.lines.events == [.isaPulse(0, 2), .isaPulse(8, 8), .ioapicPulse(26)])
        rig.lines.clear()
        rig.write(Reg.configuration, Reg.enableCounter)
        rig.advance(toTick: (1 << 32) + 30)
        #expect(rig.lines.events == [.ioapicPulse(24), .ioapicPulse(25), .ioapicPulse(26)])
    }

    @Test func legacyReplacementOverridesFSBDelivery() {
        rig.write(Reg.fsb(0), 0xFEE0_0000_0000_0030)
        rig.program(0, extra: Reg.fsbEnable, comparator: 10)
        rig.write(Reg.configuration, Reg.enableCounter | Reg.legacyRoute)
        rig.advance(toTick: 10)
        #expect(rig.lines.events == [.isaPulse(0, 2)])
    }

    @Test func legacyLevelTimerAssertsTheISALineUntilCleared() {
        rig.program(1, extra: Reg.level, comparator: 10)
        rig.write(Reg.configuration, Reg.enableCounter | Reg.legacyRoute)
        rig.advance(toTick: 10)
        #expect(rig.lines.events == [.isaAssert(8, 8)])
        #expect(rig.read(Reg.status) == 2)
        rig.write(Reg.status, 2)
        #expect(rig.lines.events == [.isaAssert(8, 8), .isaDeassert(8, 8)])
    }

    @Test func leavingLegacyReplacementReleasesAHeldLegacyLine() {
        rig.program(0, extra: Reg.level, comparator: 10)
        rig.write(Reg.configuration, Reg.enableCounter | Reg.legacyRoute)
        rig.advance(toTick: 10)
        rig.write(Reg.configuration, Reg.enableCounter)
        #expect(rig.lines.events == [.isaAssert(0, 2), .isaDeassert(0, 2)])
        #expect(rig.read(Reg.status) == 0)
    }

    @Test func resetRestoresPowerOnStateAndReleasesHeldLines() {
        rig.program(3, pin: 27, extra: Reg.level | Reg.periodic | Reg.valueSet, comparator: 10)
        rig.write(Reg.fsb(3), 0x1234)
        rig.write(Reg.configuration, Reg.enableCounter | Reg.legacyRoute)
        rig.advance(toTick: 10)
        rig.hpet.reset()
        #expect(rig.lines.events == [.ioapicAssert(27), .ioapicDeassert(27)])
        #expect(rig.read(Reg.configuration) == 0)
        #expect(rig.read(Reg.status) == 0)
        #expect(rig.read(Reg.counter) == 0)
        #expect(rig.read(Reg.config(3)) == Reg.powerOnTimerConfig)
        #expect(rig.read(Reg.comparator(3)) == 0xFFFF_FFFF)
        #expect(rig.read(Reg.fsb(3)) == 0)
        rig.clock.advance(by: 300 * second)
        #expect(rig.lines.events.count == 2)
    }
}

@Suite struct HPETRandomTrafficTests {
    @Test func randomTrafficKeepsTheRegisterInvariants() {
        let rig = Rig()
        var random = SeededGenerator(seed: 0x4850_4554)
        var held: [String: Int] = [:]
        let offsets: [UInt64] = [0x000, 0x004, 0x010, 0x014, 0x020, 0x024, 0x0F0, 0x0F4]
            + (0..<HPET.timerCount).flatMap { n in [0, 4, 8, 0xC, 0x10, 0x14, 0x18].map { Reg.config(n) + $0 } }

        func account() {
            for event in rig.lines.events {
                switch event {
                case let .isaAssert(irq, pin): held["isa \(irq) \(String(describing: pin))", default: 0] += 1
                case let .isaDeassert(irq, pin): held["isa \(irq) \(String(describing: pin))", default: 0] -= 1
                case let .ioapicAssert(pin): held["pin \(pin)", default: 0] += 1
                case let .ioapicDeassert(pin): held["pin \(pin)", default: 0] -= 1
                case let .ioapicPulse(pin): #expect((24...31).contains(pin))
                case let .isaPulse(irq, pin): #expect((irq == 0 && pin == 2) || (irq == 8 && pin == 8))
                case .msi: break
                }
            }
            rig.lines.clear()
            #expect(held.values.allSatisfy { $0 >= 0 })
        }

        /// What an advance may deliver: each enabled timer's own route, as the registers read now.
        func deliverable() -> [RecordingInterruptLines.Event] {
            let legacy = rig.read(Reg.configuration) & Reg.legacyRoute != 0
            return (0..<HPET.timerCount).compactMap { n in
                let config = rig.read(Reg.config(n))
                guard config & Reg.interruptEnable != 0 else { return nil }
                let level = config & Reg.level != 0
                if legacy && n < 2 {
                    let (irq, pin) = n == 0 ? (0, 2) : (8, 8)
                    return level ? .isaAssert(irq, pin) : .isaPulse(irq, pin)
                }
                if config & Reg.fsbEnable != 0 {
                    let fsb = rig.read(Reg.fsb(n))
                    return .msi(address: fsb >> 32, data: UInt32(truncatingIfNeeded: fsb))
                }
                let pin = Int((config >> 9) & 0x1F)
                guard pin >= 24 else { return nil }
                return level ? .ioapicAssert(pin) : .ioapicPulse(pin)
            }
        }

        func checkInvariants() {
            #expect(rig.read(Reg.capabilities) == 0x038D_7EA4_8086_8701)
            #expect(rig.read(Reg.configuration) & ~3 == 0)
            #expect(rig.read(Reg.counter) >> 32 == 0)
            let legacy = rig.read(Reg.configuration) & Reg.legacyRoute != 0
            let status = rig.read(Reg.status)
            #expect(status & ~0xFF == 0)
            for n in 0..<HPET.timerCount {
                let config = rig.read(Reg.config(n))
                #expect(config & ~Reg.writableTimerBits == Reg.powerOnTimerConfig)
                let pin = (config >> 9) & 0x1F
                #expect(pin == 0 || (24...31).contains(pin))
                #expect(rig.read(Reg.comparator(n)) >> 32 == 0)
                if status & (1 << UInt64(n)) != 0 {
                    #expect(config & (Reg.interruptEnable | Reg.level) == Reg.interruptEnable | Reg.level)
                    #expect((legacy && n < 2) || config & Reg.fsbEnable == 0)
                }
            }
            account()
            #expect(held.values.reduce(0, +) == status.nonzeroBitCount)
        }

        for step in 0..<100_000 {
            let dice = random.next() % 100
            if dice < 20 {
                let allowed = deliverable()
                let halted = rig.read(Reg.configuration) & Reg.enableCounter == 0
                let counter = rig.read(Reg.counter)
                account()
                rig.clock.advance(by: random.next() % 10_000_000)
                for event in rig.lines.events { #expect(allowed.contains(event)) }
                if halted { #expect(rig.read(Reg.counter) == counter) }
                account()
                continue
            }
            let offset = random.next() % 8 == 0 ? random.next() % HPET.size : offsets[Int(random.next() % UInt64(offsets.count))]
            let size = [1, 2, 4, 8, 4, 8, 4, 8][Int(random.next() % 8)]
            let valid = (size == 4 || size == 8) && offset % UInt64(size) == 0
            if dice < 65 {
                let value: UInt64 = switch random.next() % 4 {
                case 0: random.next()
                case 1: 10_000 + random.next() % 200_000
                case 2: rig.read(Reg.counter) + random.next() % 200_000
                default: random.next() & 0x7E4F | Reg.interruptEnable | Reg.route(24 + Int(random.next() % 8))
                }
                rig.hpet.mmioWrite(HPET.baseAddress + offset, size: size, value: value)
            } else {
                let value = rig.hpet.mmioRead(HPET.baseAddress + offset, size: size)
                let allOnes: UInt64 = size == 8 ? .max : (1 << UInt64(8 * size)) - 1
                if !valid { #expect(value == allOnes) }
                if valid && size == 4 { #expect(value >> 32 == 0) }
            }
            if step % 50 == 0 { checkInvariants() }
            if step % 40_000 == 39_999 { rig.hpet.reset() }
        }
        checkInvariants()
        rig.hpet.reset()
        account()
        #expect(held.values.allSatisfy { $0 == 0 })
        #expect(rig.read(Reg.status) == 0)
    }
}

@Suite struct HPETConcurrencyTests {
    @Test func concurrentAccessesAndClockAdvancesKeepLinesBalanced() {
        let rig = Rig()
        rig.program(0, pin: 24, extra: Reg.level | Reg.periodic | Reg.valueSet, comparator: 20_000)
        rig.program(1, pin: 25, extra: Reg.periodic | Reg.valueSet, comparator: 30_000)
        rig.enableCounter()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var random = SeededGenerator(seed: UInt64(worker))
            for _ in 0..<5_000 {
                if worker == 0 {
                    rig.clock.advance(by: random.next() % 200_000)
                    continue
                }
                let offset = [Reg.status, Reg.counter, Reg.comparator(2), Reg.config(2)][Int(random.next() % 4)]
                if random.next() % 2 == 0 {
                    _ = rig.read(offset)
                } else {
                    rig.write(offset, random.next() & 0xFF)
                }
            }
        }
        var held = 0
        for event in rig.lines.events {
            switch event {
            case .ioapicAssert: held += 1
            case .ioapicDeassert: held -= 1
            default: break
            }
            #expect((0...1).contains(held))
        }
        #expect(held == rig.read(Reg.status).nonzeroBitCount)
        #expect(rig.lines.count(.ioapicPulse(25)) > 0)
    }
}

/// A clock whose timers never fire by themselves: tests run the handlers by hand, late, to see
/// how the device copes with a clock thread that falls behind.
private final class StalledClock: Clock {
    private final class IdleTimer: ClockTimer {
        func arm(at deadline: UInt64) {}
        func cancel() {}
    }

    private static let start: UInt64 = 1_000_000_000
    private let state = Mutex<(now: UInt64, handlers: [@Sendable () -> Void])>((start, []))

    var now: UInt64 { state.withLock { $0.now } }

    /// Sets the time to `ticks` main-counter ticks after creation.
    func move(toTick ticks: UInt64) { state.withLock { $0.now = Self.start + nanoseconds(ofTicks: ticks) } }

    func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer {
        state.withLock { $0.handlers.append(handler) }
        return IdleTimer()
    }

    func runHandlers() {
        for handler in state.withLock({ $0.handlers }) { handler() }
    }
}
