import Testing
import TestSupport
import VMM

@Suite struct PMTimerTests {
    private static func expectedCount(afterNanoseconds elapsed: UInt64) -> UInt32 {
        let ticks = UInt64(1_000_000_000).dividingFullWidth(elapsed.multipliedFullWidth(by: PMTimer.frequency)).quotient
        return UInt32(truncatingIfNeeded: ticks)
    }

    @Test func constantsAreTheACPIOnes() {
        #expect(PMTimer.port == 0x408)
        #expect(PMTimer.frequency == 3_579_545)
    }

    @Test func countStartsAtZeroAndRunsAt3579545Hz() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        #expect(timer.portRead(0x408, size: 4) == 0)
        clock.advance(by: 1_000_000_000)
        #expect(timer.portRead(0x408, size: 4) == 3_579_545)
        clock.advance(by: 500_000_000)
        #expect(timer.portRead(0x408, size: 4) == 5_369_317)
    }

    @Test func countIsTruncatedNotRounded() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        clock.advance(by: 279)
        #expect(timer.portRead(0x408, size: 4) == 0)
        clock.advance(by: 1)
        #expect(timer.portRead(0x408, size: 4) == 1)
    }

    @Test func countWrapsAt32BitsWithoutOverflowingTheArithmetic() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        let start = clock.now
        // 2^32 ticks take about 1200 s; 0x1_0000_0005 ticks end just after this many nanoseconds.
        let wrapped = (UInt64(0x1_0000_0005) * 1_000_000_000 + PMTimer.frequency - 1) / PMTimer.frequency
        clock.advance(to: start + wrapped)
        #expect(timer.portRead(0x408, size: 4) == 5)
        // Thirty years: elapsed × frequency needs more than 64 bits.
        let longRun: UInt64 = 30 * 365 * 86_400 * 1_000_000_000
        clock.advance(to: start + longRun)
        #expect(timer.portRead(0x408, size: 4) == Self.expectedCount(afterNanoseconds: longRun))
    }

    @Test func narrowReadsAndOtherPortsReadAllOnes() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        clock.advance(by: 1_000_000)
        #expect(timer.portRead(0x408, size: 1) == 0xFFFF_FFFF)
        #expect(timer.portRead(0x408, size: 2) == 0xFFFF_FFFF)
        for port: UInt16 in 0x409...0x40B {
            #expect(timer.portRead(port, size: 4) == 0xFFFF_FFFF)
            #expect(timer.portRead(port, size: 1) == 0xFFFF_FFFF)
        }
    }

    @Test func writesAreIgnored() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        clock.advance(by: 1_000_000_000)
        for size in [1, 2, 4] {
            timer.portWrite(0x408, size: size, value: 0)
        }
        #expect(timer.portRead(0x408, size: 4) == 3_579_545)
    }

    @Test func resetRestartsTheCountFromZero() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        clock.advance(by: 1_000_000_000)
        timer.reset()
        #expect(timer.portRead(0x408, size: 4) == 0)
        clock.advance(by: 1_000_000)
        #expect(timer.portRead(0x408, size: 4) == 3579)
    }

    @Test func randomTrafficKeepsTheCountMonotonicAndExact() {
        let clock = ManualClock()
        let timer = PMTimer(clock: clock)
        let start = clock.now
        var random = SeededGenerator(seed: 0x408)
        var last: UInt32 = 0
        for _ in 0..<100_000 {
            let port = UInt16.random(in: 0x408...0x40B, using: &random)
            let size = [1, 2, 4].randomElement(using: &random)!
            if Bool.random(using: &random) {
                timer.portWrite(port, size: size, value: UInt32.random(in: 0...UInt32.max, using: &random))
            } else {
                let value = timer.portRead(port, size: size)
                if port == 0x408 && size == 4 {
                    #expect(value == Self.expectedCount(afterNanoseconds: clock.now - start))
                    // The run lasts about 13 simulated seconds, far from the 20-minute wrap.
                    #expect(value >= last)
                    last = value
                } else {
                    #expect(value == 0xFFFF_FFFF)
                }
            }
            if UInt8.random(in: 0..<8, using: &random) == 0 {
                clock.advance(by: UInt64.random(in: 0...2_000_000, using: &random))
            }
        }
    }
}
