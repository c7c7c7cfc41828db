import Synchronization
import Testing
@testable import Devices
import TestSupport
import VMM

/// A back end that records what the UART hands it.
final class RecordingUARTBackend: UARTBackend {
    let written = Mutex<[UInt8]>([])
    let resumes = Atomic<Int>(0)

    func write(_ bytes: [UInt8]) { written.withLock { $0.append(contentsOf: bytes) } }
    func start(loop: EventLoop, sink: @escaping @Sendable ([UInt8]) -> Int) throws {}
    func resumeInput() { resumes.add(1, ordering: .relaxed) }
    func close() {}
    var droppedBytes: Int { 0 }

    var bytes: [UInt8] { written.withLock { $0 } }
    var resumeCount: Int { resumes.load(ordering: .relaxed) }
}

/// Register offsets and values the tests use, spelled out so that they check the model's.
enum UARTPorts {
    static let base: UInt16 = 0x3F8
    static let irq = 4
    static let data = 0, ier = 1, iir = 2, fcr = 2, lcr = 3, mcr = 4, lsr = 5, msr = 6, scr = 7
}

struct UARTHarness {
    let lines = RecordingInterruptLines()
    let backend = RecordingUARTBackend()
    let uart: UART16550

    init() {
        uart = UART16550(base: UARTPorts.base, irq: UARTPorts.irq, lines: lines, backend: backend)
    }

    func read(_ offset: Int) -> UInt8 {
        UInt8(uart.portRead(UARTPorts.base + UInt16(offset), size: 1))
    }

    func write(_ offset: Int, _ value: UInt8) {
        uart.portWrite(UARTPorts.base + UInt16(offset), size: 1, value: UInt32(value))
    }

    var pulses: Int { lines.count(.isaPulse(UARTPorts.irq, UARTPorts.irq)) }

    func drain() -> [UInt8] {
        var bytes: [UInt8] = []
        while read(UARTPorts.lsr) & 0x01 != 0 { bytes.append(read(UARTPorts.data)) }
        return bytes
    }
}

@Suite struct UART16550Tests {
    let h = UARTHarness()

    @Test func comPortsAreBhyvesFour() {
        #expect(UART16550.com.map(\.name) == ["com1", "com2", "com3", "com4"])
        #expect(UART16550.com.map(\.port) == [0x3F8, 0x2F8, 0x3E8, 0x2E8])
        #expect(UART16550.com.map(\.irq) == [4, 3, 4, 3])
    }

    @Test func powerOnValuesMatchBhyve() {
        #expect(h.read(UARTPorts.ier) == 0)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.read(UARTPorts.lcr) == 0)
        #expect(h.read(UARTPorts.mcr) == 0)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        #expect(h.read(UARTPorts.msr) == 0xA0)
        #expect(h.read(UARTPorts.scr) == 0)
        h.write(UARTPorts.lcr, 0x80)
        #expect(h.read(0) == 1)
        #expect(h.read(1) == 0)
        #expect(h.lines.events.isEmpty)
    }

    @Test func registersKeepOnlyTheirWritableBits() {
        h.write(UARTPorts.ier, 0xFF)
        h.write(UARTPorts.lcr, 0x5B)
        h.write(UARTPorts.mcr, 0xFF)
        h.write(UARTPorts.scr, 0xA5)
        #expect(h.read(UARTPorts.ier) == 0x0F)
        #expect(h.read(UARTPorts.lcr) == 0x5B)
        #expect(h.read(UARTPorts.mcr) == 0x1F)
        #expect(h.read(UARTPorts.scr) == 0xA5)
    }

    @Test func lineAndModemStatusIgnoreWrites() {
        h.write(UARTPorts.lsr, 0xFF)
        h.write(UARTPorts.msr, 0xFF)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        #expect(h.read(UARTPorts.msr) == 0xA0)
    }

    @Test func divisorLatchesReplaceDataAndIERWhileDLABIsSet() {
        h.write(UARTPorts.ier, 0x05)
        h.write(UARTPorts.lcr, 0x83)
        h.write(0, 0x0C)
        h.write(1, 0x02)
        #expect(h.read(0) == 0x0C)
        #expect(h.read(1) == 0x02)
        #expect(h.read(UARTPorts.lcr) == 0x83)
        h.write(UARTPorts.lcr, 0x03)
        #expect(h.read(UARTPorts.ier) == 0x05)
        #expect(h.backend.bytes.isEmpty)
        h.write(UARTPorts.lcr, 0x83)
        #expect(h.read(0) == 0x0C)
        #expect(h.read(1) == 0x02)
    }

    @Test func transmittedBytesGoToTheBackEnd() {
        for byte in Array("hi\r\n".utf8) { h.write(UARTPorts.data, byte) }
        #expect(h.backend.bytes == Array("hi\r\n".utf8))
        #expect(h.read(UARTPorts.lsr) == 0x60)
    }

    @Test func loopbackEchoesTransmittedBytesIntoTheReceiver() {
        h.write(UARTPorts.fcr, 0x01)
        h.write(UARTPorts.mcr, 0x10)
        for byte in Array("echo".utf8) { h.write(UARTPorts.data, byte) }
        #expect(h.read(UARTPorts.lsr) == 0x61)
        #expect(h.drain() == Array("echo".utf8))
        #expect(h.backend.bytes.isEmpty)
    }

    @Test func hostInputIsTakenAndDiscardedInLoopback() {
        h.write(UARTPorts.mcr, 0x10)
        #expect(h.uart.receive([1, 2, 3]) == 3)
        #expect(h.read(UARTPorts.lsr) == 0x60)
    }

    @Test func loopbackReflectsModemControlIntoModemStatusWithDeltas() {
        h.write(UARTPorts.mcr, 0x10)
        // DSR and DCD drop as the outputs (all off) replace bhyve's fixed inputs.
        #expect(h.read(UARTPorts.msr) == 0x0A)
        #expect(h.read(UARTPorts.msr) == 0x00)
        h.write(UARTPorts.mcr, 0x1F)
        #expect(h.read(UARTPorts.msr) == 0xFB)
        #expect(h.read(UARTPorts.msr) == 0xF0)
        // OUT1 off: RI falls, a trailing edge.
        h.write(UARTPorts.mcr, 0x1B)
        #expect(h.read(UARTPorts.msr) == 0xB4)
        // RI rising sets no delta.
        h.write(UARTPorts.mcr, 0x1F)
        #expect(h.read(UARTPorts.msr) == 0xF0)
        // Leaving loopback: CTS drops and RI trails off; DSR and DCD stay asserted.
        h.write(UARTPorts.mcr, 0x00)
        #expect(h.read(UARTPorts.msr) == 0xA5)
    }

    @Test func outsideLoopbackCarrierAndDataSetReadyAreAlwaysAsserted() {
        h.write(UARTPorts.mcr, 0x0F)
        #expect(h.read(UARTPorts.msr) == 0xA0)
        h.write(UARTPorts.mcr, 0x00)
        #expect(h.read(UARTPorts.msr) == 0xA0)
    }

    @Test(arguments: [(UInt8(0x00), 1), (0x40, 4), (0x80, 8), (0xC0, 14)])
    func triggerLevelSeparatesDataAvailableFromTimeout(trigger: UInt8, level: Int) {
        h.write(UARTPorts.fcr, 0x01 | trigger)
        h.write(UARTPorts.ier, 0x01)
        if level > 1 {
            #expect(h.uart.receive([UInt8](repeating: 0x41, count: level - 1)) == level - 1)
            #expect(h.read(UARTPorts.iir) == 0xCC)
        }
        #expect(h.uart.receive([0x42]) == 1)
        #expect(h.read(UARTPorts.iir) == 0xC4)
        _ = h.read(UARTPorts.data)
        #expect(h.read(UARTPorts.iir) == (level > 1 ? 0xCC : 0xC1))
        #expect(h.drain().count == level - 1)
        #expect(h.read(UARTPorts.iir) == 0xC1)
        #expect(h.pulses == 1)
    }

    @Test func characterTimeoutIsReportedBelowTheTriggerLevel() {
        h.write(UARTPorts.fcr, 0x81)
        h.write(UARTPorts.ier, 0x01)
        h.uart.receive([1, 2, 3])
        #expect(h.read(UARTPorts.iir) == 0xCC)
        h.uart.receive([4, 5, 6, 7, 8])
        #expect(h.read(UARTPorts.iir) == 0xC4)
        _ = h.read(UARTPorts.data)
        #expect(h.read(UARTPorts.iir) == 0xCC)
    }

    @Test func sixteen450ModeHoldsOneByteAndReportsDataAvailable() {
        h.write(UARTPorts.ier, 0x01)
        #expect(h.uart.receive([1, 2, 3]) == 1)
        #expect(h.read(UARTPorts.iir) == 0x04)
        #expect(h.read(UARTPorts.lsr) == 0x61)
        #expect(h.read(UARTPorts.data) == 1)
        #expect(h.read(UARTPorts.iir) == 0x01)
    }

    @Test func enabledFIFOHoldsSixteenBytes() {
        h.write(UARTPorts.fcr, 0x01)
        #expect(h.uart.receive(Array(0..<20)) == 16)
        #expect(h.drain() == Array(0..<16))
    }

    @Test func switchingFIFOModeOrResettingTheReceiverEmptiesIt() {
        h.write(UARTPorts.fcr, 0x01)
        h.uart.receive([1, 2, 3])
        h.write(UARTPorts.fcr, 0x03)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        h.uart.receive([4, 5])
        // Trigger-level changes alone keep the contents.
        h.write(UARTPorts.fcr, 0xC1)
        #expect(h.uart.receivedCount == 2)
        h.write(UARTPorts.fcr, 0x00)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        #expect(h.read(UARTPorts.iir) == 0x01)
        h.uart.receive([6])
        h.write(UARTPorts.fcr, 0x01)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        #expect(h.read(UARTPorts.iir) == 0xC1)
    }

    @Test func receivedDataPulsesOnlyWhenTheConditionArises() {
        h.write(UARTPorts.fcr, 0x01)
        h.write(UARTPorts.ier, 0x01)
        h.uart.receive([1, 2, 3])
        #expect(h.pulses == 1)
        h.uart.receive([4, 5])
        #expect(h.pulses == 1)
        #expect(h.drain() == [1, 2, 3, 4, 5])
        #expect(h.read(UARTPorts.iir) == 0xC1)
        h.uart.receive([6])
        #expect(h.pulses == 2)
        #expect(h.lines.events.allSatisfy { $0 == .isaPulse(4, 4) })
    }

    @Test func enablingTheReceiveInterruptWithDataWaitingPulses() {
        h.uart.receive([1])
        #expect(h.pulses == 0)
        h.write(UARTPorts.ier, 0x01)
        #expect(h.pulses == 1)
    }

    @Test func transmitterEmptyInterruptRaiseAndClearSequence() {
        h.write(UARTPorts.ier, 0x02)
        #expect(h.pulses == 1)
        #expect(h.read(UARTPorts.iir) == 0x02)
        // Reading IIR acknowledged it.
        #expect(h.read(UARTPorts.iir) == 0x01)
        // Enabling an enabled interrupt raises nothing.
        h.write(UARTPorts.ier, 0x02)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.pulses == 1)
        h.write(UARTPorts.data, 0x41)
        #expect(h.pulses == 2)
        // A second write before the acknowledge clears and raises it again: another edge.
        h.write(UARTPorts.data, 0x42)
        #expect(h.pulses == 3)
        #expect(h.read(UARTPorts.iir) == 0x02)
        #expect(h.read(UARTPorts.iir) == 0x01)
        h.write(UARTPorts.ier, 0x00)
        h.write(UARTPorts.ier, 0x02)
        #expect(h.pulses == 4)
        #expect(h.read(UARTPorts.iir) == 0x02)
    }

    @Test func transmitterEmptyWithoutItsEnableRaisesNothing() {
        h.write(UARTPorts.data, 0x41)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.pulses == 0)
    }

    @Test func transmitUnderAHigherPendingSourceMakesNoEdge() {
        h.write(UARTPorts.ier, 0x01)
        h.uart.receive([7])
        #expect(h.pulses == 1)
        h.write(UARTPorts.ier, 0x03)
        h.write(UARTPorts.data, 0x41)
        #expect(h.pulses == 1)
        #expect(h.read(UARTPorts.iir) == 0x04)
        #expect(h.read(UARTPorts.data) == 7)
        #expect(h.read(UARTPorts.iir) == 0x02)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.pulses == 1)
    }

    @Test func interruptIdentificationFollowsThePriorities() {
        h.write(UARTPorts.fcr, 0x01)
        h.write(UARTPorts.mcr, 0x10)
        h.write(UARTPorts.ier, 0x0F)
        for byte in 0..<17 { h.write(UARTPorts.data, UInt8(byte)) }
        #expect(h.read(UARTPorts.iir) == 0xC6)
        #expect(h.read(UARTPorts.lsr) == 0x63)
        #expect(h.read(UARTPorts.iir) == 0xC4)
        #expect(h.drain() == Array(0..<16))
        #expect(h.read(UARTPorts.iir) == 0xC2)
        #expect(h.read(UARTPorts.iir) == 0xC0)
        #expect(h.read(UARTPorts.msr) == 0x0A)
        #expect(h.read(UARTPorts.iir) == 0xC1)
        #expect(h.pulses == 1)
        #expect(h.uart.interruptPending == false)
    }

    @Test func overrunSetsOEDropsTheByteAndClearsOnLineStatusRead() {
        h.write(UARTPorts.mcr, 0x10)
        h.write(UARTPorts.data, 0x61)
        h.write(UARTPorts.data, 0x62)
        #expect(h.read(UARTPorts.lsr) == 0x63)
        #expect(h.read(UARTPorts.lsr) == 0x61)
        #expect(h.read(UARTPorts.data) == 0x61)
        #expect(h.read(UARTPorts.lsr) == 0x60)
    }

    @Test func overrunRaisesTheLineStatusInterruptUntilLSRIsRead() {
        h.write(UARTPorts.ier, 0x04)
        h.write(UARTPorts.mcr, 0x10)
        h.write(UARTPorts.data, 1)
        #expect(h.pulses == 0)
        h.write(UARTPorts.data, 2)
        #expect(h.pulses == 1)
        #expect(h.read(UARTPorts.iir) == 0x06)
        _ = h.read(UARTPorts.lsr)
        #expect(h.read(UARTPorts.iir) == 0x01)
    }

    @Test func modemStatusChangeRaisesItsInterruptUntilMSRIsRead() {
        h.write(UARTPorts.ier, 0x08)
        #expect(h.pulses == 0)
        h.write(UARTPorts.mcr, 0x10)
        #expect(h.pulses == 1)
        #expect(h.read(UARTPorts.iir) == 0x00)
        #expect(h.read(UARTPorts.msr) == 0x0A)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.pulses == 1)
    }

    @Test func out2DoesNotGateTheInterruptAsInBhyve() {
        h.write(UARTPorts.ier, 0x01)
        h.uart.receive([1])
        #expect(h.pulses == 1)
        _ = h.read(UARTPorts.data)
        h.write(UARTPorts.mcr, 0x08)
        h.uart.receive([2])
        #expect(h.pulses == 2)
    }

    @Test func receiveTakesWhatFitsAndResumesTheBackEndWhenRoomAppears() {
        h.write(UARTPorts.fcr, 0x01)
        #expect(h.uart.receive(Array(0..<20)) == 16)
        #expect(h.backend.resumeCount == 0)
        #expect(h.read(UARTPorts.data) == 0)
        #expect(h.backend.resumeCount == 1)
        #expect(h.read(UARTPorts.data) == 1)
        #expect(h.backend.resumeCount == 1)
        #expect(h.uart.receive([50, 51, 52]) == 2)
        h.write(UARTPorts.fcr, 0x03)
        #expect(h.backend.resumeCount == 2)
        #expect(h.uart.receive([53]) == 1)
        #expect(h.uart.receive(Array(0..<16)) == 15)
        h.uart.reset()
        #expect(h.backend.resumeCount == 3)
    }

    @Test func emptyReceiverReadsTheLastByteReceived() {
        #expect(h.read(UARTPorts.data) == 0)
        h.uart.receive([0x5A])
        #expect(h.read(UARTPorts.data) == 0x5A)
        #expect(h.read(UARTPorts.data) == 0x5A)
        #expect(h.read(UARTPorts.lsr) == 0x60)
    }

    @Test func wideAccessesSplitIntoByteRegisters() {
        h.write(UARTPorts.lcr, 0x80)
        h.uart.portWrite(UARTPorts.base, size: 2, value: 0x1234)
        #expect(h.read(0) == 0x34)
        #expect(h.read(1) == 0x12)
        #expect(h.uart.portRead(UARTPorts.base, size: 2) == 0x1234)
        h.write(UARTPorts.lcr, 0x00)
        h.write(UARTPorts.scr, 0x77)
        h.write(UARTPorts.mcr, 0x03)
        #expect(h.uart.portRead(UARTPorts.base + 4, size: 4) == 0x77A0_6003)
        #expect(h.uart.portRead(UARTPorts.base + 7, size: 2) == 0xFF77)
        h.uart.portWrite(UARTPorts.base + 6, size: 4, value: 0xFFFF_5500)
        #expect(h.read(UARTPorts.scr) == 0x55)
        #expect(h.backend.bytes.isEmpty)
    }

    @Test func resetRestoresPowerOnStateWithoutAPulse() {
        h.write(UARTPorts.fcr, 0xC1)
        h.write(UARTPorts.ier, 0x0F)
        h.write(UARTPorts.lcr, 0x9F)
        h.write(0, 9)
        h.write(UARTPorts.mcr, 0x1F)
        h.write(UARTPorts.scr, 0x42)
        h.uart.receive([1, 2, 3])
        let pulses = h.pulses
        h.uart.reset()
        #expect(h.pulses == pulses)
        #expect(h.uart.interruptPending == false)
        #expect(h.read(UARTPorts.ier) == 0)
        #expect(h.read(UARTPorts.iir) == 0x01)
        #expect(h.read(UARTPorts.mcr) == 0)
        #expect(h.read(UARTPorts.lsr) == 0x60)
        #expect(h.read(UARTPorts.msr) == 0xA0)
        #expect(h.read(UARTPorts.scr) == 0)
        h.write(UARTPorts.lcr, 0x80)
        #expect(h.read(0) == 1)
        #expect(h.uart.receive(Array(0..<4)) == 1)
    }
}

@Suite struct UART16550RandomTrafficTests {
    @Test func randomRegisterTrafficKeepsTheInvariants() {
        let h = UARTHarness()
        var random = SeededGenerator(seed: 0x16550A)
        var lineControl: UInt8 = 0
        let sizes = [1, 1, 1, 1, 2, 4]
        for _ in 0..<100_000 {
            let before = h.lines.events.count
            var lanes = 1
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<8:
                let count = Int.random(in: 0...20, using: &random)
                let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
                let taken = h.uart.receive(bytes)
                #expect(taken >= 0 && taken <= count)
            case 8:
                h.uart.reset()
                lineControl = 0
            case 9..<50:
                let offset = Int.random(in: 0..<8, using: &random)
                let size = sizes.randomElement(using: &random)!
                // Most writes keep DLAB clear, or the data and IER registers would hardly be reached.
                var value = UInt32.random(in: 0...UInt32.max, using: &random)
                let lcrLane = UARTPorts.lcr - offset
                if lcrLane >= 0 && lcrLane < size && Int.random(in: 0..<4, using: &random) != 0 {
                    value &= ~(UInt32(0x80) << (8 * UInt32(lcrLane)))
                }
                lanes = size
                h.uart.portWrite(UARTPorts.base + UInt16(offset), size: size, value: value)
                for lane in 0..<size where offset + lane == UARTPorts.lcr {
                    lineControl = UInt8(truncatingIfNeeded: value >> (8 * UInt32(lane)))
                }
            default:
                let offset = Int.random(in: 0..<8, using: &random)
                let size = sizes.randomElement(using: &random)!
                lanes = size
                let countBefore = h.uart.receivedCount
                let value = h.uart.portRead(UARTPorts.base + UInt16(offset), size: size)
                for lane in 0..<size {
                    let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt32(lane)))
                    switch offset + lane {
                    case UARTPorts.ier where lineControl & 0x80 == 0:
                        #expect(byte & 0xF0 == 0)
                    case UARTPorts.iir:
                        #expect([0x01, 0x06, 0x04, 0x0C, 0x02, 0x00].contains(byte & 0x0F))
                        #expect(byte & 0x30 == 0)
                        #expect(byte & 0xC0 == 0 || byte & 0xC0 == 0xC0)
                    case UARTPorts.lcr:
                        #expect(byte == lineControl)
                    case UARTPorts.mcr:
                        #expect(byte & 0xE0 == 0)
                    case UARTPorts.lsr:
                        #expect(byte & 0x9C == 0)
                        #expect(byte & 0x60 == 0x60)
                        if size == 1 { #expect((byte & 0x01 != 0) == (countBefore > 0)) }
                    case 8...:
                        #expect(byte == 0xFF)
                    default:
                        break
                    }
                }
            }
            #expect(h.uart.receivedCount <= UART16550.fifoSize)
            let pulses = h.lines.events.count - before
            #expect(pulses <= lanes)
            // A later lane of a wide write may disable the source an earlier lane raised.
            if pulses > 0 && lanes == 1 {
                #expect(h.uart.interruptPending, "a pulse with no enabled source pending")
            }
        }
        #expect(h.lines.events.allSatisfy { $0 == .isaPulse(UARTPorts.irq, UARTPorts.irq) })
        #expect(h.pulses > 1000)
    }
}
