import Testing
import Devices

@Suite struct BootTimerTests {
    @Test func eachCodeIsReportedOnlyTheFirstTimeItIsWritten() {
        let marks = Recorder<UInt8>()
        let timer = BootTimer(onMarker: marks.record)
        for code: UInt32 in [0x01, 0x01, 0x02, 0x01, 0xFF, 0x02, 0x00, 0x00] {
            timer.portWrite(BootTimer.port, size: 1, value: code)
        }
        #expect(marks.values.withLock { $0 } == [0x01, 0x02, 0xFF, 0x00])
    }

    @Test func onlyTheLowByteOfAWiderWriteIsTheCode() {
        let marks = Recorder<UInt8>()
        let timer = BootTimer(onMarker: marks.record)
        timer.portWrite(BootTimer.port, size: 4, value: 0x1234_5680)
        #expect(marks.values.withLock { $0 } == [0x80])
    }

    @Test func resetReportsTheCodesAgainForARebootedGuest() {
        let marks = Recorder<UInt8>()
        let timer = BootTimer(onMarker: marks.record)
        timer.portWrite(BootTimer.port, size: 1, value: 0x01)
        timer.reset()
        timer.portWrite(BootTimer.port, size: 1, value: 0x01)
        #expect(marks.values.withLock { $0 } == [0x01, 0x01])
    }

    @Test func readsAsAnUndrivenISAPort() {
        let timer = BootTimer(onMarker: { _ in })
        #expect(timer.portRead(BootTimer.port, size: 1) == 0xFF)
        #expect(timer.portRead(BootTimer.port, size: 2) == 0xFFFF)
        #expect(timer.portRead(BootTimer.port, size: 4) == 0xFFFF_FFFF)
    }
}
