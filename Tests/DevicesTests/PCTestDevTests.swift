import Synchronization
import Testing
import Devices
import TestSupport

final class Recorder<Value: Sendable>: Sendable {
    let values = Mutex<[Value]>([])
    func record(_ value: Value) { values.withLock { $0.append(value) } }
}

@Suite struct PCTestDevTests {
    @Test func debugExitReportsTheWrittenValueOnAnyOfItsFourPorts() {
        let exits = Recorder<UInt32>()
        let device = PCTestDev(lines: RecordingInterruptLines(), onExit: exits.record)
        device.portWrite(0xF4, size: 1, value: 0x21)
        device.portWrite(0xF7, size: 4, value: 0x1234)
        #expect(exits.values.withLock { $0 } == [0x21, 0x1234])
        #expect(device.portRead(0xF4, size: 1) == 0)
    }

    @Test func scratchPortKeepsEachByteLane() {
        let device = PCTestDev(lines: RecordingInterruptLines(), onExit: { _ in })
        device.portWrite(0xE0, size: 4, value: 0x1122_3344)
        device.portWrite(0xE1, size: 1, value: 0xAB)
        #expect(device.portRead(0xE0, size: 4) == 0x1122_AB44)
        #expect(device.portRead(0xE2, size: 2) == 0x1122)
        #expect(device.portRead(0xE3, size: 1) == 0x11)
    }

    @Test func scratchAccessRunningPastPortE3IsIgnored() {
        let device = PCTestDev(lines: RecordingInterruptLines(), onExit: { _ in })
        device.portWrite(0xE2, size: 4, value: 0xFFFF_FFFF)
        #expect(device.portRead(0xE0, size: 4) == 0)
        #expect(device.portRead(0xE2, size: 4) == 0)
    }

    @Test func scratchMemoryHoldsWritesUntilReset() {
        let device = PCTestDev(lines: RecordingInterruptLines(), onExit: { _ in })
        device.mmioWrite(0xFF00_0010, size: 8, value: 0x0102_0304_0506_0708)
        #expect(device.mmioRead(0xFF00_0010, size: 8) == 0x0102_0304_0506_0708)
        #expect(device.mmioRead(0xFF00_0012, size: 2) == 0x0506)
        device.reset()
        #expect(device.mmioRead(0xFF00_0010, size: 8) == 0)
    }

    @Test func scratchMemoryAccessPastItsEndReadsAllOnes() {
        let device = PCTestDev(lines: RecordingInterruptLines(), onExit: { _ in })
        #expect(device.mmioRead(0xFF00_FFFE, size: 4) == UInt64.max)
    }
}

@Suite struct PCTestDevIRQLineTests {
    @Test func byteWritesToIRQPortsAssertAndDeassertISAAndIOAPICLines() {
        let lines = RecordingInterruptLines()
        let device = PCTestDev(lines: lines, onExit: { _ in })
        device.portWrite(0x2004, size: 1, value: 1)
        device.portWrite(0x2004, size: 1, value: 0)
        device.portWrite(0x2018, size: 1, value: 0xFF)
        device.portWrite(0x2018, size: 1, value: 0)
        device.portWrite(0x2005, size: 2, value: 1)
        #expect(lines.events == [.isaAssert(4, 4), .isaDeassert(4, 4), .ioapicAssert(24), .ioapicDeassert(24)])
        #expect(device.portRead(0x2004, size: 1) == 0)
    }
}

@Suite struct ResetControlTests {
    @Test func settingResetCPUResetsTheMachine() {
        let resets = Recorder<Int>()
        let device = ResetControl(onReset: { resets.record(1) })
        device.portWrite(0xCF9, size: 1, value: 0x2)
        #expect(resets.values.withLock { $0 }.isEmpty)
        #expect(device.portRead(0xCF9, size: 1) == 0x2)
        device.portWrite(0xCF9, size: 1, value: 0x6)
        #expect(resets.values.withLock { $0 }.count == 1)
    }

    @Test func undefinedBitsReadAsZero() {
        let device = ResetControl(onReset: {})
        device.portWrite(0xCF9, size: 1, value: 0xFB)
        #expect(device.portRead(0xCF9, size: 1) == 0x0A)
    }
}

@Suite struct DebugConsoleTests {
    @Test func writtenBytesReachTheSinkAndReadsIdentifyTheConsole() {
        let bytes = Recorder<UInt8>()
        let console = DebugConsole(sink: bytes.record)
        console.portWrite(0xE9, size: 1, value: 0x41)
        console.portWrite(0xE9, size: 1, value: 0x0A)
        #expect(bytes.values.withLock { $0 } == [0x41, 0x0A])
        #expect(console.portRead(0xE9, size: 1) == 0xE9)
    }
}
