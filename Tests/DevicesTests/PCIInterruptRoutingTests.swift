import Testing
import Devices
import TestSupport

@Suite struct PCIInterruptRoutingTests {
    @Test func routesTakeIOAPICPinsInTurnAndTheLeastUsedLinks() throws {
        let bench = PCITestBench()
        try bench.bus.add(LPCBridge(routing: bench.bus.routing), slot: 31, function: 0)
        let devices = (0..<10).map { _ in PCITestDevice() }
        for (i, device) in devices.enumerated().reversed() { try bench.bus.add(device, slot: 3 + i, function: 0) }
        try bench.connect()
        let routes = bench.bus.interruptRoutes
        #expect(routes.functions.map(\.slot) == Array(3...12), "bus order, not add order")
        #expect(routes.functions.map(\.ioapicPin) == Array(16...25))
        #expect(routes.functions.map(\.link) == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1])
        #expect(routes.functions.allSatisfy { $0.pin == .intA && $0.function == 0 })
        #expect(routes.links.map(\.irq) == [5, 6, 7, 9, 10, 11, 12, 14], "IRQs 3 and 4 stay with COM1-COM4")
        #expect(routes.links.map(\.configOffset) == [0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6A, 0x6B])
        #expect(bench.lines.levelIRQs == [5, 6, 7, 9, 10, 11, 12, 14])
        #expect(bench.conf1Read(slot: 3, offset: 0x3C, size: 2) == 0x0105, "INTA, routed to IRQ 5")
        #expect(bench.conf1Read(slot: 12, offset: 0x3C, size: 1) == 6)
        #expect(devices[9].pci.interruptRoute == PCIINTxRoute(ioapicPin: 25, link: 1))
    }

    @Test func withoutAnLPCBridgeLinksMayUseIRQsThreeAndFour() throws {
        let bench = PCITestBench()
        for slot in 1...9 { try bench.bus.add(PCITestDevice(), slot: slot, function: 0) }
        try bench.connect()
        #expect(bench.bus.interruptRoutes.links.map(\.irq) == [3, 4, 5, 6, 7, 9, 10, 11])
    }

    @Test func theIOAPICPoolWrapsAfterSixteenPins() throws {
        let bench = PCITestBench()
        for slot in 1...17 { try bench.bus.add(PCITestDevice(), slot: slot, function: 0) }
        try bench.connect()
        let pins = bench.bus.interruptRoutes.functions.map(\.ioapicPin)
        #expect(pins == Array(16...31) + [16])
    }

    @Test func functionsOfASlotGetTheLeastUsedPins() throws {
        let bench = PCITestBench()
        let functions = (0..<5).map { _ in BARDevice(bars: [:], pin: .intA) }
        for (number, function) in functions.enumerated() { try bench.bus.add(function, slot: 6, function: number) }
        let alone = BARDevice(bars: [:], pin: .intC)
        try bench.bus.add(alone, slot: 7, function: 0)
        try bench.connect()
        #expect(functions.map(\.pci.interruptPin) == [.intA, .intB, .intC, .intD, .intA])
        #expect(alone.pci.interruptPin == .intC, "an uncontested request is honoured")
        #expect(bench.conf1Read(slot: 6, function: 3, offset: 0x3D, size: 1) == 4)
        let routes = bench.bus.interruptRoutes.functions
        #expect(routes.count == 6)
        #expect(routes[0].ioapicPin == routes[4].ioapicPin && routes[0].link == routes[4].link, "one (slot, pin), one route")
        #expect(Set(routes[0..<4].map(\.ioapicPin)).count == 4)
    }

    @Test func sharedPinsAreWiredOr() throws {
        let bench = PCITestBench()
        let functions = (0..<5).map { _ in BARDevice(bars: [:], pin: .intA) }
        for (number, function) in functions.enumerated() { try bench.bus.add(function, slot: 6, function: number) }
        try bench.connect()
        let route = try #require(functions[0].pci.interruptRoute)
        let irq = try #require(bench.bus.routing.linkIRQ(route.link))
        bench.lines.clear()
        functions[0].pci.assertINTx()
        functions[4].pci.assertINTx()
        functions[0].pci.deassertINTx()
        functions[4].pci.deassertINTx()
        #expect(bench.lines.events == [.isaAssert(irq, route.ioapicPin), .ioapicAssert(route.ioapicPin),
                                       .ioapicDeassert(route.ioapicPin), .isaDeassert(irq, route.ioapicPin)])
    }

    @Test func functionsSharingALinkShareItsIRQ() throws {
        let bench = PCITestBench()
        let devices = (0..<9).map { _ in PCITestDevice() }
        for (i, device) in devices.enumerated() { try bench.bus.add(device, slot: 1 + i, function: 0) }
        try bench.connect()
        let first = try #require(devices[0].pci.interruptRoute)
        let ninth = try #require(devices[8].pci.interruptRoute)
        #expect(first.link == ninth.link && first.ioapicPin != ninth.ioapicPin)
        bench.lines.clear()
        devices[0].pci.assertINTx()
        devices[8].pci.assertINTx()
        devices[0].pci.deassertINTx()
        devices[8].pci.deassertINTx()
        #expect(bench.lines.events == [.isaAssert(3, first.ioapicPin), .ioapicAssert(ninth.ioapicPin),
                                       .ioapicDeassert(first.ioapicPin), .isaDeassert(3, ninth.ioapicPin)])
        #expect(bench.lines.isaLevels.allSatisfy { $0 == 0 } && bench.lines.ioapicLevels.allSatisfy { $0 == 0 })
    }

    @Test func routesAreEmptyUntilAttached() throws {
        let bench = PCITestBench()
        let device = PCITestDevice()
        try bench.bus.add(device, slot: 3, function: 0)
        #expect(bench.bus.interruptRoutes.functions.isEmpty)
        #expect(bench.bus.interruptRoutes.links.allSatisfy { $0.irq == nil })
        #expect(device.pci.configSpace.interruptLine == 0xFF)
        #expect(device.pci.configSpace.interruptPin == 1)
        device.pci.assertINTx()
        #expect(bench.lines.events.isEmpty)
        try bench.connect()
        #expect(bench.lines.events == [.isaAssert(3, 16)], "an INTx asserted before attach goes out on attach")
    }
}

@Suite struct LPCBridgeTests {
    private func bench(devices: Int = 1) throws -> (PCITestBench, [PCITestDevice]) {
        let bench = PCITestBench()
        try bench.bus.add(PCIHostBridge(), slot: 0, function: 0)
        try bench.bus.add(LPCBridge(routing: bench.bus.routing), slot: 31, function: 0)
        let list = (0..<devices).map { _ in PCITestDevice() }
        for (i, device) in list.enumerated() { try bench.bus.add(device, slot: 3 + i, function: 0) }
        try bench.connect()
        bench.lines.clear()
        return (bench, list)
    }

    @Test func identifiesAsIntelISABridge() throws {
        let (bench, _) = try bench()
        #expect(bench.conf1Read(slot: 31, offset: 0) == 0x7000_8086)
        #expect(bench.conf1Read(slot: 31, offset: 0x08) == 0x0601_0000)
        #expect(bench.conf1Read(slot: 31, offset: 0x10) == 0, "no BARs")
        #expect(bench.conf1Read(slot: 31, offset: 0x3D, size: 1) == 0, "no interrupt pin")
    }

    @Test func pirqRegistersReadTheLinkRoutes() throws {
        let (bench, _) = try bench(devices: 2)
        #expect(bench.conf1Read(slot: 31, offset: 0x60) == 0x8080_0605)
        #expect(bench.conf1Read(slot: 31, offset: 0x68) == 0x8080_8080)
        #expect(bench.conf1Read(slot: 31, offset: 0x61, size: 1) == 0x06)
        #expect(bench.ecamRead(slot: 31, offset: 0x62, size: 2) == 0x8080)
        #expect(bench.conf1Read(slot: 31, offset: 0x64) == 0)
    }

    @Test func reSteeringAnAssertedLinkMovesItsIRQ() throws {
        let (bench, devices) = try bench()
        devices[0].pci.assertINTx()
        bench.conf1Write(slot: 31, offset: 0x60, size: 1, value: 0x0A)
        #expect(bench.conf1Read(slot: 31, offset: 0x60, size: 1) == 0x0A)
        #expect(bench.lines.levelIRQs.contains(10))
        devices[0].pci.deassertINTx()
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, nil), .isaAssert(10, nil), .isaDeassert(10, 16)])
        #expect(bench.bus.interruptRoutes.links[0].irq == 10)
    }

    @Test func aLinkSteeredWhileIdleAssertsItsNewIRQ() throws {
        let (bench, devices) = try bench()
        bench.conf1Write(slot: 31, offset: 0x60, size: 1, value: 0x0B)
        devices[0].pci.assertINTx()
        #expect(bench.lines.events == [.isaAssert(11, 16)])
    }

    @Test func disablingALinkWithdrawsItsIRQButNotTheIOAPICPin() throws {
        let (bench, devices) = try bench()
        devices[0].pci.assertINTx()
        bench.conf1Write(slot: 31, offset: 0x60, size: 1, value: 0x85)
        #expect(bench.conf1Read(slot: 31, offset: 0x60, size: 1) == 0x85)
        devices[0].pci.deassertINTx()
        devices[0].pci.assertINTx()
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, nil), .ioapicDeassert(16), .ioapicAssert(16)])
        #expect(bench.bus.interruptRoutes.links[0].irq == nil)
    }

    @Test func irqsOutsideThePermittedSetAreRefused() throws {
        let (bench, devices) = try bench()
        devices[0].pci.assertINTx()
        let elcr = bench.lines.levelIRQs
        for irq: UInt32 in [0, 1, 2, 8, 13] {
            bench.conf1Write(slot: 31, offset: 0x60, size: 1, value: irq)
            #expect(bench.conf1Read(slot: 31, offset: 0x60, size: 1) == irq)
            #expect(bench.bus.routing.linkIRQ(0) == nil)
        }
        #expect(bench.lines.levelIRQs == elcr)
        #expect(bench.lines.events == [.isaAssert(5, 16), .isaDeassert(5, nil)])
    }

    @Test func reservedBitsOfAPIRQRegisterReadZero() throws {
        let (bench, _) = try bench()
        bench.conf1Write(slot: 31, offset: 0x61, size: 1, value: 0x7B)
        #expect(bench.conf1Read(slot: 31, offset: 0x61, size: 1) == 0x0B)
    }

    @Test func wideWritesSteerEveryLinkTheyCover() throws {
        let (bench, _) = try bench()
        bench.conf1Write(slot: 31, offset: 0x68, value: 0x0B0A_0907)
        #expect(bench.conf1Read(slot: 31, offset: 0x68) == 0x0B0A_0907)
        #expect((4..<8).map { bench.bus.routing.linkIRQ($0) } == [7, 9, 10, 11])
        bench.ecamWrite(slot: 31, offset: 0x62, size: 2, value: 0x0F0E)
        #expect(bench.conf1Read(slot: 31, offset: 0x60) == 0x0F0E_8005)
        #expect(bench.lines.levelIRQs.isSuperset(of: [7, 9, 10, 11, 14, 15]))
    }

    @Test func resetRestoresTheLinkRoutes() throws {
        let (bench, devices) = try bench()
        devices[0].pci.assertINTx()
        bench.conf1Write(slot: 31, offset: 0x60, size: 1, value: 0x0C)
        bench.bus.reset()
        #expect(bench.conf1Read(slot: 31, offset: 0x60, size: 1) == 0x05)
        #expect(bench.lines.isaLevels.allSatisfy { $0 == 0 } && bench.lines.ioapicLevels.allSatisfy { $0 == 0 })
        #expect(bench.lines.underflows == 0)
    }

    @Test func thereCanBeOnlyOneLPCBridge() throws {
        let bench = PCITestBench()
        _ = try LPCBridge(routing: bench.bus.routing)
        #expect(throws: PCIBusError("only one LPC bridge is allowed")) { try LPCBridge(routing: bench.bus.routing) }
    }
}
