import Testing
import Devices
import TestSupport

@Suite struct PowerManagementTests {
    let lines = RecordingInterruptLines()
    let powerOffs = Recorder<Int>()
    let pm: PowerManagement

    init() {
        let powerOffs = powerOffs
        pm = PowerManagement(lines: lines, onPowerOff: { powerOffs.record(1) })
    }

    func enableACPI() { pm.portWrite(0xB2, size: 1, value: 0xA0) }

    @Test func sleepTypeFiveWithSleepEnablePowersOff() {
        pm.portWrite(0x404, size: 2, value: 5 << 10 | 1 << 13)
        #expect(powerOffs.values.withLock { $0 }.count == 1)
    }

    @Test func otherSleepTypesOrNoSleepEnableDoNotPowerOff() {
        pm.portWrite(0x404, size: 2, value: 3 << 10 | 1 << 13)
        pm.portWrite(0x404, size: 2, value: 5 << 10)
        #expect(powerOffs.values.withLock { $0 }.isEmpty)
        #expect(pm.portRead(0x404, size: 2) == 5 << 10)
    }

    @Test func smiCommandHandsACPIToTheGuestAndBack() {
        enableACPI()
        #expect(pm.portRead(0x404, size: 2) & 1 == 1)
        pm.portWrite(0xB2, size: 1, value: 0xA1)
        #expect(pm.portRead(0x404, size: 2) & 1 == 0)
    }

    @Test func powerButtonRaisesALevelSCIUntilTheGuestClearsTheStatus() {
        enableACPI()
        pm.portWrite(0x402, size: 2, value: 1 << 8)
        pm.pressPowerButton()
        #expect(lines.events == [.isaAssert(9, 9)])
        #expect(pm.portRead(0x400, size: 2) == 1 << 8)
        pm.portWrite(0x400, size: 2, value: 1 << 8)
        #expect(lines.events == [.isaAssert(9, 9), .isaDeassert(9, 9)])
        #expect(pm.portRead(0x400, size: 2) == 0)
        #expect(powerOffs.values.withLock { $0 }.isEmpty)
    }

    @Test func disabledPowerButtonEventRaisesNoSCI() {
        enableACPI()
        pm.pressPowerButton()
        #expect(lines.events.isEmpty)
        #expect(pm.portRead(0x400, size: 4) == 1 << 8)
    }

    @Test func powerButtonWithoutACPIPowersOffAtOnce() {
        pm.pressPowerButton()
        #expect(powerOffs.values.withLock { $0 }.count == 1)
        #expect(lines.events.isEmpty)
    }

    @Test func statusBitsClearOnlyWhereOnesAreWritten() {
        enableACPI()
        pm.pressPowerButton()
        pm.portWrite(0x400, size: 2, value: 1 << 10)
        #expect(pm.portRead(0x400, size: 2) == 1 << 8)
    }

    @Test func resetDropsTheSCI() {
        enableACPI()
        pm.portWrite(0x402, size: 2, value: 1 << 8)
        pm.pressPowerButton()
        pm.reset()
        #expect(lines.events.last == .isaDeassert(9, 9))
        #expect(pm.portRead(0x400, size: 4) == 0)
    }
}

@Suite struct PowerManagementRandomTrafficTests {
    @Test func randomRegisterTrafficKeepsTheSCIConsistent() {
        let lines = RecordingInterruptLines()
        let pm = PowerManagement(lines: lines, onPowerOff: {})
        var random = SeededGenerator(seed: 0x5C1)
        let ports: [UInt16] = [0x400, 0x401, 0x402, 0x403, 0x404, 0x405, 0xB2]
        for step in 0..<100_000 {
            let port = ports.randomElement(using: &random)!
            let size = [1, 2, 4].randomElement(using: &random)!
            if Bool.random(using: &random) {
                pm.portWrite(port, size: size, value: UInt32(truncatingIfNeeded: random.next()))
            } else {
                _ = pm.portRead(port, size: size)
            }
            if step % 97 == 0 { pm.pressPowerButton() }
        }
        // The SCI is a level: its asserts and deasserts alternate, starting with an assert.
        for (index, event) in lines.events.enumerated() {
            #expect(event == (index % 2 == 0 ? .isaAssert(9, 9) : .isaDeassert(9, 9)))
        }
        let status = pm.portRead(0x400, size: 2)
        let enable = pm.portRead(0x402, size: 2)
        #expect(status & ~0x0521 == 0 && enable & ~0x0521 == 0)
        let sciHigh = lines.events.count % 2 == 1
        let acpiEnabled = pm.portRead(0x404, size: 2) & 1 == 1
        #expect(sciHigh == (acpiEnabled && status & enable != 0))
        #expect(pm.portRead(0x404, size: 2) & (1 << 13) == 0)
    }
}
