import Dispatch
import Synchronization
import Testing
import TestSupport
@testable import VMM

/// Records every level the controller reports on its INTR output.
private final class OutputRecorder: Sendable {
    private let levels = Mutex<[Bool]>([])
    var events: [Bool] { levels.withLock { $0 } }
    func record(_ level: Bool) { levels.withLock { $0.append(level) } }
}

private let masterCommand: UInt16 = 0x20
private let masterData: UInt16 = 0x21
private let slaveCommand: UInt16 = 0xA0
private let slaveData: UInt16 = 0xA1
private let readIRR: UInt8 = 0x0A
private let readISR: UInt8 = 0x0B
private let nonSpecificEOI: UInt8 = 0x20

private extension ATPIC {
    func out(_ port: UInt16, _ value: UInt8) { portWrite(port, size: 1, value: UInt32(value)) }
    func inb(_ port: UInt16) -> UInt8 { UInt8(portRead(port, size: 1)) }

    /// Sends the ICW sequence to one controller, as a PC BIOS or OS does.
    func initialise(command: UInt16, base: UInt8, cascade: UInt8, icw4: UInt8) {
        out(command, 0x11)
        out(command + 1, base)
        out(command + 1, cascade)
        out(command + 1, icw4)
    }

    func isr(_ command: UInt16) -> UInt8 {
        out(command, readISR)
        let value = inb(command)
        out(command, readIRR)
        return value
    }

    func irr(_ command: UInt16) -> UInt8 { inb(command) }
}

/// A controller programmed like Linux does it: master base 0x20, slave base 0x28, nothing masked.
private func makePIC(masterICW4: UInt8 = 0x01, slaveICW4: UInt8 = 0x01) -> (ATPIC, OutputRecorder) {
    let recorder = OutputRecorder()
    let pic = ATPIC { recorder.record($0) }
    pic.initialise(command: masterCommand, base: 0x20, cascade: 0x04, icw4: masterICW4)
    pic.initialise(command: slaveCommand, base: 0x28, cascade: 0x02, icw4: slaveICW4)
    return (pic, recorder)
}

@Suite struct ATPICInitialisationTests {
    @Test func outputStaysLowUntilTheICWSequenceCompletes() {
        let recorder = OutputRecorder()
        let pic = ATPIC { recorder.record($0) }
        pic.pulse(0)
        #expect(!pic.outputAsserted)
        #expect(pic.acknowledge() == nil)
        pic.initialise(command: masterCommand, base: 0x20, cascade: 0x04, icw4: 0x01)
        #expect(!pic.outputAsserted, "ICW1 clears edge requests latched before it")
        pic.pulse(0)
        #expect(pic.outputAsserted)
        #expect(recorder.events == [true])
    }

    @Test func vectorIsICW2BasePlusPinWithLowBitsIgnored() {
        let (pic, _) = makePIC()
        pic.initialise(command: masterCommand, base: 0x37, cascade: 0x04, icw4: 0x01)
        pic.pulse(5)
        #expect(pic.acknowledge() == 0x35)
    }

    @Test func dataPortWritesBeforeInitialisationSetTheMask() {
        let pic = ATPIC { _ in }
        pic.out(masterData, 0x12)
        #expect(pic.inb(masterData) == 0x12)
    }

    @Test func commandsBeforeInitialisationAreIgnored() {
        let pic = ATPIC { _ in }
        pic.out(masterCommand, 0x0C)
        pic.out(masterData, 0x34)
        #expect(pic.inb(masterData) == 0x34, "a poll command would have turned this read into a poll")
    }

    @Test func icw1ClearsMaskInServiceRequestsPriorityAndModes() {
        let (pic, _) = makePIC()
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x23)
        pic.out(masterCommand, 0xC4)
        pic.out(masterCommand, 0x68)
        pic.out(masterData, 0x55)
        pic.pulse(6)
        pic.out(masterCommand, readISR)
        pic.initialise(command: masterCommand, base: 0x20, cascade: 0x04, icw4: 0x01)
        #expect(pic.inb(masterData) == 0)
        #expect(pic.inb(masterCommand) == 0, "read select is back on IRR and the edge latch of IRQ 6 is gone")
        #expect(pic.isr(masterCommand) == 0)
        pic.pulse(7)
        pic.pulse(0)
        #expect(pic.acknowledge() == 0x20, "IRQ 7 is the lowest priority again")
        pic.out(masterData, 0x80)
        pic.pulse(1)
        #expect(!pic.outputAsserted, "special mask mode is off, so IRQ 0 in service blocks IRQ 1")
    }

    @Test func icw1WithoutICW4ClearsAutoEOI() {
        let (pic, _) = makePIC(masterICW4: 0x03)
        pic.out(masterCommand, 0x10)
        pic.out(masterData, 0x20)
        pic.out(masterData, 0x04)
        pic.out(masterData, 0x00)
        #expect(pic.inb(masterData) == 0x00, "the ICW sequence ended after ICW3")
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x23)
        #expect(pic.isr(masterCommand) == 0x08)
    }

    @Test func singleModeSkipsICW3() {
        let (pic, _) = makePIC()
        pic.out(masterCommand, 0x13)
        pic.out(masterData, 0x40)
        pic.out(masterData, 0x01)
        pic.out(masterData, 0xFD)
        #expect(pic.inb(masterData) == 0xFD)
        pic.pulse(1)
        #expect(pic.acknowledge() == 0x41)
    }

    @Test func icw4Without8086ModeStillGivesVectors() {
        let (pic, _) = makePIC(masterICW4: 0x00)
        pic.pulse(4)
        #expect(pic.acknowledge() == 0x24)
    }

    @Test func readingDataPortReturnsIMR() {
        let (pic, _) = makePIC()
        pic.out(masterData, 0xA5)
        pic.out(slaveData, 0x5A)
        #expect(pic.inb(masterData) == 0xA5)
        #expect(pic.inb(slaveData) == 0x5A)
    }

    @Test func nonByteAccessesReadAllOnesAndAreIgnored() {
        let (pic, _) = makePIC()
        #expect(pic.portRead(masterData, size: 2) == 0xFFFF)
        #expect(pic.portRead(slaveCommand, size: 4) == 0xFFFF_FFFF)
        #expect(pic.portRead(0x4D0, size: 2) == 0xFFFF)
        pic.portWrite(masterData, size: 2, value: 0xFFFF)
        pic.portWrite(0x4D0, size: 4, value: 0xFFFF_FFFF)
        pic.portWrite(masterCommand, size: 2, value: 0x11)
        #expect(pic.inb(masterData) == 0)
        #expect(pic.inb(0x4D0) == 0)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x23, "the wide ICW1 did not reinitialise the master")
    }

    @Test func resetReturnsToPowerOnWithConfiguredELCR() throws {
        let (pic, recorder) = makePIC()
        try pic.setTriggerMode(5, level: true)
        pic.out(0x4D0, 0x80)
        pic.out(masterData, 0x0F)
        pic.pulse(4)
        pic.reset()
        #expect(!pic.outputAsserted)
        #expect(recorder.events == [true, false])
        #expect(pic.inb(0x4D0) == 0x20)
        #expect(pic.inb(masterData) == 0)
        pic.pulse(3)
        #expect(!pic.outputAsserted)
        #expect(pic.acknowledge() == nil)
    }

    @Test func resetKeepsLineLevels() throws {
        let (pic, _) = makePIC()
        try pic.setTriggerMode(5, level: true)
        pic.assert(5)
        pic.reset()
        pic.initialise(command: masterCommand, base: 0x20, cascade: 0x04, icw4: 0x01)
        #expect(pic.acknowledge() == 0x25)
    }
}

@Suite struct ATPICPriorityTests {
    @Test func acknowledgeReturnsNilWhileOutputLow() {
        let (pic, _) = makePIC()
        #expect(pic.acknowledge() == nil)
    }

    @Test func maskedIRQDoesNotRaiseOutput() {
        let (pic, recorder) = makePIC()
        pic.out(masterData, 0x08)
        pic.pulse(3)
        #expect(!pic.outputAsserted)
        #expect(recorder.events.isEmpty)
        #expect(pic.irr(masterCommand) == 0x08)
        pic.out(masterData, 0x00)
        #expect(pic.outputAsserted)
        #expect(pic.acknowledge() == 0x23)
    }

    @Test func maskingARaisedRequestLowersOutputInsteadOfASpuriousIRQ7() {
        let (pic, recorder) = makePIC()
        pic.pulse(5)
        pic.out(masterData, 0x20)
        #expect(recorder.events == [true, false])
        #expect(pic.acknowledge() == nil)
        #expect(pic.isr(masterCommand) == 0)
    }

    @Test func acknowledgeMovesRequestFromIRRToISR() {
        let (pic, _) = makePIC()
        pic.pulse(4)
        #expect(pic.irr(masterCommand) == 0x10)
        #expect(pic.acknowledge() == 0x24)
        #expect(pic.irr(masterCommand) == 0)
        pic.out(masterCommand, readISR)
        #expect(pic.inb(masterCommand) == 0x10)
        #expect(pic.inb(masterCommand) == 0x10, "the read select persists")
        pic.out(masterCommand, readIRR)
        #expect(pic.inb(masterCommand) == 0)
    }

    @Test func eoiLetsTheNextLowerPriorityIRQThrough() {
        let (pic, recorder) = makePIC()
        pic.pulse(3)
        pic.pulse(5)
        #expect(pic.acknowledge() == 0x23)
        #expect(!pic.outputAsserted)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.outputAsserted)
        #expect(pic.acknowledge() == 0x25)
        #expect(recorder.events == [true, false, true, false])
    }

    @Test func higherPriorityIRQInterruptsALowerOneInService() {
        let (pic, _) = makePIC()
        pic.pulse(5)
        #expect(pic.acknowledge() == 0x25)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x23)
        #expect(pic.isr(masterCommand) == 0x28)
    }

    @Test func nonSpecificEOIClearsTheHighestPriorityInService() {
        let (pic, _) = makePIC()
        pic.pulse(3)
        _ = pic.acknowledge()
        pic.pulse(1)
        _ = pic.acknowledge()
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.isr(masterCommand) == 0x08)
    }

    @Test func specificEOIClearsOnlyTheNamedLevel() {
        let (pic, _) = makePIC()
        pic.pulse(3)
        _ = pic.acknowledge()
        pic.pulse(1)
        _ = pic.acknowledge()
        pic.out(masterCommand, 0x63)
        #expect(pic.isr(masterCommand) == 0x02)
    }

    @Test func rotateOnNonSpecificEOIMakesTheServicedLevelLowest() {
        let (pic, _) = makePIC()
        pic.pulse(4)
        _ = pic.acknowledge()
        pic.out(masterCommand, 0xA0)
        for irq in [0, 3, 4, 5, 7] { pic.pulse(irq) }
        var order: [UInt8] = []
        while let vector = pic.acknowledge() {
            order.append(vector)
            pic.out(masterCommand, nonSpecificEOI)
        }
        #expect(order == [0x25, 0x27, 0x20, 0x23, 0x24])
    }

    @Test func rotateOnSpecificEOIMakesTheNamedLevelLowest() {
        let (pic, _) = makePIC()
        pic.pulse(1)
        _ = pic.acknowledge()
        pic.out(masterCommand, 0xE1)
        #expect(pic.isr(masterCommand) == 0)
        pic.pulse(1)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x23)
    }

    @Test func setPriorityCommandChoosesTheLowestLevel() {
        let (pic, _) = makePIC()
        pic.out(masterCommand, 0xC5)
        pic.pulse(0)
        pic.pulse(7)
        #expect(pic.acknowledge() == 0x27)
    }

    @Test func autoEOILeavesISRClearAndLetsTheNextRequestThrough() {
        let (pic, recorder) = makePIC(masterICW4: 0x03)
        pic.pulse(3)
        pic.pulse(5)
        #expect(pic.acknowledge() == 0x23)
        #expect(pic.isr(masterCommand) == 0)
        #expect(pic.outputAsserted)
        #expect(pic.acknowledge() == 0x25)
        #expect(!pic.outputAsserted)
        #expect(recorder.events == [true, false])
    }

    @Test func rotateInAutoEOIModeRotatesOnEachAcknowledge() {
        let (pic, _) = makePIC(masterICW4: 0x03)
        pic.out(masterCommand, 0x80)
        pic.pulse(0)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x20)
        pic.pulse(0)
        #expect(pic.acknowledge() == 0x23, "IRQ 0 became the lowest priority")
    }

    @Test func clearRotateInAutoEOIModeStopsRotation() {
        let (pic, _) = makePIC(masterICW4: 0x03)
        pic.out(masterCommand, 0x80)
        pic.out(masterCommand, 0x00)
        pic.pulse(0)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x20)
        pic.pulse(0)
        #expect(pic.acknowledge() == 0x20)
    }

    @Test func endOfInterruptCommandsKeepRotateInAutoEOIMode() {
        let (pic, _) = makePIC(masterICW4: 0x03)
        pic.out(masterCommand, 0x80)
        pic.out(masterCommand, nonSpecificEOI)
        pic.pulse(0)
        pic.pulse(3)
        #expect(pic.acknowledge() == 0x20)
        pic.pulse(0)
        #expect(pic.acknowledge() == 0x23)
    }

    @Test func specialMaskModeLetsLowerLevelsThroughWhileOneIsInService() {
        let (pic, _) = makePIC()
        pic.pulse(3)
        _ = pic.acknowledge()
        pic.out(masterData, 0x08)
        pic.pulse(5)
        #expect(!pic.outputAsserted)
        pic.out(masterCommand, 0x68)
        #expect(pic.outputAsserted)
        #expect(pic.acknowledge() == 0x25)
        #expect(pic.isr(masterCommand) == 0x28)
        pic.out(masterCommand, 0x48)
        pic.out(masterCommand, 0x65)
        pic.pulse(6)
        #expect(!pic.outputAsserted, "with special mask mode off, IRQ 3 in service blocks IRQ 6")
    }

    @Test func nonSpecificEOIInSpecialMaskModeSkipsMaskedLevels() {
        let (pic, _) = makePIC()
        pic.pulse(3)
        _ = pic.acknowledge()
        pic.out(masterData, 0x08)
        pic.out(masterCommand, 0x68)
        pic.pulse(5)
        _ = pic.acknowledge()
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.isr(masterCommand) == 0x08)
    }

    @Test func pollReadAcknowledgesTheHighestRequest() {
        let (pic, recorder) = makePIC()
        pic.pulse(4)
        pic.pulse(6)
        pic.out(masterCommand, 0x0C)
        #expect(pic.inb(masterCommand) == 0x84)
        #expect(pic.irr(masterCommand) == 0x40, "a poll is one-shot: this read returns IRR")
        #expect(pic.isr(masterCommand) == 0x10)
        #expect(recorder.events == [true, false])
        pic.out(masterCommand, nonSpecificEOI)
        pic.out(masterCommand, 0x0C)
        #expect(pic.inb(masterData) == 0x86, "polling through the data port works too")
        pic.out(masterCommand, nonSpecificEOI)
        pic.out(masterCommand, 0x0E)
        #expect(pic.inb(masterCommand) == 0x00)
    }
}

@Suite struct ATPICCascadeTests {
    @Test func slaveIRQ12AcknowledgesAsSlaveBasePlus4AndSetsMasterISR2() {
        let (pic, _) = makePIC()
        pic.pulse(12)
        #expect(pic.outputAsserted)
        #expect(pic.acknowledge() == 0x2C)
        #expect(pic.isr(masterCommand) == 0x04)
        #expect(pic.isr(slaveCommand) == 0x10)
        #expect(pic.irr(masterCommand) == 0)
        #expect(pic.irr(slaveCommand) == 0)
    }

    @Test func maskingMasterPin2HoldsBackTheSlave() {
        let (pic, _) = makePIC()
        pic.out(masterData, 0x04)
        pic.pulse(9)
        #expect(!pic.outputAsserted)
        pic.out(masterData, 0x00)
        #expect(pic.acknowledge() == 0x29)
    }

    @Test func vanishedSlaveRequestLowersTheOutput() {
        let (pic, recorder) = makePIC()
        pic.pulse(12)
        pic.out(slaveData, 0x10)
        #expect(recorder.events == [true, false])
        #expect(pic.irr(masterCommand) == 0, "master pin 2 follows the slave's INT")
        #expect(pic.acknowledge() == nil)
        pic.out(slaveData, 0x00)
        #expect(pic.acknowledge() == 0x2C)
    }

    @Test func irq2WithoutASlaveRequestGivesTheSlaveSpuriousVector() {
        let (pic, _) = makePIC()
        pic.assert(2)
        #expect(pic.acknowledge() == 0x2F)
        #expect(pic.isr(slaveCommand) == 0, "the spurious IRQ 15 is not put in service")
        #expect(pic.isr(masterCommand) == 0x04)
        #expect(pic.irr(masterCommand) == 0)
    }

    @Test func slaveInServiceBlocksFurtherSlaveRequestsWithoutSpecialFullyNestedMode() {
        let (pic, _) = makePIC()
        pic.pulse(12)
        _ = pic.acknowledge()
        pic.pulse(9)
        #expect(!pic.outputAsserted)
        pic.out(slaveCommand, nonSpecificEOI)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.acknowledge() == 0x29)
    }

    @Test func specialFullyNestedModeLetsHigherSlaveRequestsThroughButBlocksLowerMasterPins() {
        let (pic, _) = makePIC(masterICW4: 0x11)
        pic.pulse(12)
        _ = pic.acknowledge()
        pic.pulse(3)
        #expect(!pic.outputAsserted, "master ISR 2 still blocks IRQ 3")
        pic.pulse(9)
        #expect(pic.acknowledge() == 0x29)
        #expect(pic.isr(slaveCommand) == 0x12)
    }

    @Test func specialFullyNestedModeKeepsOtherMasterPinsFullyNested() {
        let (pic, _) = makePIC(masterICW4: 0x11)
        pic.pulse(1)
        #expect(pic.acknowledge() == 0x21)
        pic.pulse(1)
        #expect(!pic.outputAsserted)
    }

    @Test func slaveIgnoresSpecialFullyNestedMode() {
        let (pic, _) = makePIC(slaveICW4: 0x11)
        pic.pulse(10)
        #expect(pic.acknowledge() == 0x2A)
        pic.out(masterCommand, nonSpecificEOI)
        pic.pulse(10)
        #expect(!pic.outputAsserted, "slave ISR 2 blocks slave pin 2")
    }

    @Test func secondSlaveRequestInAutoEOIIsDeliveredAfterTheMasterEOI() {
        let (pic, _) = makePIC(slaveICW4: 0x03)
        pic.pulse(9)
        pic.pulse(11)
        #expect(pic.acknowledge() == 0x29)
        #expect(!pic.outputAsserted, "master ISR 2 is in service")
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.acknowledge() == 0x2B)
    }

    @Test func bothInAutoEOIDeliverConsecutiveSlaveRequests() {
        let (pic, recorder) = makePIC(masterICW4: 0x03, slaveICW4: 0x03)
        pic.pulse(9)
        pic.pulse(11)
        #expect(pic.acknowledge() == 0x29)
        #expect(pic.acknowledge() == 0x2B)
        #expect(pic.acknowledge() == nil)
        #expect(recorder.events == [true, false])
    }

    @Test func slavePollAcknowledgesOnTheSlave() {
        let (pic, _) = makePIC()
        pic.pulse(13)
        pic.out(masterCommand, 0x0C)
        #expect(pic.inb(masterCommand) == 0x82)
        pic.out(slaveCommand, 0x0C)
        #expect(pic.inb(slaveCommand) == 0x85)
        #expect(pic.isr(slaveCommand) == 0x20)
        #expect(pic.isr(masterCommand) == 0x04)
    }
}

@Suite struct ATPICTriggerTests {
    @Test func edgeTriggeredIRQRequestsOnlyOnARisingEdge() {
        let (pic, _) = makePIC()
        pic.assert(4)
        #expect(pic.irr(masterCommand) == 0x10)
        #expect(pic.acknowledge() == 0x24)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(!pic.outputAsserted, "the line is still high but there was no new edge")
        pic.deassert(4)
        pic.assert(4)
        #expect(pic.acknowledge() == 0x24)
    }

    @Test func pulseLatchesAnEdgeRequest() {
        let (pic, _) = makePIC()
        pic.pulse(6)
        #expect(pic.irr(masterCommand) == 0x40)
        #expect(pic.outputAsserted)
    }

    @Test func secondSourceOnAHighEdgeLineIsNoNewEdge() {
        let (pic, _) = makePIC()
        pic.assert(4)
        _ = pic.acknowledge()
        pic.out(masterCommand, nonSpecificEOI)
        pic.assert(4)
        #expect(!pic.outputAsserted)
        pic.deassert(4)
        pic.deassert(4)
        pic.assert(4)
        #expect(pic.outputAsserted)
    }

    @Test func levelTriggeredIRRFollowsTheLine() throws {
        let (pic, recorder) = makePIC()
        try pic.setTriggerMode(5, level: true)
        pic.assert(5)
        #expect(pic.irr(masterCommand) == 0x20)
        pic.deassert(5)
        #expect(pic.irr(masterCommand) == 0)
        #expect(recorder.events == [true, false])
    }

    @Test func levelIRQRequestsAgainAfterEOIWhileStillAsserted() throws {
        let (pic, _) = makePIC()
        try pic.setTriggerMode(10, level: true)
        pic.assert(10)
        #expect(pic.acknowledge() == 0x2A)
        #expect(pic.irr(slaveCommand) == 0x04)
        pic.out(slaveCommand, nonSpecificEOI)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(pic.acknowledge() == 0x2A)
        pic.deassert(10)
        pic.out(slaveCommand, nonSpecificEOI)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(!pic.outputAsserted)
    }

    @Test func twoSourcesOnALevelLineKeepItAssertedUntilBothDeassert() throws {
        let (pic, recorder) = makePIC()
        try pic.setTriggerMode(11, level: true)
        pic.assert(11)
        pic.assert(11)
        pic.deassert(11)
        #expect(pic.outputAsserted)
        pic.deassert(11)
        #expect(!pic.outputAsserted)
        #expect(recorder.events == [true, false])
    }

    @Test func deassertWithoutASourceIsIgnored() throws {
        let (pic, _) = makePIC()
        try pic.setTriggerMode(5, level: true)
        pic.deassert(5)
        pic.assert(5)
        #expect(pic.outputAsserted)
        pic.deassert(5)
        #expect(!pic.outputAsserted)
    }

    @Test func elcrPortsForceEdgeForTimerKeyboardCascadeRTCAndFPU() {
        let (pic, _) = makePIC()
        pic.out(0x4D0, 0xFF)
        pic.out(0x4D1, 0xFF)
        #expect(pic.inb(0x4D0) == 0xF8)
        #expect(pic.inb(0x4D1) == 0xDE)
    }

    @Test func guestELCRWriteMakesAPinLevelTriggered() {
        let (pic, _) = makePIC()
        pic.out(0x4D1, 0x08)
        pic.assert(11)
        pic.deassert(11)
        #expect(!pic.outputAsserted)
        #expect(pic.irr(slaveCommand) == 0)
    }

    @Test func switchingAPinToLevelMakesIRRFollowItsLine() throws {
        let (pic, _) = makePIC()
        pic.pulse(5)
        pic.assert(6)
        try pic.setTriggerMode(5, level: true)
        try pic.setTriggerMode(6, level: true)
        #expect(pic.irr(masterCommand) == 0x40)
        #expect(pic.acknowledge() == 0x26)
    }

    @Test func setTriggerModeRefusesLevelForForcedEdgeIRQs() throws {
        let pic = ATPIC { _ in }
        for irq in [0, 1, 2, 8, 13] {
            #expect(throws: ATPICError.self) { try pic.setTriggerMode(irq, level: true) }
            try pic.setTriggerMode(irq, level: false)
        }
        #expect(throws: ATPICError.self) { try pic.setTriggerMode(16, level: false) }
        #expect(throws: ATPICError.self) { try pic.setTriggerMode(-1, level: true) }
        try pic.setTriggerMode(3, level: true)
        try pic.setTriggerMode(9, level: true)
        #expect(pic.inb(0x4D0) == 0x08)
        #expect(pic.inb(0x4D1) == 0x02)
        try pic.setTriggerMode(9, level: false)
        #expect(pic.inb(0x4D1) == 0x00)
    }

    @Test func errorDescribesTheIRQ() {
        let pic = ATPIC { _ in }
        #expect(throws: ATPICError(description: "8259A IRQ 13 must be edge-triggered")) {
            try pic.setTriggerMode(13, level: true)
        }
    }
}

@Suite struct ATPICOutputTests {
    @Test func outputCallbackFiresOnEachLevelChangeExactly() {
        let (pic, recorder) = makePIC()
        pic.pulse(3)
        pic.pulse(4)
        #expect(recorder.events == [true])
        _ = pic.acknowledge()
        #expect(recorder.events == [true, false])
        pic.out(masterCommand, nonSpecificEOI)
        _ = pic.acknowledge()
        pic.out(masterCommand, nonSpecificEOI)
        pic.out(masterCommand, nonSpecificEOI)
        #expect(recorder.events == [true, false, true, false])
    }

    @Test func callbackMayCallBackIntoTheController() {
        let recorder = OutputRecorder()
        let vectors = Mutex<[UInt8]>([])
        let holder = Mutex<ATPIC?>(nil)
        let pic = ATPIC { level in
            recorder.record(level)
            guard level, let pic = holder.withLock({ $0 }), let vector = pic.acknowledge() else { return }
            vectors.withLock { $0.append(vector) }
        }
        holder.withLock { $0 = pic }
        pic.initialise(command: masterCommand, base: 0x20, cascade: 0x04, icw4: 0x01)
        pic.pulse(3)
        #expect(vectors.withLock { $0 } == [0x23])
        #expect(recorder.events == [true, false])
        #expect(!pic.outputAsserted)
        holder.withLock { $0 = nil }
    }

    @Test func concurrentCallersSeeReportsInOrderOfTheChanges() throws {
        let (pic, recorder) = makePIC()
        try pic.setTriggerMode(5, level: true)
        try pic.setTriggerMode(10, level: true)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for _ in 0..<5_000 {
                switch worker {
                case 0: pic.assert(5); pic.deassert(5)
                case 1: pic.assert(10); pic.deassert(10)
                case 2: pic.pulse(3); _ = pic.acknowledge(); pic.out(masterCommand, nonSpecificEOI)
                default: _ = pic.acknowledge(); pic.out(slaveCommand, nonSpecificEOI); pic.out(masterCommand, nonSpecificEOI)
                }
            }
        }
        let events = recorder.events
        #expect(zip(events, events.dropFirst()).allSatisfy { $0 != $1 })
        #expect(events.last ?? false == pic.outputAsserted)
    }

    @Test func randomTrafficKeepsInvariants() {
        let recorder = OutputRecorder()
        let pic = ATPIC { recorder.record($0) }
        var random = SeededGenerator(seed: 0x8259_A000)
        var lines = [Int](repeating: 0, count: 16)
        let ports: [UInt16] = [0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1]
        let sizes = [1, 1, 1, 1, 1, 1, 2, 4]
        var checkedEvents = 0
        var lastLevel = false
        var delivered = 0
        var fromSlave = 0

        for _ in 0..<100_000 {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<35:
                let port = ports.randomElement(using: &random)!
                var value = UInt32.random(in: 0...0xFFFF_FFFF, using: &random)
                // ICW1 on every other command write would keep the controllers initialising.
                if port & 1 == 0 && port < 0x100 && Int.random(in: 0..<8, using: &random) != 0 { value &= ~0x10 }
                pic.portWrite(port, size: sizes.randomElement(using: &random)!, value: value)
            case 35..<50:
                let port = ports.randomElement(using: &random)!
                let size = sizes.randomElement(using: &random)!
                let value = pic.portRead(port, size: size)
                if size == 1 {
                    #expect(value <= 0xFF)
                } else {
                    #expect(value == (size == 2 ? 0xFFFF : 0xFFFF_FFFF))
                }
            case 50..<75:
                let irq = Int.random(in: 0..<16, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0, 1:
                    pic.assert(irq)
                    lines[irq] += 1
                case 2, 3:
                    pic.deassert(irq)
                    lines[irq] = max(lines[irq] - 1, 0)
                default:
                    pic.pulse(irq)
                }
            case 75..<95:
                let before = pic.snapshot
                let vector = pic.acknowledge()
                let after = pic.snapshot
                #expect((vector != nil) == before.output)
                if let vector {
                    delivered += 1
                    if vector & 0xF8 == before.slave.vectorBase && before.master.vectorBase != before.slave.vectorBase {
                        fromSlave += 1
                    }
                    checkDelivery(vector, before: before, after: after)
                }
            case 95..<98:
                // Well-formed guest housekeeping steers the traffic back to working states.
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    let icw4 = UInt8.random(in: 0...0xFF, using: &random)
                    pic.initialise(command: masterCommand, base: UInt8.random(in: 0...0xFF, using: &random), cascade: 0x04, icw4: icw4)
                    pic.initialise(command: slaveCommand, base: UInt8.random(in: 0...0xFF, using: &random), cascade: 0x02, icw4: icw4)
                case 1:
                    pic.out(slaveCommand, nonSpecificEOI)
                    pic.out(masterCommand, nonSpecificEOI)
                default:
                    pic.out(masterData, 0)
                    pic.out(slaveData, 0)
                }
            case 98:
                let irq = Int.random(in: 0..<16, using: &random)
                let level = Bool.random(using: &random)
                do {
                    try pic.setTriggerMode(irq, level: level)
                } catch {
                    #expect(level && [0, 1, 2, 8, 13].contains(irq))
                }
            case 99 where Int.random(in: 0..<10, using: &random) == 0:
                pic.reset()
            default:
                break
            }

            let state = pic.snapshot
            let events = recorder.events
            for level in events[checkedEvents...] {
                #expect(level != lastLevel, "the output is reported only when it changes")
                lastLevel = level
            }
            checkedEvents = events.count
            #expect(lastLevel == pic.outputAsserted)
            #expect(state.output == (state.master.highestRequest() != nil))
            #expect(state.lineCounts == lines)
            #expect(state.master.elcr & ~ATPIC.masterLevelCapable == 0)
            #expect(state.slave.elcr & ~ATPIC.slaveLevelCapable == 0)
            #expect(!state.slave.specialFullyNested)
            for (chip, first) in [(state.master, 0), (state.slave, 8)] {
                #expect(chip.irr & chip.elcr == chip.inputs & chip.elcr, "level requests follow their lines")
                #expect((0...7).contains(chip.lowestPriority))
                #expect([0, 2, 3, 4].contains(chip.nextICW))
                #expect(chip.nextICW == 0 || !chip.ready)
                #expect(chip.vectorBase & 7 == 0)
                for pin in 0..<8 where !(first == 0 && pin == ATPIC.cascadePin) {
                    #expect((chip.inputs >> pin) & 1 == (lines[first + pin] > 0 ? 1 : 0))
                }
            }
            let cascadeHigh = state.slave.highestRequest() != nil || lines[ATPIC.cascadePin] > 0
            #expect((state.master.inputs >> 2) & 1 == (cascadeHigh ? 1 : 0))
            #expect(cascadeHigh || state.master.irr & 0x04 == 0, "master pin 2 requests only while its input is high")
        }
        #expect(delivered > 5000, "the traffic reached working states")
        #expect(fromSlave > 200, "the traffic went through the cascade")
    }

    /// No vector comes from a masked pin, and only the slave's spurious vector leaves ISR alone.
    private func checkDelivery(_ vector: UInt8, before: ATPIC.State, after: ATPIC.State) {
        let pin = Int(vector & 7)
        let base = vector & 0xF8
        guard before.master.vectorBase != before.slave.vectorBase else { return }
        if base == before.slave.vectorBase {
            #expect(before.master.imr & 0x04 == 0)
            if before.slave.imr & (1 << pin) != 0 || before.slave.irr & (1 << pin) == 0 {
                #expect(pin == 7, "only the spurious vector may name a masked or idle slave pin")
                #expect(after.slave.isr == before.slave.isr)
            }
        } else {
            #expect(base == before.master.vectorBase)
            #expect(pin != ATPIC.cascadePin)
            #expect(before.master.imr & (1 << pin) == 0)
            #expect(before.master.irr & (1 << pin) != 0)
        }
    }
}
