import Testing
import Devices
import TestSupport

/// pci-testdev at 0:3.0 with the LPC bridge, attached: INTA is I/O APIC pin 16 and IRQ 5.
private func testdevBench() throws -> (PCITestBench, PCITestDevice) {
    let bench = PCITestBench()
    let testdev = PCITestDevice()
    try bench.bus.add(LPCBridge(routing: bench.bus.routing), slot: 31, function: 0)
    try bench.bus.add(testdev, slot: 3, function: 0)
    try bench.connect()
    bench.lines.clear()
    return (bench, testdev)
}

private let msiOffset = 0x40
private let msixOffset = 0x58

private func status(_ bench: PCITestBench) -> UInt32 {
    bench.conf1Read(slot: 3, offset: 0x06, size: 2)
}

@Suite struct PCIINTxTests {
    @Test func assertingDrivesTheLinkIRQAndThePinAndSetsInterruptStatus() throws {
        let (bench, testdev) = try testdevBench()
        #expect(status(bench) & 0x08 == 0)
        testdev.pci.assertINTx()
        #expect(status(bench) & 0x08 != 0)
        testdev.pci.assertINTx()
        testdev.pci.deassertINTx()
        #expect(status(bench) & 0x08 == 0)
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, 16)])
    }

    @Test func interruptDisableWithdrawsAndRestoresAnAssertedINTx() throws {
        let (bench, testdev) = try testdevBench()
        testdev.pci.assertINTx()
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0407)
        #expect(status(bench) & 0x08 != 0, "the interrupt is still pending")
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0007)
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, 16), .isaAssert(5, 16)])
    }

    @Test func anINTxRaisedWhileDisabledWaitsAndMayBeWithdrawn() throws {
        let (bench, testdev) = try testdevBench()
        bench.conf1Write(slot: 3, offset: 0x05, size: 1, value: 0x04)
        testdev.pci.assertINTx()
        #expect(bench.lines.events.isEmpty)
        #expect(status(bench) & 0x08 != 0)
        testdev.pci.deassertINTx()
        #expect(status(bench) & 0x08 == 0)
        bench.conf1Write(slot: 3, offset: 0x05, size: 1, value: 0x00)
        #expect(bench.lines.events.isEmpty)
    }

    @Test func enablingMSIMasksINTxAndDisablingItUnmasks() throws {
        let (bench, testdev) = try testdevBench()
        testdev.pci.assertINTx()
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0x0001)
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0x0000)
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, 16), .isaAssert(5, 16)])
    }

    @Test func enablingMSIXMasksINTxAndDisablingItUnmasks() throws {
        let (bench, testdev) = try testdevBench()
        testdev.pci.assertINTx()
        bench.conf1Write(slot: 3, offset: msixOffset, value: 0x8000_0000)
        #expect(status(bench) & 0x08 != 0)
        bench.conf1Write(slot: 3, offset: msixOffset + 3, size: 1, value: 0x40)
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, 16), .isaAssert(5, 16)])
    }

    @Test func resetWithdrawsAnAssertedINTx() throws {
        let (bench, testdev) = try testdevBench()
        testdev.pci.assertINTx()
        bench.bus.reset()
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, 16)])
        #expect(status(bench) & 0x08 == 0)
    }
}

@Suite struct PCIMSITests {
    @Test func capabilityAdvertisesSixtyFourBitAddressesAndPerVectorMasking() throws {
        let (bench, _) = try testdevBench()
        #expect(bench.conf1Read(slot: 3, offset: 0x34, size: 1) == UInt32(msiOffset))
        #expect(bench.conf1Read(slot: 3, offset: msiOffset) == 0x0180_5805, "ID 5, next 0x58, 64-bit, PVM, one vector")
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0xFFFF)
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 2, size: 2) == 0x01F1, "only enable and MME are writable")
        bench.conf1Write(slot: 3, offset: msiOffset + 4, value: 0xFEE0_1003)
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 4) == 0xFEE0_1000)
        bench.conf1Write(slot: 3, offset: msiOffset + 0x10, value: 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 0x10) == 1, "one mask bit")
        bench.conf1Write(slot: 3, offset: msiOffset + 0x14, value: 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 0x14) == 0, "pending bits are read-only")
    }

    @Test func raiseSendsTheProgrammedMessage() throws {
        let (bench, testdev) = try testdevBench()
        bench.conf1Write(slot: 3, offset: msiOffset + 4, value: 0xFEE0_2000)
        bench.conf1Write(slot: 3, offset: msiOffset + 8, value: 0x1)
        bench.conf1Write(slot: 3, offset: msiOffset + 0xC, size: 2, value: 0x4041)
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0x0001)
        testdev.pci.raiseInterrupt()
        testdev.pci.raiseInterrupt(vector: 1)
        #expect(bench.lines.events == [.msi(address: 0x1_FEE0_2000, data: 0x4041)])
        #expect(status(bench) & 0x08 == 0)
    }

    @Test func aMaskedVectorPendsAndIsSentOnceOnUnmask() throws {
        let (bench, testdev) = try testdevBench()
        bench.conf1Write(slot: 3, offset: msiOffset + 4, value: 0xFEE0_0000)
        bench.conf1Write(slot: 3, offset: msiOffset + 0xC, size: 2, value: 0x0031)
        bench.conf1Write(slot: 3, offset: msiOffset + 0x10, value: 1)
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0x0001)
        testdev.pci.raiseInterrupt()
        testdev.pci.raiseInterrupt()
        #expect(bench.lines.events.isEmpty)
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 0x14) == 1)
        bench.conf1Write(slot: 3, offset: msiOffset + 0x10, value: 0)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_0000, data: 0x31)])
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 0x14) == 0)
    }

    @Test func multipleMessagesPutTheVectorInTheLowDataBits() throws {
        let bench = PCITestBench()
        let device = BARDevice(bars: [:], capabilities: [.msi(vectors: 4)])
        try bench.bus.add(device, slot: 2, function: 0)
        try bench.connect()
        #expect(bench.conf1Read(slot: 2, offset: 0x42, size: 2) == 0x0184, "MMC 4 vectors")
        bench.conf1Write(slot: 2, offset: 0x44, value: 0xFEE0_0000)
        bench.conf1Write(slot: 2, offset: 0x4C, size: 2, value: 0x0053)
        bench.conf1Write(slot: 2, offset: 0x42, size: 2, value: 0x0011)
        device.pci.raiseInterrupt(vector: 1)
        device.pci.raiseInterrupt(vector: 3)
        bench.conf1Write(slot: 2, offset: 0x42, size: 2, value: 0x0021)
        device.pci.raiseInterrupt(vector: 3)
        device.pci.raiseInterrupt(vector: 1)
        bench.conf1Write(slot: 2, offset: 0x42, size: 2, value: 0x0071)
        device.pci.raiseInterrupt(vector: 2)
        #expect(bench.lines.events == [
            .msi(address: 0xFEE0_0000, data: 0x53), .msi(address: 0xFEE0_0000, data: 0x53),
            .msi(address: 0xFEE0_0000, data: 0x51), .msi(address: 0xFEE0_0000, data: 0x52),
        ], "two enabled vectors replace bit 0 and drop vector 3; four replace bits 1-0; MME beyond MMC acts as MMC")
    }

    @Test func withMSIOffRaiseAssertsINTx() throws {
        let (bench, testdev) = try testdevBench()
        testdev.pci.raiseInterrupt()
        #expect(bench.lines.events == [.isaAssert(5, 16)])
        #expect(bench.conf1Read(slot: 3, offset: msiOffset + 0x14) == 0)
    }
}

@Suite struct PCIMSIXTests {
    private func tableAddress(_ testdev: PCITestDevice, _ offset: UInt64) throws -> UInt64 {
        try #require(testdev.pci.barAddress(PCITestDevice.msixBAR)) + offset
    }

    private func program(_ bench: PCITestBench, _ testdev: PCITestDevice, vector: UInt64, address: UInt64, data: UInt32,
                         masked: Bool) throws {
        let entry = try tableAddress(testdev, vector * 16)
        _ = bench.mmio.write(entry, size: 8, value: address)
        _ = bench.mmio.write(entry + 8, size: 4, value: UInt64(data))
        _ = bench.mmio.write(entry + 12, size: 4, value: masked ? 1 : 0)
    }

    private func enable(_ bench: PCITestBench, functionMask: Bool = false) {
        bench.conf1Write(slot: 3, offset: msixOffset + 2, size: 2, value: functionMask ? 0xC000 : 0x8000)
    }

    @Test func capabilityPointsAtTheTableAndPBAInBAR2() throws {
        let (bench, _) = try testdevBench()
        #expect(bench.conf1Read(slot: 3, offset: msixOffset) == 0x0001_0011, "ID 0x11, last, two vectors")
        #expect(bench.conf1Read(slot: 3, offset: msixOffset + 4) == 0x0000_0002)
        #expect(bench.conf1Read(slot: 3, offset: msixOffset + 8) == 0x0000_0802)
        bench.conf1Write(slot: 3, offset: msixOffset, value: 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 3, offset: msixOffset) == 0xC001_0011)
    }

    @Test func tableEntriesStartMaskedAndHoldWhatIsWritten() throws {
        let (bench, testdev) = try testdevBench()
        #expect(bench.mmio.read(try tableAddress(testdev, 12), size: 4) == 1)
        #expect(bench.mmio.read(try tableAddress(testdev, 28), size: 4) == 1)
        try program(bench, testdev, vector: 1, address: 0x1_FEE0_3003, data: 0xABCD_0041, masked: false)
        #expect(bench.mmio.read(try tableAddress(testdev, 16), size: 8) == 0x1_FEE0_3000, "address bits 1-0 are zero")
        #expect(bench.mmio.read(try tableAddress(testdev, 24), size: 8) == 0xABCD_0041)
        #expect(bench.mmio.read(try tableAddress(testdev, 25), size: 1) == 0x00)
        #expect(bench.mmio.read(try tableAddress(testdev, 26), size: 2) == 0xABCD)
        _ = bench.mmio.write(try tableAddress(testdev, 28), size: 4, value: 0xFFFF_FFFF)
        #expect(bench.mmio.read(try tableAddress(testdev, 28), size: 4) == 1, "vector control keeps only the mask bit")
    }

    @Test func unsupportedTableAccessesReadAllOnesAndAreIgnored() throws {
        let (bench, testdev) = try testdevBench()
        _ = bench.mmio.write(try tableAddress(testdev, 8), size: 2, value: 0x1234)
        _ = bench.mmio.write(try tableAddress(testdev, 6), size: 4, value: 0x1234)
        #expect(bench.mmio.read(try tableAddress(testdev, 8), size: 4) == 0)
        #expect(bench.mmio.read(try tableAddress(testdev, 4), size: 8) == UInt64.max)
        #expect(bench.mmio.read(try tableAddress(testdev, 30), size: 4) == UInt64.max)
        _ = bench.mmio.write(try tableAddress(testdev, 0x800), size: 8, value: UInt64.max)
        #expect(bench.mmio.read(try tableAddress(testdev, 0x800), size: 8) == 0, "the PBA is read-only")
        #expect(bench.mmio.read(try tableAddress(testdev, 0x400), size: 4) == 0, "the rest of BAR 2 is the device's")
    }

    @Test func raiseSendsVectorZerosExactMessage() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_1000, data: 0x4031, masked: false)
        try program(bench, testdev, vector: 1, address: 0xFEE0_2000, data: 0x4032, masked: false)
        enable(bench)
        testdev.pci.raiseInterrupt()
        testdev.pci.raiseInterrupt(vector: 1)
        testdev.pci.raiseInterrupt(vector: 2)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_1000, data: 0x4031), .msi(address: 0xFEE0_2000, data: 0x4032)])
    }

    @Test func aMaskedVectorSetsItsPendingBitAndIsSentOnUnmask() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 1, address: 0xFEE0_0000, data: 0x51, masked: true)
        enable(bench)
        testdev.pci.raiseInterrupt(vector: 1)
        testdev.pci.raiseInterrupt(vector: 1)
        #expect(bench.lines.events.isEmpty)
        #expect(testdev.pci.isMSIXPending(1))
        #expect(bench.mmio.read(try tableAddress(testdev, 0x800), size: 8) == 0b10)
        #expect(bench.mmio.read(try tableAddress(testdev, 0x800), size: 4) == 0b10)
        _ = bench.mmio.write(try tableAddress(testdev, 28), size: 4, value: 0)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_0000, data: 0x51)])
        #expect(bench.mmio.read(try tableAddress(testdev, 0x800), size: 8) == 0)
    }

    @Test func theFunctionMaskHoldsEveryVectorUntilCleared() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_0000, data: 0x40, masked: false)
        try program(bench, testdev, vector: 1, address: 0xFEE0_0000, data: 0x41, masked: false)
        enable(bench, functionMask: true)
        testdev.pci.raiseInterrupt(vector: 1)
        testdev.pci.raiseInterrupt(vector: 0)
        #expect(bench.lines.events.isEmpty)
        #expect(bench.mmio.read(try tableAddress(testdev, 0x800), size: 1) == 0b11)
        enable(bench)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_0000, data: 0x40), .msi(address: 0xFEE0_0000, data: 0x41)])
    }

    @Test func pendingBitsWaitForTheLastMaskToLift() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_0000, data: 0x40, masked: true)
        enable(bench, functionMask: true)
        testdev.pci.raiseInterrupt()
        _ = bench.mmio.write(try tableAddress(testdev, 12), size: 4, value: 0)
        #expect(bench.lines.events.isEmpty, "the function is still masked")
        enable(bench)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_0000, data: 0x40)])
    }

    @Test func withMSIXOffRaiseNeitherSendsNorPends() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_0000, data: 0x40, masked: true)
        testdev.pci.raiseInterrupt()
        #expect(!testdev.pci.isMSIXPending(0))
        #expect(bench.lines.events == [.isaAssert(5, 16)])
    }

    @Test func msiWinsWhenTheGuestEnablesBoth() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_0000, data: 0x40, masked: false)
        bench.conf1Write(slot: 3, offset: msiOffset + 4, value: 0xFEE0_1000)
        bench.conf1Write(slot: 3, offset: msiOffset + 0xC, size: 2, value: 0x77)
        bench.conf1Write(slot: 3, offset: msiOffset + 2, size: 2, value: 0x0001)
        enable(bench)
        testdev.pci.raiseInterrupt()
        #expect(bench.lines.events == [.msi(address: 0xFEE0_1000, data: 0x77)])
    }

    @Test func resetMasksEveryVectorAndDisablesMSIX() throws {
        let (bench, testdev) = try testdevBench()
        try program(bench, testdev, vector: 0, address: 0xFEE0_0000, data: 0x40, masked: false)
        enable(bench)
        bench.bus.reset()
        #expect(bench.mmio.read(try tableAddress(testdev, 0), size: 8) == 0)
        #expect(bench.mmio.read(try tableAddress(testdev, 12), size: 4) == 1)
        #expect(bench.conf1Read(slot: 3, offset: msixOffset + 2, size: 2) == 0x0001)
    }
}
