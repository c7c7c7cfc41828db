import Testing
import Devices
import VMM

/// A bench with a host bridge at 0:0.0, pci-testdev at 0:3.0 and the LPC bridge at 0:31.0.
private func standardBench(connect: Bool = true) throws -> (PCITestBench, PCITestDevice) {
    let bench = PCITestBench()
    let testdev = PCITestDevice()
    try bench.bus.add(PCIHostBridge(), slot: 0, function: 0)
    try bench.bus.add(testdev, slot: 3, function: 0)
    try bench.bus.add(LPCBridge(routing: bench.bus.routing), slot: 31, function: 0)
    if connect { try bench.connect() }
    return (bench, testdev)
}

@Suite struct PCIBusConfigAccessTests {
    @Test func emptySlotsReadAllOnesAtEverySize() throws {
        let (bench, _) = try standardBench()
        #expect(bench.conf1Read(slot: 5, offset: 0) == 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 5, offset: 2, size: 2) == 0xFFFF)
        #expect(bench.conf1Read(slot: 3, function: 1, offset: 0, size: 1) == 0xFF)
        #expect(bench.ecamRead(slot: 5, offset: 0) == 0xFFFF_FFFF)
        #expect(bench.ecamRead(slot: 5, offset: 0, size: 2) == 0xFFFF)
    }

    @Test func onlyDwordWritesLatchTheConfigAddress() throws {
        let (bench, _) = try standardBench()
        _ = bench.ports.write(0xCF8, size: 4, value: 0x8000_1808)
        #expect(bench.ports.read(0xCF8, size: 4) == 0x8000_1808)
        _ = bench.ports.write(0xCF8, size: 1, value: 0)
        _ = bench.ports.write(0xCF8, size: 2, value: 0)
        #expect(bench.ports.read(0xCF8, size: 4) == 0x8000_1808)
        #expect(bench.ports.read(0xCF8, size: 1) == 0xFF)
        #expect(bench.ports.read(0xCF8, size: 2) == 0xFFFF)
        #expect(bench.ports.read(0xCF9, size: 1) == nil, "port 0xCF9 belongs to reset control")
    }

    @Test func configAddressReservedBitsReadZero() throws {
        let (bench, _) = try standardBench()
        _ = bench.ports.write(0xCF8, size: 4, value: 0xFFFF_FFFF)
        #expect(bench.ports.read(0xCF8, size: 4) == 0x80FF_FFFC)
    }

    @Test func dataPortsReachTheirByteLanes() throws {
        let (bench, _) = try standardBench()
        #expect(bench.conf1Read(slot: 3, offset: 0) == 0x7E57_1275)
        #expect(bench.conf1Read(slot: 3, offset: 1, size: 1) == 0x12)
        #expect(bench.conf1Read(slot: 3, offset: 2, size: 1) == 0x57)
        #expect(bench.conf1Read(slot: 3, offset: 3, size: 1) == 0x7E)
        #expect(bench.conf1Read(slot: 3, offset: 2, size: 2) == 0x7E57)
        #expect(bench.conf1Read(slot: 3, offset: 0x0B, size: 1) == 0xFF, "base class 'other'")
        bench.conf1Write(slot: 3, offset: 0x3C, size: 1, value: 0x0E)
        #expect(bench.conf1Read(slot: 3, offset: 0x3C) & 0xFF == 0x0E)
    }

    @Test func misalignedDataAccessesReadAllOnesAndAreIgnored() throws {
        let (bench, _) = try standardBench()
        _ = bench.ports.write(0xCF8, size: 4, value: PCITestBench.configAddress(slot: 3, function: 0, offset: 0))
        #expect(bench.ports.read(0xCFD, size: 2) == 0xFFFF)
        #expect(bench.ports.read(0xCFE, size: 4) == 0xFFFF_FFFF)
        _ = bench.ports.write(0xCF8, size: 4, value: PCITestBench.configAddress(slot: 3, function: 0, offset: 0x3C))
        _ = bench.ports.write(0xCFF, size: 2, value: 0x1111)
        #expect(bench.conf1Read(slot: 3, offset: 0x3C, size: 1) != 0x11)
    }

    @Test func dataPortsWithoutTheEnableBitReadAllOnesAndDropWrites() throws {
        let (bench, _) = try standardBench()
        let line = bench.conf1Read(slot: 3, offset: 0x3C, size: 1)
        _ = bench.ports.write(0xCF8, size: 4, value: PCITestBench.configAddress(slot: 3, function: 0, offset: 0x3C) & ~PCIBus.configEnable)
        #expect(bench.ports.read(0xCFC, size: 4) == 0xFFFF_FFFF)
        _ = bench.ports.write(0xCFC, size: 1, value: 0x01)
        #expect(bench.conf1Read(slot: 3, offset: 0x3C, size: 1) == line)
    }

    @Test func otherBusesReadAllOnesThroughBothMechanisms() throws {
        let (bench, _) = try standardBench()
        _ = bench.ports.write(0xCF8, size: 4, value: PCITestBench.configAddress(slot: 3, function: 0, offset: 0, bus: 1))
        #expect(bench.ports.read(0xCFC, size: 4) == 0xFFFF_FFFF)
        #expect(bench.mmio.read(PCITestBench.ecamAddress(slot: 3, function: 0, offset: 0, bus: 1), size: 4) == 0xFFFF_FFFF)
        #expect(bench.mmio.read(PCIBus.ecamBase + PCIBus.ecamSize - 4, size: 4) == 0xFFFF_FFFF, "the window covers 256 buses")
    }

    @Test func ecamTakesAlignedAccessesOfOneTwoAndFourBytes() throws {
        let (bench, _) = try standardBench()
        #expect(bench.ecamRead(slot: 3, offset: 0) == 0x7E57_1275)
        #expect(bench.ecamRead(slot: 3, offset: 2, size: 2) == 0x7E57)
        #expect(bench.ecamRead(slot: 3, offset: 0x0B, size: 1) == 0xFF)
        #expect(bench.ecamRead(slot: 3, offset: 1, size: 2) == 0xFFFF)
        #expect(bench.ecamRead(slot: 3, offset: 0, size: 8) == UInt64.max)
        bench.ecamWrite(slot: 3, offset: 0x3C, size: 1, value: 0x0B)
        #expect(bench.ecamRead(slot: 3, offset: 0x3C, size: 1) == 0x0B)
        bench.ecamWrite(slot: 3, offset: 0x3C, size: 8, value: 0x0C)
        #expect(bench.ecamRead(slot: 3, offset: 0x3C, size: 1) == 0x0B)
    }

    @Test func ecamReachesTheExtendedSpaceWhichHasNoCapabilities() throws {
        let (bench, _) = try standardBench()
        #expect(bench.ecamRead(slot: 3, offset: 0x100) == 0)
        #expect(bench.ecamRead(slot: 3, offset: 0xFFC) == 0)
        bench.ecamWrite(slot: 3, offset: 0x100, value: 0xFFFF_FFFF)
        #expect(bench.ecamRead(slot: 3, offset: 0x100) == 0)
    }

    @Test func multifunctionBitReadsSetInEveryFunctionOfAMultifunctionSlot() throws {
        let (bench, _) = try standardBench(connect: false)
        try bench.bus.add(BARDevice(bars: [:]), slot: 4, function: 0)
        try bench.bus.add(BARDevice(bars: [:]), slot: 4, function: 2)
        try bench.connect()
        #expect(bench.conf1Read(slot: 4, offset: 0x0E, size: 1) == 0x80)
        #expect(bench.ecamRead(slot: 4, function: 2, offset: 0x0C) >> 16 == 0x80)
        #expect(bench.conf1Read(slot: 4, function: 2, offset: 0x0E, size: 2) == 0x0080)
        #expect(bench.conf1Read(slot: 3, offset: 0x0E, size: 1) == 0x00)
        #expect(bench.conf1Read(slot: 4, function: 1, offset: 0) == 0xFFFF_FFFF)
    }

    @Test func addRefusesOccupiedAndOutOfRangeSlotsAndLateAdditions() throws {
        let (bench, testdev) = try standardBench(connect: false)
        #expect(throws: PCIBusError("PCI slot 0:3.0 is already occupied")) {
            try bench.bus.add(PCITestDevice(), slot: 3, function: 0)
        }
        #expect(throws: PCIBusError("PCI slot 32 out of range (0-31)")) { try bench.bus.add(PCITestDevice(), slot: 32, function: 0) }
        #expect(throws: PCIBusError("PCI function 8 out of range (0-7)")) { try bench.bus.add(PCITestDevice(), slot: 1, function: 8) }
        #expect(throws: PCIBusError.self) { try bench.bus.add(testdev, slot: 4, function: 0) }
        try bench.connect()
        #expect(throws: PCIBusError("PCI functions cannot be added once the bus is attached")) {
            try bench.bus.add(PCITestDevice(), slot: 4, function: 0)
        }
        #expect(throws: PCIBusError.self) { try bench.connect() }
    }

    @Test func attachClaimsConfigPortsAndTheECAMWindow() throws {
        let (bench, _) = try standardBench()
        let ports = bench.ports.bus.registrations
        #expect(ports.contains { $0.range == 0xCF8...0xCF8 && $0.name == "PCI config address" })
        #expect(ports.contains { $0.range == 0xCFC...0xCFF && $0.name == "PCI config data" })
        #expect(bench.mmio.bus.registrations.contains { $0.range == 0xE000_0000...0xEFFF_FFFF && $0.name == "PCI ECAM" })
    }
}

@Suite struct PCIBusBARTests {
    @Test func barsArePlacedNaturallyAlignedInAddOrder() throws {
        let (bench, testdev) = try standardBench(connect: false)
        let big = BARDevice(bars: [0: .memory32(size: 0x10000), 1: .io(size: 0x100), 2: .memory64(size: 0x10_0000, prefetchable: true)])
        try bench.bus.add(big, slot: 4, function: 0)
        #expect(testdev.pci.barAddress(0) == 0xC000_0000)
        #expect(testdev.pci.barAddress(1) == 0x2000)
        #expect(testdev.pci.barAddress(2) == 0xC000_1000)
        #expect(big.pci.barAddress(0) == 0xC001_0000)
        #expect(big.pci.barAddress(1) == 0x2100)
        #expect(big.pci.barAddress(2) == PCITestBench.mmio64Base)
        #expect(big.pci.barAddress(3) == nil)
        try bench.connect()
        #expect(bench.conf1Read(slot: 3, offset: 0x10) == 0xC000_0000)
        #expect(bench.conf1Read(slot: 3, offset: 0x14) == 0x0000_2001)
        #expect(bench.conf1Read(slot: 4, offset: 0x18) == 0x0000_000C)
        #expect(bench.conf1Read(slot: 4, offset: 0x1C) == 0x0000_0008)
        #expect(bench.bus.usesMMIO64Window)
    }

    @Test func writingAllOnesReadsBackTheSizeMaskWithTheTypeBits() throws {
        let bench = PCITestBench(decodeAtPowerOn: false)
        let device = BARDevice(bars: [0: .memory32(size: 0x1000), 1: .io(size: 0x10), 2: .memory64(size: 0x10_0000, prefetchable: true),
                                      4: .memory32(size: 0x100, prefetchable: true)])
        try bench.bus.add(device, slot: 2, function: 0)
        try bench.connect()
        for offset in stride(from: 0x10, through: 0x24, by: 4) { bench.conf1Write(slot: 2, offset: offset, value: 0xFFFF_FFFF) }
        #expect(bench.conf1Read(slot: 2, offset: 0x10) == 0xFFFF_F000)
        #expect(bench.conf1Read(slot: 2, offset: 0x14) == 0x0000_FFF1)
        #expect(bench.conf1Read(slot: 2, offset: 0x18) == 0xFFF0_000C)
        #expect(bench.conf1Read(slot: 2, offset: 0x1C) == 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 2, offset: 0x20) == 0xFFFF_FF08)
        #expect(bench.conf1Read(slot: 2, offset: 0x24) == 0, "no BAR 5")
        bench.conf1Write(slot: 2, offset: 0x10, value: 0xC000_0000)
        #expect(bench.conf1Read(slot: 2, offset: 0x10) == 0xC000_0000)
        #expect(device.pci.barAddress(2) == 0xFFFF_FFFF_FFF0_0000)
    }

    @Test func largeSixtyFourBitBARsSizeThroughTheUpperHalf() throws {
        let bench = PCITestBench(decodeAtPowerOn: false)
        let device = BARDevice(bars: [0: .memory64(size: 0x2_0000_0000)])
        try bench.bus.add(device, slot: 2, function: 0)
        try bench.connect()
        #expect(device.pci.barAddress(0) == PCITestBench.mmio64Base)
        bench.conf1Write(slot: 2, offset: 0x10, value: 0xFFFF_FFFF)
        bench.conf1Write(slot: 2, offset: 0x14, value: 0xFFFF_FFFF)
        #expect(bench.conf1Read(slot: 2, offset: 0x10) == 0x0000_0004)
        #expect(bench.conf1Read(slot: 2, offset: 0x14) == 0xFFFF_FFFE)
    }

    @Test func commandDecodeBitsRegisterAndUnregisterTheBARs() throws {
        let (bench, testdev) = try standardBench()
        #expect(bench.conf1Read(slot: 3, offset: 0x04, size: 2) == 0x0007, "bus master and both decodes at power-on")
        #expect(testdev.pci.isBARMapped(0) && testdev.pci.isBARMapped(1) && testdev.pci.isBARMapped(2))
        #expect(bench.ports.read(0x2000, size: 4) != nil)
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0006)
        #expect(bench.ports.read(0x2000, size: 4) == nil)
        #expect(bench.mmio.read(0xC000_000C, size: 4) != nil)
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0004)
        #expect(bench.mmio.read(0xC000_000C, size: 4) == nil)
        #expect(bench.mmio.read(0xC000_1000, size: 4) == nil)
        #expect(!testdev.pci.isBARMapped(0) && !testdev.pci.isBARMapped(1) && !testdev.pci.isBARMapped(2))
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0003)
        #expect(bench.ports.read(0x2000, size: 4) != nil)
        #expect(bench.mmio.read(0xC000_000C, size: 4) != nil)
        #expect(bench.ports.bus.registrations.contains { $0.range == 0x2000...0x200F && $0.name == "PCI 0:3.0 BAR 1" })
    }

    @Test func reprogrammingABARMovesItsRange() throws {
        let (bench, testdev) = try standardBench()
        _ = bench.ports.write(0x2000, size: 4, value: 0xABCD)
        bench.conf1Write(slot: 3, offset: 0x14, value: 0x3000)
        #expect(bench.conf1Read(slot: 3, offset: 0x14) == 0x3001)
        #expect(bench.ports.read(0x2000, size: 4) == nil)
        #expect(bench.ports.read(0x3000, size: 4) == 0xABCD)
        bench.conf1Write(slot: 3, offset: 0x10, value: 0xD000_0000)
        _ = bench.mmio.write(0xD000_000C, size: 4, value: 0x77)
        #expect(bench.mmio.read(0xC000_000C, size: 4) == nil)
        #expect(testdev.barRead(bar: 0, offset: 0x0C, size: 4) == 0x77)
    }

    @Test func partialWritesMergeIntoTheBARRegister() throws {
        let (bench, testdev) = try standardBench()
        bench.conf1Write(slot: 3, offset: 0x13, size: 1, value: 0xD1)
        #expect(testdev.pci.barAddress(0) == 0xD100_0000)
        bench.conf1Write(slot: 3, offset: 0x14, size: 2, value: 0x4010)
        #expect(testdev.pci.barAddress(1) == 0x4010)
        #expect(bench.ports.read(0x4010, size: 4) != nil)
    }

    @Test func aBARMovedOntoATakenRangeStaysUnmappedUntilMovedAway() throws {
        let (bench, testdev) = try standardBench()
        try bench.ports.register(Occupant(), ports: 0x4000, count: 0x10, label: "occupant")
        bench.conf1Write(slot: 3, offset: 0x14, value: 0x4000)
        #expect(testdev.pci.barAddress(1) == 0x4000)
        #expect(!testdev.pci.isBARMapped(1))
        #expect(bench.ports.read(0x4000, size: 1) == 0x5A)
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0006)
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0007)
        #expect(bench.ports.read(0x4000, size: 1) == 0x5A, "re-enabling decode does not evict the occupant")
        bench.conf1Write(slot: 3, offset: 0x14, value: 0x5000)
        #expect(testdev.pci.isBARMapped(1))
        #expect(bench.ports.read(0x4000, size: 1) == 0x5A, "moving away leaves the occupant registered")
        #expect(bench.ports.read(0x5000, size: 4) == 0)
    }

    @Test func twoBARsOnOneRangeDecodeOnlyTheFirst() throws {
        let (bench, testdev) = try standardBench()
        bench.conf1Write(slot: 3, offset: 0x18, value: 0xC000_0000)
        #expect(testdev.pci.isBARMapped(0) && !testdev.pci.isBARMapped(2))
        bench.conf1Write(slot: 3, offset: 0x10, value: 0xC800_0000)
        #expect(bench.mmio.read(0xC000_0000, size: 4) == nil, "BAR 2 waits for its own move")
        bench.conf1Write(slot: 3, offset: 0x18, value: 0xC000_1000)
        #expect(testdev.pci.isBARMapped(2))
    }

    @Test func sixtyFourBitBARsMoveWhenEitherHalfChanges() throws {
        let (bench, _) = try standardBench(connect: false)
        let device = BARDevice(bars: [0: .memory64(size: 0x4000)])
        try bench.bus.add(device, slot: 5, function: 0)
        try bench.connect()
        #expect(bench.mmio.read(PCITestBench.mmio64Base + 0x10, size: 4) == 0x10)
        bench.conf1Write(slot: 5, offset: 0x14, value: 0x9)
        bench.conf1Write(slot: 5, offset: 0x10, value: 0x1234_8000)
        #expect(device.pci.barAddress(0) == 0x9_1234_8000)
        #expect(bench.mmio.read(PCITestBench.mmio64Base + 0x10, size: 4) == nil)
        #expect(bench.mmio.read(0x9_1234_8010, size: 4) == 0x10)
        #expect(bench.mmio.bus.registrations.filter { $0.name.hasPrefix("PCI 0:5.0") }.count == 1)
    }

    @Test func barAccessesReachTheDeviceWithTheirOffsetsAndEightByteOnesSplit() throws {
        let (bench, _) = try standardBench(connect: false)
        let device = BARDevice(bars: [1: .memory32(size: 0x100), 3: .io(size: 0x20)])
        try bench.bus.add(device, slot: 6, function: 0)
        try bench.connect()
        let memory = try #require(device.pci.barAddress(1))
        let io = try #require(device.pci.barAddress(3))
        #expect(bench.mmio.read(memory + 0x11, size: 1) == 0x11)
        #expect(bench.mmio.read(memory + 0x20, size: 8) == 0x24_0000_0020)
        _ = bench.mmio.write(memory + 0x40, size: 8, value: 0x1111_2222_3333_4444)
        #expect(bench.ports.read(UInt16(io) + 6, size: 2) == 6)
        _ = bench.ports.write(UInt16(io) + 4, size: 4, value: 0xAA55)
        #expect(device.accesses.withLock { $0 } == [
            .read(bar: 1, offset: 0x11, size: 1), .read(bar: 1, offset: 0x20, size: 4), .read(bar: 1, offset: 0x24, size: 4),
            .write(bar: 1, offset: 0x40, size: 4, value: 0x3333_4444), .write(bar: 1, offset: 0x44, size: 4, value: 0x1111_2222),
            .read(bar: 3, offset: 6, size: 2), .write(bar: 3, offset: 4, size: 4, value: 0xAA55),
        ])
    }

    @Test func accessesRunningPastTheEndOfABARReadAllOnes() throws {
        let (bench, testdev) = try standardBench()
        #expect(bench.mmio.read(0xC000_0FFE, size: 4) == UInt64.max)
        _ = bench.mmio.write(0xC000_0FFC, size: 8, value: 0)
        #expect(bench.ports.read(0x200E, size: 4) == 0xFFFF_FFFF)
        #expect(testdev.barRead(bar: 0, offset: 0x08, size: 4) == 0)
    }

    @Test func attachMovesBARsOffRangesOtherDevicesHold() throws {
        let (bench, testdev) = try standardBench(connect: false)
        try bench.ports.register(Occupant(), ports: 0x2000, count: 0x20, label: "pc-testdev-irq-line")
        try bench.mmio.register(Occupant(), base: 0xC000_0800, size: 0x10, label: "squatter")
        try bench.connect()
        #expect(testdev.pci.barAddress(1) == 0x2020)
        #expect(testdev.pci.barAddress(0) == 0xC000_1000)
        #expect(testdev.pci.barAddress(2) == 0xC000_2000)
        #expect(bench.conf1Read(slot: 3, offset: 0x14) == 0x2021)
        #expect(bench.ports.read(0x2020, size: 4) == 0)
    }

    @Test func functionsStartWithDecodingOffUnderABootROM() throws {
        let bench = PCITestBench(decodeAtPowerOn: false)
        let testdev = PCITestDevice()
        try bench.bus.add(testdev, slot: 3, function: 0)
        try bench.connect()
        #expect(bench.conf1Read(slot: 3, offset: 0x04, size: 2) == 0)
        #expect(!testdev.pci.isBARMapped(0) && !testdev.pci.isBARMapped(1))
        #expect(bench.ports.read(0x2000, size: 4) == nil)
        bench.conf1Write(slot: 3, offset: 0x04, size: 2, value: 0x0001)
        #expect(bench.ports.read(0x2000, size: 4) == 0)
        #expect(!testdev.pci.isBARMapped(0))
    }

    @Test func aBARThatDoesNotFitItsWindowIsRefused() throws {
        let bench = PCITestBench()
        try bench.bus.add(BARDevice(bars: [0: .memory32(size: 0x1000_0000)]), slot: 1, function: 0)
        try bench.bus.add(BARDevice(bars: [0: .memory32(size: 0x1000_0000)]), slot: 2, function: 0)
        #expect(throws: PCIBusError("no room in the PCI 32-bit memory window for BAR 0 (0x10000000 bytes) of 0:3.0")) {
            try bench.bus.add(BARDevice(bars: [0: .memory32(size: 0x1000_0000)]), slot: 3, function: 0)
        }
        #expect(throws: PCIBusError.self) { try bench.bus.add(BARDevice(bars: [0: .io(size: 0x1_0000)]), slot: 4, function: 0) }
    }

    @Test func resetPutsBARsCommandAndDeviceStateBackToPowerOn() throws {
        let (bench, _) = try standardBench(connect: false)
        let device = BARDevice(bars: [0: .io(size: 0x10)])
        try bench.bus.add(device, slot: 7, function: 0)
        try bench.connect()
        let placed = try #require(device.pci.barAddress(0))
        bench.conf1Write(slot: 7, offset: 0x10, value: 0x6000)
        bench.conf1Write(slot: 7, offset: 0x04, size: 2, value: 0)
        bench.conf1Write(slot: 7, offset: 0x3C, size: 1, value: 0x42)
        _ = bench.ports.write(0xCF8, size: 4, value: 0x8000_0000)
        bench.bus.reset()
        #expect(bench.ports.read(0xCF8, size: 4) == 0)
        #expect(device.pci.barAddress(0) == placed)
        #expect(device.pci.isBARMapped(0))
        #expect(bench.ports.read(UInt16(placed), size: 1) == 0)
        #expect(bench.ports.read(0x6000, size: 1) == nil)
        #expect(bench.conf1Read(slot: 7, offset: 0x04, size: 2) == 0x0005)
        #expect(bench.conf1Read(slot: 7, offset: 0x3C, size: 1) == 0xFF)
        #expect(device.resets.withLock { $0 } == 1)
    }
}
