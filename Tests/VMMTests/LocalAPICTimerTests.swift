import Testing
@testable import VMM

/// The local APIC timer under a manual clock: counts derived from elapsed time, one-shot and
/// periodic expiries, every divider.
@Suite struct LocalAPICTimerTests {
    /// DCR codes and the divisors they select (SDM 11.5.4).
    static let dividers: [(dcr: UInt32, divisor: UInt64)] = [
        (0x0, 2), (0x1, 4), (0x2, 8), (0x3, 16), (0x8, 32), (0x9, 64), (0xA, 128), (0xB, 1),
    ]

    static func nanoseconds(_ ticks: UInt64, _ divisor: UInt64) -> UInt64 {
        LocalAPICTimer.nanoseconds(ticks: ticks, divisor: divisor)
    }

    @Test(arguments: dividers.map(\.dcr))
    func oneShotCountsDownFiresOnceAndStopsAtZero(dcr: UInt32) {
        let divisor = Self.dividers.first { $0.dcr == dcr }!.divisor
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.divide, dcr)
        #expect(bench.read(0, APICReg.divide) == dcr)
        bench.write(0, APICReg.timer, 0x30)
        bench.write(0, APICReg.initialCount, 1000)
        #expect(bench.read(0, APICReg.currentCount) == 1000)
        bench.clock.advance(by: Self.nanoseconds(400, divisor))
        #expect(bench.read(0, APICReg.currentCount) == 600)
        bench.clock.advance(by: Self.nanoseconds(1000, divisor) - Self.nanoseconds(400, divisor) - 1)
        #expect(bench.read(0, APICReg.currentCount) == 1)
        #expect(bench.apic(0).pendingVector == nil)
        bench.clock.advance(by: 1)
        #expect(bench.read(0, APICReg.currentCount) == 0)
        #expect(bench.drain(0) == [0x30])
        bench.clock.advance(by: 10 * Self.nanoseconds(1000, divisor))
        #expect(bench.drain(0).isEmpty)
        #expect(bench.read(0, APICReg.currentCount) == 0)
        #expect(bench.clock.armedTimerCount == 0)
    }

    @Test(arguments: dividers.map(\.dcr))
    func periodicReloadsAndFiresOncePerPeriod(dcr: UInt32) {
        let divisor = Self.dividers.first { $0.dcr == dcr }!.divisor
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.divide, dcr)
        bench.write(0, APICReg.timer, 0x2_0031)
        bench.write(0, APICReg.initialCount, 777)
        let start = bench.clock.now
        var fired = 0
        for period in 1...5 {
            bench.clock.advance(to: start + Self.nanoseconds(UInt64(period) * 777, divisor))
            fired += bench.drain(0).count
            #expect(bench.read(0, APICReg.currentCount) == 777)
        }
        #expect(fired == 5)
        bench.clock.advance(to: start + Self.nanoseconds(5 * 777 + 77, divisor))
        #expect(bench.read(0, APICReg.currentCount) == 700)
    }

    @Test func aZeroInitialCountStopsTheTimer() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.timer, 0x2_0040)
        bench.write(0, APICReg.initialCount, 100)
        bench.write(0, APICReg.initialCount, 0)
        #expect(bench.clock.armedTimerCount == 0)
        bench.clock.advance(by: 1_000_000_000)
        #expect(bench.drain(0).isEmpty)
        #expect(bench.read(0, APICReg.currentCount) == 0)
    }

    @Test func aDividerChangeKeepsTheCountAndGoesOnAtTheNewRate() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.divide, 0xB)   // 1
        bench.write(0, APICReg.timer, 0x50)
        bench.write(0, APICReg.initialCount, 10_000)
        bench.clock.advance(by: Self.nanoseconds(4_000, 1))
        bench.write(0, APICReg.divide, 0x3)   // 16
        #expect(bench.read(0, APICReg.currentCount) == 6_000)
        bench.clock.advance(by: Self.nanoseconds(3_000, 16))
        #expect(bench.read(0, APICReg.currentCount) == 3_000)
        // The conversions round to the nanosecond, far below a tick (119 ns here).
        bench.clock.advance(by: Self.nanoseconds(3_000, 16) - 2)
        #expect(bench.drain(0).isEmpty)
        bench.clock.advance(by: 3)
        #expect(bench.drain(0) == [0x50])
    }

    @Test func aMaskedTimerKeepsCountingWithoutInterrupting() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.timer, 0x3_0040)
        bench.write(0, APICReg.initialCount, 500)
        bench.clock.advance(by: Self.nanoseconds(1_200, 2))
        #expect(bench.drain(0).isEmpty)
        #expect(bench.read(0, APICReg.currentCount) == 300)
    }

    @Test func softwareDisableStopsTheTimer() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.timer, 0x2_0040)
        bench.write(0, APICReg.initialCount, 500)
        bench.write(0, APICReg.svr, 0xFF)
        #expect(bench.clock.armedTimerCount == 0)
        #expect(bench.read(0, APICReg.currentCount) == 0)
    }

    @Test func aPeriodicTimerNoticedMoreThanAPeriodLateStartsAfreshInsteadOfCatchingUp() {
        var timer = LocalAPICTimer()
        timer.divideConfiguration = 0xB
        timer.load(1_000, at: 1_000)
        let period = LocalAPICTimer.nanoseconds(ticks: 1_000, divisor: 1)
        let late = timer.deadline! + 3 * period + 5
        let fired = timer.expire(at: late, periodic: true)
        #expect(fired)
        #expect(timer.deadline == late + period)
        #expect(timer.currentCount(at: late, periodic: true) == 1_000)
    }

    @Test func aPeriodicTimerNoticedALittleLateKeepsItsPhase() {
        var timer = LocalAPICTimer()
        timer.load(1_000, at: 1_000)
        let period = LocalAPICTimer.nanoseconds(ticks: 1_000, divisor: 2)
        let first = timer.deadline!
        let fired = timer.expire(at: first + period / 2, periodic: true)
        #expect(fired)
        #expect(timer.deadline == 1_000 + LocalAPICTimer.nanoseconds(ticks: 2_000, divisor: 2))
        let firedAgain = timer.expire(at: first + period / 2 + 1, periodic: true)
        #expect(!firedAgain)
    }

    @Test func aCountCarriedOverFromBeforeTheClocksOriginStillExpiresOnTime() {
        var timer = LocalAPICTimer()
        timer.divideConfiguration = 0xA                         // 128
        timer.load(0xFFFF_FFFF, at: 1_000)
        timer.restart(from: 10, at: 2_000)                      // as if started ~4000 s before 0
        #expect(timer.currentCount(at: 2_000, periodic: true) == 10)
        let deadline = 2_000 + LocalAPICTimer.nanoseconds(ticks: 10, divisor: 128)
        #expect(timer.deadline.map { $0 >= deadline - 1 && $0 <= deadline + 1 } == true)
        let fired = timer.expire(at: timer.deadline!, periodic: true)
        #expect(fired)
        #expect(timer.currentCount(at: timer.deadline! - 1, periodic: true) == 1)
    }

    @Test func tickAndNanosecondConversionsRoundTrip() {
        for divisor: UInt64 in [1, 2, 16, 128] {
            for ticks: UInt64 in [1, 7, 1_000, 0xFFFF_FFFF] {
                let nanoseconds = LocalAPICTimer.nanoseconds(ticks: ticks, divisor: divisor)
                #expect(LocalAPICTimer.ticks(nanoseconds: nanoseconds, divisor: divisor) == ticks)
                #expect(LocalAPICTimer.ticks(nanoseconds: nanoseconds - 1, divisor: divisor) == ticks - 1)
            }
        }
    }
}
