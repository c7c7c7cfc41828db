import Synchronization
import Testing
import TestSupport
@testable import VMM

/// Nanoseconds until `ticks` PIT input clocks have passed, rounded up as the device rounds.
private func nanoseconds(ticks: UInt64) -> UInt64 {
    (ticks * 1_000_000_000 + PIT.frequency - 1) / PIT.frequency
}

/// A PIT on a manual clock; `start` is when the fixture was made, and tick times are relative to it
/// unless a test moves its own reference.
private final class PITFixture {
    let clock = ManualClock()
    let lines = RecordingInterruptLines()
    let pit: PIT
    let start: UInt64

    init() {
        pit = PIT(clock: clock, lines: lines)
        start = clock.now
    }

    var pulses: Int { lines.count(.isaPulse(0, 2)) }

    func out(_ port: UInt16, _ value: UInt8) {
        pit.portWrite(port, size: 1, value: UInt32(value))
    }

    func inb(_ port: UInt16) -> UInt8 {
        let value = pit.portRead(port, size: 1)
        #expect(value <= 0xFF)
        return UInt8(truncatingIfNeeded: value)
    }

    /// Control word for `channel`, LSB-then-MSB access, `mode`, then the two count bytes.
    func program(channel: UInt8, mode: UInt8, count: UInt16) {
        out(0x43, channel << 6 | 0x30 | mode << 1)
        writeCount(channel: channel, count)
    }

    func writeCount(channel: UInt8, _ count: UInt16) {
        out(0x40 + UInt16(channel), UInt8(truncatingIfNeeded: count))
        out(0x40 + UInt16(channel), UInt8(truncatingIfNeeded: count >> 8))
    }

    /// Moves to `ticks` input clocks after `reference` (the fixture's start by default).
    func advance(toTick ticks: UInt64, from reference: UInt64? = nil) {
        clock.advance(to: (reference ?? start) + nanoseconds(ticks: ticks))
    }

    func latchedCount(channel: UInt8) -> UInt16 {
        out(0x43, channel << 6)
        let low = inb(0x40 + UInt16(channel))
        let high = inb(0x40 + UInt16(channel))
        return UInt16(high) << 8 | UInt16(low)
    }

    func status(channel: UInt8) -> UInt8 {
        out(0x43, 0xE0 | 2 << channel)
        return inb(0x40 + UInt16(channel))
    }

    var channel2Output: Bool { inb(0x61) & 0x20 != 0 }

    func setGate2(_ on: Bool) {
        out(0x61, on ? 0x01 : 0x00)
    }
}

/// A clock whose timer fires only when the test says so, to model a late or stale firing.
private final class SteppedClock: Clock {
    private final class Timer: ClockTimer {
        let clock: SteppedClock
        init(clock: SteppedClock) { self.clock = clock }
        func arm(at deadline: UInt64) { clock.state.withLock { $0.deadline = deadline } }
        func cancel() { clock.state.withLock { $0.deadline = nil } }
    }

    private struct State {
        var now: UInt64 = 1_000_000_000
        var deadline: UInt64?
        var handler: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    var now: UInt64 {
        get { state.withLock { $0.now } }
        set { state.withLock { $0.now = newValue } }
    }

    var deadline: UInt64? { state.withLock { $0.deadline } }

    func makeTimer(_ handler: @escaping @Sendable () -> Void) -> any ClockTimer {
        state.withLock { $0.handler = handler }
        return Timer(clock: self)
    }

    /// Runs the timer's handler now, due or not, as a real clock thread might.
    func fire() {
        let handler = state.withLock { $0.handler }
        handler?()
    }
}

/// Records the clock time of every interrupt event.
private final class TimedLines: InterruptLines {
    let clock: any Clock
    private let recorded = Mutex<[(event: RecordingInterruptLines.Event, time: UInt64)]>([])

    init(clock: any Clock) { self.clock = clock }

    var events: [(event: RecordingInterruptLines.Event, time: UInt64)] { recorded.withLock { $0 } }

    private func record(_ event: RecordingInterruptLines.Event) {
        let now = clock.now
        recorded.withLock { $0.append((event, now)) }
    }

    func isaAssert(_ irq: Int, ioapicPin: Int?) { record(.isaAssert(irq, ioapicPin)) }
    func isaDeassert(_ irq: Int, ioapicPin: Int?) { record(.isaDeassert(irq, ioapicPin)) }
    func isaPulse(_ irq: Int, ioapicPin: Int?) { record(.isaPulse(irq, ioapicPin)) }
    func ioapicAssert(_ pin: Int) { record(.ioapicAssert(pin)) }
    func ioapicDeassert(_ pin: Int) { record(.ioapicDeassert(pin)) }
    func ioapicPulse(_ pin: Int) { record(.ioapicPulse(pin)) }
    func sendMSI(address: UInt64, data: UInt32) { record(.msi(address: address, data: data)) }
}

@Suite struct PITInterruptTests {
    @Test func portsAreTheClassicPCOnes() {
        #expect(PIT.ports == 0x40...0x43)
        #expect(PIT.nmiStatusPort == 0x61)
        #expect(PIT.frequency == 1_193_182)
    }

    @Test func mode2AtDivisor1193GivesExactly1000PulsesPerSimulatedSecondWithoutDrift() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1193)
        for second in UInt64(1)...6 {
            fixture.clock.advance(to: fixture.start + second * 1_000_000_000)
            #expect(fixture.pulses == 1000 * Int(second))
        }
        fixture.clock.advance(to: fixture.start + 100 * 1_000_000_000)
        #expect(fixture.pulses == Int(100 * PIT.frequency / 1193))
        #expect(fixture.lines.events.allSatisfy { $0 == .isaPulse(0, 2) })
    }

    @Test func mode2AtDivisor65536Gives18Or19PulsesPerSecondAndNoDrift() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 0)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.pulses == 18)
        for _ in 0..<60 {
            let before = fixture.pulses
            fixture.clock.advance(by: 1_000_000_000)
            #expect([18, 19].contains(fixture.pulses - before))
        }
        fixture.clock.advance(to: fixture.start + 1000 * 1_000_000_000)
        #expect(fixture.pulses == Int(1000 * PIT.frequency / 65536))
    }

    @Test func mode3PulsesOncePerPeriodAtTheRisingEdge() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 3, count: 1000)
        fixture.clock.advance(to: fixture.start + nanoseconds(ticks: 1000) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 1)
        fixture.advance(toTick: 5000)
        #expect(fixture.pulses == 5)
    }

    @Test func mode0PulsesOnceAtTerminalCount() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 0, count: 500)
        fixture.clock.advance(to: fixture.start + nanoseconds(ticks: 500) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 500)
        #expect(fixture.pulses == 1)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.pulses == 1)
        #expect(fixture.clock.armedTimerCount == 0)
    }

    @Test func mode4PulsesOnceAtTerminalCount() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 4, count: 300)
        fixture.clock.advance(to: fixture.start + nanoseconds(ticks: 300) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 300)
        #expect(fixture.pulses == 1)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.pulses == 1)
    }

    @Test func countOfZeroMeans65536() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 0, count: 0)
        fixture.clock.advance(to: fixture.start + nanoseconds(ticks: 65536) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 65536)
        #expect(fixture.pulses == 1)
    }

    @Test func rewritingAMode0CountRestartsTheCountdown() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 0, count: 1000)
        fixture.advance(toTick: 600)
        let reload = fixture.clock.now
        fixture.writeCount(channel: 0, 1000)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 0)
        fixture.clock.advance(to: reload + nanoseconds(ticks: 1000) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 1000, from: reload)
        #expect(fixture.pulses == 1)
    }

    @Test func aNewControlWordStopsChannel0UntilACountIsWritten() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.advance(toTick: 3500)
        #expect(fixture.pulses == 3)
        fixture.out(0x43, 0x34)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.pulses == 3)
        #expect(fixture.clock.armedTimerCount == 0)
        let restart = fixture.clock.now
        fixture.writeCount(channel: 0, 1000)
        fixture.advance(toTick: 2000, from: restart)
        #expect(fixture.pulses == 5)
    }

    @Test func mode2NewCountTakesEffectAtTheEndOfTheCurrentPeriod() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.advance(toTick: 500)
        fixture.writeCount(channel: 0, 2000)
        #expect(fixture.status(channel: 0) & 0x40 != 0)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 1)
        #expect(fixture.status(channel: 0) & 0x40 == 0)
        let switchTime = fixture.start + nanoseconds(ticks: 1000)
        fixture.clock.advance(to: switchTime + nanoseconds(ticks: 2000) - 1)
        #expect(fixture.pulses == 1)
        fixture.advance(toTick: 2000, from: switchTime)
        #expect(fixture.pulses == 2)
    }

    @Test func mode3NewCountWrittenInTheHighHalfTakesEffectAtTheHalfCycle() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 3, count: 1000)
        fixture.advance(toTick: 100)
        fixture.writeCount(channel: 0, 2000)
        // The old count's rising edge at tick 1000 never comes: at tick 500 the new count starts
        // in its 1000-tick low half.
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 0)
        let switchTime = fixture.start + nanoseconds(ticks: 500)
        fixture.clock.advance(to: switchTime + nanoseconds(ticks: 1000) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 1000, from: switchTime)
        #expect(fixture.pulses == 1)
    }

    @Test func mode3NewCountWrittenInTheLowHalfTakesEffectAtTheEndOfThePeriod() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 3, count: 1000)
        fixture.advance(toTick: 600)
        fixture.writeCount(channel: 0, 2000)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 1)
        let switchTime = fixture.start + nanoseconds(ticks: 1000)
        fixture.clock.advance(to: switchTime + nanoseconds(ticks: 2000) - 1)
        #expect(fixture.pulses == 1)
        fixture.advance(toTick: 2000, from: switchTime)
        #expect(fixture.pulses == 2)
    }

    @Test func channels1And2NeverInterrupt() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.program(channel: 1, mode: 2, count: 100)
        fixture.program(channel: 2, mode: 3, count: 100)
        fixture.out(0x43, 0x90)
        fixture.out(0x42, 10)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.lines.events.isEmpty)
        #expect(fixture.clock.armedTimerCount == 0)
    }

    @Test func interruptsAreNeverCloserThanTheMinimumInterval() {
        let clock = ManualClock()
        let lines = TimedLines(clock: clock)
        let pit = PIT(clock: clock, lines: lines)
        pit.portWrite(0x43, size: 1, value: 0x34)
        pit.portWrite(0x40, size: 1, value: 2)
        pit.portWrite(0x40, size: 1, value: 0)
        clock.advance(by: 10_000_000)
        let times = lines.events.map(\.time)
        #expect((99...100).contains(times.count))
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= PIT.minimumInterruptInterval })
    }

    @Test func aLateFiringDeliversOnePulseAndKeepsThePhase() throws {
        let clock = SteppedClock()
        let lines = RecordingInterruptLines()
        let pit = PIT(clock: clock, lines: lines)
        let start = clock.now
        pit.portWrite(0x43, size: 1, value: 0x34)
        pit.portWrite(0x40, size: 1, value: 0xA9)
        pit.portWrite(0x40, size: 1, value: 0x04)
        #expect(clock.deadline == start + nanoseconds(ticks: 1193))
        clock.now = start + nanoseconds(ticks: 1193 * 10 + 600)
        clock.fire()
        #expect(lines.count(.isaPulse(0, 2)) == 1)
        #expect(clock.deadline == start + nanoseconds(ticks: 1193 * 11))
    }

    @Test func aFiringBeforeTheArmedDeadlineIsIgnored() {
        let clock = SteppedClock()
        let lines = RecordingInterruptLines()
        let pit = PIT(clock: clock, lines: lines)
        let start = clock.now
        pit.portWrite(0x43, size: 1, value: 0x30)
        pit.portWrite(0x40, size: 1, value: 0xE8)
        pit.portWrite(0x40, size: 1, value: 0x03)
        clock.now = start + nanoseconds(ticks: 999)
        clock.fire()
        #expect(lines.events.isEmpty)
        #expect(clock.deadline == start + nanoseconds(ticks: 1000))
        clock.now = start + nanoseconds(ticks: 1000)
        clock.fire()
        clock.fire()
        #expect(lines.count(.isaPulse(0, 2)) == 1)
    }

    @Test func aTerminalCountAlreadyDueSurvivesReprogramming() {
        let clock = SteppedClock()
        let lines = RecordingInterruptLines()
        let pit = PIT(clock: clock, lines: lines)
        let start = clock.now
        pit.portWrite(0x43, size: 1, value: 0x30)
        pit.portWrite(0x40, size: 1, value: 100)
        pit.portWrite(0x40, size: 1, value: 0)
        clock.now = start + nanoseconds(ticks: 150)
        pit.portWrite(0x43, size: 1, value: 0x30)
        clock.fire()
        #expect(lines.count(.isaPulse(0, 2)) == 1)
        #expect(clock.deadline == nil)
    }

    @Test func resetStopsInterruptsAndRestoresThePowerOnState() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.out(0x61, 0x03)
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 1)
        fixture.pit.reset()
        #expect(fixture.clock.armedTimerCount == 0)
        fixture.clock.advance(by: 1_000_000_000)
        #expect(fixture.pulses == 1)
        #expect(fixture.inb(0x61) & 0x03 == 0)
        #expect(fixture.status(channel: 0) == 0x70)
    }
}

@Suite struct PITCounterTests {
    @Test func theRunningCountIsDerivedFromTheClock() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.advance(toTick: 250)
        #expect(fixture.latchedCount(channel: 0) == 750)
        fixture.advance(toTick: 1999)
        #expect(fixture.latchedCount(channel: 0) == 1)
        fixture.advance(toTick: 2000)
        #expect(fixture.latchedCount(channel: 0) == 1000)
    }

    @Test func aMode0CountWrapsPastTerminalCount() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 0, count: 100)
        fixture.advance(toTick: 150)
        #expect(fixture.latchedCount(channel: 1) == 65486)
    }

    @Test func mode3CountsDownByTwoInEachHalf() {
        let even = PITFixture()
        even.program(channel: 1, mode: 3, count: 10)
        for (tick, value) in [(UInt64(1), UInt16(8)), (4, 2), (5, 10), (6, 8), (10, 10)] {
            even.advance(toTick: tick)
            #expect(even.latchedCount(channel: 1) == value, "tick \(tick)")
        }
        let odd = PITFixture()
        odd.program(channel: 1, mode: 3, count: 9)
        for (tick, value) in [(UInt64(0), UInt16(9)), (1, 8), (2, 6), (4, 2), (5, 9), (6, 6), (8, 2), (9, 9)] {
            odd.advance(toTick: tick)
            #expect(odd.latchedCount(channel: 1) == value, "tick \(tick)")
        }
    }

    @Test func freeRunningWordReadsAlternateLowAndHighBytes() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.program(channel: 2, mode: 0, count: 0x1234)
        #expect(fixture.inb(0x42) == 0x34)
        #expect(fixture.inb(0x42) == 0x12)
        fixture.advance(toTick: 0x34)
        #expect(fixture.inb(0x42) == 0x00)
        #expect(fixture.inb(0x42) == 0x12)
    }

    @Test func lsbOnlyAccessWritesAndReadsTheLowByte() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x14)
        fixture.out(0x40, 100)
        fixture.advance(toTick: 10)
        #expect(fixture.inb(0x40) == 90)
        #expect(fixture.inb(0x40) == 90)
        fixture.out(0x43, 0x00)
        fixture.advance(toTick: 20)
        #expect(fixture.inb(0x40) == 90)
        #expect(fixture.inb(0x40) == 80)
        fixture.advance(toTick: 100)
        #expect(fixture.pulses == 1)
    }

    @Test func msbOnlyAccessWritesAndReadsTheHighByte() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x24)
        fixture.out(0x40, 2)
        fixture.advance(toTick: 12)
        #expect(fixture.inb(0x40) == 1)
        #expect(fixture.inb(0x40) == 1)
        fixture.clock.advance(to: fixture.start + nanoseconds(ticks: 512) - 1)
        #expect(fixture.pulses == 0)
        fixture.advance(toTick: 512)
        #expect(fixture.pulses == 1)
    }

    @Test func aCounterLatchHoldsTheCountUntilBothBytesAreRead() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.advance(toTick: 100)
        fixture.out(0x43, 0x00)
        fixture.advance(toTick: 200)
        fixture.out(0x43, 0x00)
        fixture.advance(toTick: 300)
        #expect(fixture.inb(0x40) == UInt8(900 & 0xFF))
        #expect(fixture.inb(0x40) == UInt8(900 >> 8))
        #expect(fixture.latchedCount(channel: 0) == 700)
    }

    @Test func anUnprogrammedCounterRunsDownThrough16Bits() {
        let fixture = PITFixture()
        #expect(fixture.latchedCount(channel: 1) == 0)
        fixture.advance(toTick: 10)
        #expect(fixture.latchedCount(channel: 1) == 65526)
    }

    @Test func aControlWordKeepsTheCountRunningWithoutLoading() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 2, count: 1000)
        fixture.advance(toTick: 100)
        let rewritten = fixture.clock.now
        fixture.out(0x43, 0x74)
        fixture.advance(toTick: 150)
        #expect(fixture.latchedCount(channel: 1) == UInt16(900 - PIT.ticks(in: fixture.clock.now - rewritten)))
    }

    @Test func nonByteAccessesReadAllOnesAndWritesAreIgnored() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 1000)
        for port in PIT.ports {
            #expect(fixture.pit.portRead(port, size: 2) == 0xFFFF_FFFF)
            #expect(fixture.pit.portRead(port, size: 4) == 0xFFFF_FFFF)
        }
        #expect(fixture.pit.portRead(0x43, size: 1) == 0xFFFF_FFFF)
        fixture.pit.portWrite(0x43, size: 2, value: 0x30)
        fixture.pit.portWrite(0x40, size: 4, value: 0)
        #expect(fixture.status(channel: 0) == 0x34 | 0x80)
        fixture.advance(toTick: 1000)
        #expect(fixture.pulses == 1)
    }
}

@Suite struct PITStatusTests {
    @Test func statusReportsOutputNullCountAccessModeAndBCD() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x77)
        #expect(fixture.status(channel: 1) == 0xF7)
        fixture.writeCount(channel: 1, 100)
        #expect(fixture.status(channel: 1) == 0xB7)
        fixture.advance(toTick: 50)
        #expect(fixture.status(channel: 1) == 0x37)
    }

    @Test func mode0OutputIsLowUntilTerminalCount() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x30)
        #expect(fixture.status(channel: 0) == 0x70)
        fixture.writeCount(channel: 0, 100)
        #expect(fixture.status(channel: 0) == 0x30)
        fixture.advance(toTick: 99)
        #expect(fixture.status(channel: 0) == 0x30)
        fixture.advance(toTick: 100)
        #expect(fixture.status(channel: 0) == 0xB0)
    }

    @Test func mode4OutputDropsForOneTickAtTerminalCount() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 4, count: 100)
        fixture.advance(toTick: 99)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
        fixture.advance(toTick: 100)
        #expect(fixture.status(channel: 1) & 0x80 == 0)
        fixture.advance(toTick: 101)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
    }

    @Test func mode2OutputDropsForOneTickBeforeEachReload() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 2, count: 100)
        fixture.advance(toTick: 98)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
        fixture.advance(toTick: 99)
        #expect(fixture.status(channel: 1) & 0x80 == 0)
        fixture.advance(toTick: 100)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
    }

    @Test func mode3OutputIsHighForTheFirstHalfOfEachPeriod() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 3, count: 101)
        fixture.advance(toTick: 50)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
        fixture.advance(toTick: 51)
        #expect(fixture.status(channel: 1) & 0x80 == 0)
        fixture.advance(toTick: 100)
        #expect(fixture.status(channel: 1) & 0x80 == 0)
        fixture.advance(toTick: 101)
        #expect(fixture.status(channel: 1) & 0x80 != 0)
    }

    @Test func readBackOfCountAndStatusReturnsStatusFirst() {
        let fixture = PITFixture()
        fixture.program(channel: 0, mode: 2, count: 0x1234)
        fixture.advance(toTick: 0x34)
        fixture.out(0x43, 0xC2)
        fixture.advance(toTick: 0x100)
        #expect(fixture.inb(0x40) == 0xB4)
        #expect(fixture.inb(0x40) == 0x00)
        #expect(fixture.inb(0x40) == 0x12)
    }

    @Test func readBackLatchesEverySelectedChannel() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.program(channel: 0, mode: 2, count: 1000)
        fixture.program(channel: 1, mode: 2, count: 2000)
        fixture.program(channel: 2, mode: 0, count: 3000)
        fixture.advance(toTick: 10)
        fixture.out(0x43, 0xDE)
        fixture.advance(toTick: 20)
        for (channel, expected) in [(UInt16(0), UInt16(990)), (1, 1990), (2, 2990)] {
            let low = UInt16(fixture.inb(0x40 + channel))
            let high = UInt16(fixture.inb(0x40 + channel))
            #expect(high << 8 | low == expected)
        }
    }

    @Test func aLatchedStatusIsKeptUntilRead() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x70)
        fixture.out(0x43, 0xE4)
        fixture.writeCount(channel: 1, 100)
        fixture.out(0x43, 0xE4)
        #expect(fixture.inb(0x41) == 0x70)
        #expect(fixture.status(channel: 1) == 0x30)
    }

    @Test func aLatchIsDroppedByANewControlWord() {
        let fixture = PITFixture()
        fixture.program(channel: 1, mode: 2, count: 1000)
        fixture.advance(toTick: 100)
        fixture.out(0x43, 0x40)
        fixture.program(channel: 1, mode: 2, count: 500)
        fixture.advance(toTick: 200)
        let reload = fixture.start + nanoseconds(ticks: 100)
        #expect(fixture.latchedCount(channel: 1) == UInt16(500 - (PIT.ticks(in: fixture.clock.now - reload))))
    }

    @Test func controlWordModes6And7ActAsModes2And3() {
        let fixture = PITFixture()
        fixture.out(0x43, 0x3C)
        fixture.writeCount(channel: 0, 1000)
        fixture.advance(toTick: 3000)
        #expect(fixture.pulses == 3)
        #expect(fixture.status(channel: 0) == 0xBC)
    }
}

@Suite struct PITPortBTests {
    @Test func gateAndSpeakerBitsReadBackAndOtherBitsReadZero() {
        let fixture = PITFixture()
        fixture.out(0x61, 0xFF)
        #expect(fixture.inb(0x61) & 0xCF == 0x03)
        fixture.out(0x61, 0x02)
        #expect(fixture.inb(0x61) & 0xCF == 0x02)
        fixture.out(0x61, 0x00)
        #expect(fixture.inb(0x61) & 0xCF == 0x00)
    }

    @Test func refreshBitTogglesOnEachRead() {
        let fixture = PITFixture()
        let first = fixture.inb(0x61) & 0x10
        let second = fixture.inb(0x61) & 0x10
        let third = fixture.inb(0x61) & 0x10
        #expect(first != second)
        #expect(first == third)
    }

    @Test func wideAccessesUseTheLowByte() {
        let fixture = PITFixture()
        fixture.pit.portWrite(0x61, size: 4, value: 0xFFFF_FF01)
        #expect(fixture.pit.portRead(0x61, size: 2) & 0xFFCF == 0x01)
    }

    @Test func linuxTSCCalibrationSeesChannel2OutputRiseAtTerminalCount() {
        let fixture = PITFixture()
        fixture.out(0x61, (fixture.inb(0x61) & ~0x02) | 0x01)
        fixture.out(0x43, 0xB0)
        fixture.out(0x42, 0xFF)
        fixture.out(0x42, 0xFF)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 0x100)
        _ = fixture.inb(0x42)
        #expect(fixture.inb(0x42) == 0xFE)
        fixture.advance(toTick: 0xFFFE)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 0xFFFF)
        #expect(fixture.channel2Output)
        #expect(fixture.lines.events.isEmpty)
    }

    @Test func channel2CountsOnlyWhileItsGateIsSet() {
        let fixture = PITFixture()
        fixture.program(channel: 2, mode: 0, count: 1000)
        fixture.advance(toTick: 500)
        #expect(fixture.latchedCount(channel: 2) == 1000)
        #expect(!fixture.channel2Output)
        let opened = fixture.clock.now
        fixture.setGate2(true)
        fixture.advance(toTick: 400, from: opened)
        fixture.setGate2(false)
        let closed = fixture.clock.now
        #expect(fixture.latchedCount(channel: 2) == 600)
        fixture.advance(toTick: 5000, from: closed)
        #expect(fixture.latchedCount(channel: 2) == 600)
        let reopened = fixture.clock.now
        fixture.setGate2(true)
        fixture.advance(toTick: 599, from: reopened)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 600, from: reopened)
        #expect(fixture.channel2Output)
    }

    @Test func mode0FirstByteOfATwoByteCountStopsCountingAndDropsOutput() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.program(channel: 2, mode: 0, count: 10)
        fixture.advance(toTick: 20)
        #expect(fixture.channel2Output)
        fixture.out(0x42, 0x00)
        #expect(!fixture.channel2Output)
        let frozen = fixture.latchedCount(channel: 2)
        fixture.advance(toTick: 1000)
        #expect(fixture.latchedCount(channel: 2) == frozen)
        #expect(!fixture.channel2Output)
        let loaded = fixture.clock.now
        fixture.out(0x42, 0x01)
        fixture.advance(toTick: 255, from: loaded)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 256, from: loaded)
        #expect(fixture.channel2Output)
    }

    @Test func mode1IsARetriggerableOneShotStartedByTheGate() {
        let fixture = PITFixture()
        fixture.program(channel: 2, mode: 1, count: 100)
        fixture.advance(toTick: 1000)
        #expect(fixture.channel2Output)
        #expect(fixture.status(channel: 2) & 0x40 != 0)
        let trigger = fixture.clock.now
        fixture.setGate2(true)
        #expect(!fixture.channel2Output)
        #expect(fixture.status(channel: 2) & 0x40 == 0)
        fixture.advance(toTick: 60, from: trigger)
        fixture.setGate2(false)
        let retrigger = fixture.clock.now
        fixture.setGate2(true)
        fixture.advance(toTick: 99, from: retrigger)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 100, from: retrigger)
        #expect(fixture.channel2Output)
    }

    @Test func mode5StrobesOnceAfterTheGateRises() {
        let fixture = PITFixture()
        fixture.program(channel: 2, mode: 5, count: 100)
        fixture.advance(toTick: 1000)
        #expect(fixture.channel2Output)
        let trigger = fixture.clock.now
        fixture.setGate2(true)
        fixture.advance(toTick: 99, from: trigger)
        #expect(fixture.channel2Output)
        fixture.advance(toTick: 100, from: trigger)
        #expect(!fixture.channel2Output)
        fixture.advance(toTick: 101, from: trigger)
        #expect(fixture.channel2Output)
    }

    @Test func mode2GateLowForcesOutputHighAndTheRisingEdgeReloads() {
        let fixture = PITFixture()
        fixture.setGate2(true)
        fixture.program(channel: 2, mode: 2, count: 100)
        fixture.advance(toTick: 99)
        #expect(!fixture.channel2Output)
        fixture.setGate2(false)
        #expect(fixture.channel2Output)
        fixture.advance(toTick: 500)
        #expect(fixture.latchedCount(channel: 2) == 1)
        fixture.setGate2(true)
        #expect(fixture.latchedCount(channel: 2) == 100)
        #expect(fixture.channel2Output)
    }
}

@Suite struct PITRandomTrafficTests {
    @Test func randomTrafficKeepsTheInvariants() {
        let clock = ManualClock()
        let lines = TimedLines(clock: clock)
        let pit = PIT(clock: clock, lines: lines)
        var random = SeededGenerator(seed: 0x8254)
        let ports: [UInt16] = [0x40, 0x41, 0x42, 0x43, 0x61]
        var controlBits: [UInt8] = [0x30, 0x30, 0x30]
        var portB: UInt8 = 0
        for _ in 0..<100_000 {
            let port = ports.randomElement(using: &random)!
            let size = [1, 2, 4].randomElement(using: &random)!
            if Bool.random(using: &random) {
                let value = UInt32.random(in: 0...UInt32.max, using: &random)
                pit.portWrite(port, size: size, value: value)
                let byte = UInt8(truncatingIfNeeded: value)
                if port == 0x61 {
                    portB = byte & 0x03
                } else if port == 0x43, size == 1, byte >> 6 != 3, byte & 0x30 != 0 {
                    controlBits[Int(byte >> 6)] = byte & 0x3F
                }
            } else {
                let value = pit.portRead(port, size: size)
                if port == 0x61 {
                    #expect(value & ~0x33 == 0)
                    #expect(UInt8(value & 0x03) == portB)
                } else if size != 1 || port == 0x43 {
                    #expect(value == 0xFFFF_FFFF)
                } else {
                    #expect(value <= 0xFF)
                }
            }
            if UInt8.random(in: 0..<32, using: &random) == 0 {
                clock.advance(by: UInt64.random(in: 0...2_000_000, using: &random))
                #expect(clock.armedTimerCount <= 1)
            }
        }
        let events = lines.events
        #expect(events.allSatisfy { $0.event == .isaPulse(0, 2) })
        let times = events.map(\.time)
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= PIT.minimumInterruptInterval })
        for channel in UInt16(0)..<3 {
            for _ in 0..<3 { _ = pit.portRead(0x40 + channel, size: 1) }
            pit.portWrite(0x43, size: 1, value: 0xE0 | 2 << UInt32(channel))
            #expect(UInt8(pit.portRead(0x40 + channel, size: 1)) & 0x3F == controlBits[Int(channel)])
        }
        let before = events.count
        pit.portWrite(0x43, size: 1, value: 0x34)
        pit.portWrite(0x40, size: 1, value: 0xA9)
        pit.portWrite(0x40, size: 1, value: 0x04)
        clock.advance(by: 1_000_000_000)
        #expect(lines.events.count - before == 1000)
    }
}
