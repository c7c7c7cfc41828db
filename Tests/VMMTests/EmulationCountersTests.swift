import Dispatch
import Testing
import VMM

@Suite struct EmulationCountersTests {
    @Test func countsPerMnemonicFromManyThreads() {
        let counters = EmulationCounters()
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            for _ in 0..<1000 { counters.record(index % 2 == 0 ? "int3" : "cmpxchg16b") }
        }
        counters.record("popcnt")
        #expect(counters.snapshot() == ["int3": 4000, "cmpxchg16b": 4000, "popcnt": 1])
        #expect(counters.summary == "cmpxchg16b 4000, int3 4000, popcnt 1")
    }

    @Test func aFreshCounterSetIsEmpty() {
        #expect(EmulationCounters().snapshot().isEmpty)
        #expect(EmulationCounters().summary.isEmpty)
    }
}
