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
