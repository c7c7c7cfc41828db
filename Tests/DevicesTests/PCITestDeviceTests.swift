import Testing
import Devices
import TestSupport

@Suite struct PCITestDeviceTests {
    private func bench() throws -> (PCITestBench, PCITestDevice) {
        let bench = PCITestBench()
        let testdev = PCITestDevice()
        try bench.bus.add(testdev, slot: 3, function: 0)
        try bench.connect()
        bench.lines.clear()
        return (bench, testdev)
    }

    @Test func identifiesWithItsIDsClassPinAndBARs() throws {
        let (bench, _) = try bench()
        #expect(bench.conf1Read(slot: 3, offset: 0x00) == 0x7E57_1275)
        #expect(bench.conf1Read(slot: 3, offset: 0x08) == 0xFF00_0000)
        #expect(bench.conf1Read(slot: 3, offset: 0x3D, size: 1) == 1)
        #expect(bench.conf1Read(slot: 3, offset: 0x10) == 0xC000_0000)
        #expect(bench.conf1Read(slot: 3, offset: 0x14) == 0x2001)
        #expect(bench.conf1Read(slot: 3, offset: 0x18) == 0xC000_1000)
        #expect(bench.conf1Read(slot: 3, offset: 0x06, size: 2) & 0x10 != 0)
        #expect(bench.bus.device(slot: 3, function: 0)?.pci.configSpace.capabilities.map(\.id) == [0x05, 0x11])
    }

    @Test func raiseRegisterAssertsINTxAndLowerRegisterDeassertsIt() throws {
        let (bench, _) = try bench()
        _ = bench.mmio.write(0xC000_0000, size: 4, value: 0xDEAD)
        _ = bench.mmio.write(0xC000_0000, size: 1, value: 0)
        _ = bench.mmio.write(0xC000_0004, size: 4, value: 0)
        #expect(bench.lines.events == [.isaAssert(3, 16), .isaDeassert(3, 16)])
        #expect(bench.mmio.read(0xC000_0008, size: 4) == 2)
        #expect(bench.mmio.read(0xC000_0008, size: 1) == 2)
        _ = bench.mmio.write(0xC000_0008, size: 4, value: 0)
        #expect(bench.mmio.read(0xC000_0008, size: 4) == 2, "the count is read-only")
        #expect(bench.mmio.read(0xC000_0000, size: 4) == 0)
    }

    @Test func raiseUsesMSIXVectorZeroThenMSIThenINTx() throws {
        let (bench, _) = try bench()
        _ = bench.mmio.write(0xC000_1000, size: 8, value: 0xFEE0_0000)
        _ = bench.mmio.write(0xC000_1008, size: 8, value: 0x41)
        bench.conf1Write(slot: 3, offset: 0x44, value: 0xFEE0_1000)
        bench.conf1Write(slot: 3, offset: 0x4C, size: 2, value: 0x42)
        bench.conf1Write(slot: 3, offset: 0x5A, size: 2, value: 0x8000)
        _ = bench.mmio.write(0xC000_0000, size: 4, value: 1)
        bench.conf1Write(slot: 3, offset: 0x5A, size: 2, value: 0)
        bench.conf1Write(slot: 3, offset: 0x42, size: 2, value: 1)
        _ = bench.mmio.write(0xC000_0000, size: 4, value: 1)
        bench.conf1Write(slot: 3, offset: 0x42, size: 2, value: 0)
        _ = bench.mmio.write(0xC000_0000, size: 4, value: 1)
        #expect(bench.lines.events == [.msi(address: 0xFEE0_0000, data: 0x41), .msi(address: 0xFEE0_1000, data: 0x42),
                                       .isaAssert(3, 16)])
        #expect(bench.mmio.read(0xC000_0008, size: 4) == 3)
    }

    @Test func scratchRegistersKeepEveryByteLane() throws {
        let (bench, _) = try bench()
        _ = bench.mmio.write(0xC000_000C, size: 4, value: 0x1122_3344)
        _ = bench.mmio.write(0xC000_000E, size: 1, value: 0xAB)
        #expect(bench.mmio.read(0xC000_000C, size: 4) == 0x11AB_3344)
        #expect(bench.mmio.read(0xC000_000E, size: 2) == 0x11AB)
        _ = bench.ports.write(0x2000, size: 4, value: 0x5566_7788)
        _ = bench.ports.write(0x2001, size: 2, value: 0xCDEF)
        #expect(bench.ports.read(0x2000, size: 4) == 0x55CD_EF88)
        #expect(bench.ports.read(0x2003, size: 1) == 0x55)
        #expect(bench.ports.read(0x2004, size: 4) == 0)
        _ = bench.ports.write(0x2003, size: 2, value: 0xFFFF)
        #expect(bench.ports.read(0x2000, size: 4) == 0x55CD_EF88, "an access straddling two registers is ignored")
    }

    @Test func resetClearsTheCountAndScratchRegisters() throws {
        let (bench, testdev) = try bench()
        _ = bench.mmio.write(0xC000_0000, size: 4, value: 1)
        _ = bench.mmio.write(0xC000_000C, size: 4, value: 7)
        _ = bench.ports.write(0x2000, size: 4, value: 7)
        bench.bus.reset()
        #expect(testdev.barRead(bar: 0, offset: 8, size: 4) == 0)
        #expect(bench.mmio.read(0xC000_000C, size: 4) == 0)
        #expect(bench.ports.read(0x2000, size: 4) == 0)
    }
}

@Suite struct PCIHostBridgeTests {
    @Test func hostBridgeIdentifiesAsBhyvesWithARootPortCapability() throws {
        let bench = PCITestBench()
        try bench.bus.add(PCIHostBridge(), slot: 0, function: 0)
        try bench.connect()
        #expect(bench.conf1Read(slot: 0, offset: 0x00) == 0x1275_1275)
        #expect(bench.conf1Read(slot: 0, offset: 0x08) == 0x0600_0000)
        #expect(bench.conf1Read(slot: 0, offset: 0x0E, size: 1) == 0)
        #expect(bench.conf1Read(slot: 0, offset: 0x3C, size: 2) == 0x00FF, "no INTx")
        #expect(bench.conf1Read(slot: 0, offset: 0x04, size: 2) == 0x0004)
        for offset in stride(from: 0x10, to: 0x28, by: 4) {
            bench.conf1Write(slot: 0, offset: offset, value: 0xFFFF_FFFF)
            #expect(bench.conf1Read(slot: 0, offset: offset) == 0, "no BARs")
        }
        #expect(bench.conf1Read(slot: 0, offset: 0x34, size: 1) == 0x40)
        #expect(bench.conf1Read(slot: 0, offset: 0x40) == 0x0042_0010, "PCI Express v2 root port, last capability")
        #expect(bench.conf1Read(slot: 0, offset: 0x4C) == 0x411, "link: Gen1 x1")
        #expect(bench.conf1Read(slot: 0, offset: 0x52, size: 2) == 0x11)
        bench.conf1Write(slot: 0, offset: 0x48, value: 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 0, offset: 0x48) == 0x7FFF, "device control is writable, device status is not")
    }

    @Test func amdHostBridgeUsesAMDsVendorID() throws {
        let bridge = PCIHostBridge.amd()
        #expect(bridge.pci.configSpace.vendorID == 0x1022)
        #expect(bridge.pci.configSpace.deviceID == 0x7432)
        #expect(bridge.pci.configSpace.classCode == 0x06_00_00)
        let custom = PCIHostBridge(vendorID: 0x8086, deviceID: 0x1237)
        #expect(custom.pci.configSpace.identity.vendorID == 0x8086 && custom.pci.configSpace.deviceID == 0x1237)
    }
}
