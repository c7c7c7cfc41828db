import Synchronization
import Testing
import Devices
import Hyve
import TestSupport
import KVM
import VMM

/// Interrupt lines with an ELCR, for building a bus without a VM.
private final class Lines: PCIInterruptLines {
    let recorder = RecordingInterruptLines()
    let level = Mutex<Set<Int>>([])
    func setISATriggerMode(_ irq: Int, level: Bool) throws(ATPICError) { _ = self.level.withLock { $0.insert(irq) } }
    func isaAssert(_ irq: Int, ioapicPin: Int?) { recorder.isaAssert(irq, ioapicPin: ioapicPin) }
    func isaDeassert(_ irq: Int, ioapicPin: Int?) { recorder.isaDeassert(irq, ioapicPin: ioapicPin) }
    func isaPulse(_ irq: Int, ioapicPin: Int?) { recorder.isaPulse(irq, ioapicPin: ioapicPin) }
    func ioapicAssert(_ pin: Int) { recorder.ioapicAssert(pin) }
    func ioapicDeassert(_ pin: Int) { recorder.ioapicDeassert(pin) }
    func ioapicPulse(_ pin: Int) { recorder.ioapicPulse(pin) }
    func sendMSI(address: UInt64, data: UInt32) { recorder.sendMSI(address: address, data: data) }
}

@Suite struct PCISlotSpecTests {
    private func error(_ specs: [String]) -> String? {
        do {
            _ = try PCISlotSpec.parse(specs)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func parsesTheThreeSlotForms() throws {
        #expect(try PCISlotSpec.parse("3,pci-testdev") == PCISlotSpec(slot: 3, emulation: .pciTestdev))
        #expect(try PCISlotSpec.parse("4:2,pci-testdev") == PCISlotSpec(slot: 4, function: 2, emulation: .pciTestdev))
        #expect(try PCISlotSpec.parse("0:31:0,lpc") == PCISlotSpec(slot: 31, emulation: .lpc))
        #expect(try PCISlotSpec.parse("0,amd_hostbridge").emulation == .amdHostbridge)
        #expect(try PCISlotSpec.parse("007,hostbridge").slot == 7)
    }

    @Test func parsesIdentityOptionsInHexadecimal() throws {
        let host = try PCISlotSpec.parse("0,hostbridge,pcireg.vendor=0x8086,pcireg.device=1237")
        #expect(host.identity.vendorID == 0x8086 && host.identity.deviceID == 0x1237)
        let lpc = try PCISlotSpec.parse("31,lpc,pcireg.revid=A,pcireg.subvendor=0x1af4,pcireg.subdevice=FFFF,")
        #expect(lpc.identity.revisionID == 0x0A && lpc.identity.subsystemVendorID == 0x1AF4 && lpc.identity.subsystemID == 0xFFFF)
        #expect(lpc.identity.vendorID == nil)
    }

    @Test func refusesMalformedSlots() {
        #expect(error(["3"]) == "invalid PCI slot '3' (expected slot[:function],emulation[,conf] or bus:slot:function,emulation[,conf])")
        #expect(error(["1:2:3:4,lpc"])?.hasPrefix("invalid PCI slot '1:2:3:4,lpc' (expected") == true)
        #expect(error(["x,lpc"]) == "invalid PCI slot 'x,lpc': 'x' is not a decimal number")
        #expect(error(["-1,lpc"]) == "invalid PCI slot '-1,lpc': '-1' is not a decimal number")
        #expect(error(["3x,lpc"]) == "invalid PCI slot '3x,lpc': '3x' is not a decimal number")
        #expect(error([",lpc"]) == "invalid PCI slot ',lpc': '' is not a decimal number")
        #expect(error(["3:,lpc"]) == "invalid PCI slot '3:,lpc': '' is not a decimal number")
        #expect(error(["99999999999,lpc"]) == "invalid PCI slot '99999999999,lpc': '99999999999' is not a decimal number")
    }

    @Test func refusesNumbersOutOfRange() {
        #expect(error(["32,pci-testdev"]) == "PCI slot 32 out of range (0-31) in '32,pci-testdev'")
        #expect(error(["3:8,pci-testdev"]) == "PCI function 8 out of range (0-7) in '3:8,pci-testdev'")
        #expect(error(["256:0:0,pci-testdev"]) == "PCI bus 256 out of range (0-255) in '256:0:0,pci-testdev'")
        #expect(error(["1:3:0,pci-testdev"]) == "PCI bus 1 is not supported: Hyve has only bus 0 ('1:3:0,pci-testdev')")
        #expect(error(["2:31:0,lpc"]) == "the LPC bridge can be present only on bus 0 ('2:31:0,lpc')")
    }

    @Test func refusesUnknownEmulations() {
        #expect(error(["3,virtio-blk,/dev/null"]) == "unknown PCI emulation 'virtio-blk'")
        #expect(error(["3,"]) == "unknown PCI emulation ''")
        #expect(error(["3,LPC"]) == "unknown PCI emulation 'LPC'")
    }

    @Test func refusesASlotUsedTwiceAndASecondLPCBridge() {
        #expect(error(["3,pci-testdev", "0:3:0,hostbridge"]) == "PCI slot 0:3:0 is already occupied ('0:3:0,hostbridge')")
        #expect(error(["3:1,pci-testdev", "3,pci-testdev"]) == nil)
        #expect(error(["30,lpc", "31,lpc"]) == "only one LPC bridge is allowed ('31,lpc')")
    }

    @Test func refusesOptionsTheEmulationDoesNotRead() {
        #expect(error(["0,hostbridge,pcireg.revid=1"]) == "unknown option 'pcireg.revid' for PCI emulation 'hostbridge'")
        #expect(error(["0,amd_hostbridge,pcireg.vendor=1"]) == "unknown option 'pcireg.vendor' for PCI emulation 'amd_hostbridge'")
        #expect(error(["3,pci-testdev,msi"]) == "unknown option 'msi' for PCI emulation 'pci-testdev'")
        #expect(error(["0,hostbridge,pcireg.vendor"]) == "option 'pcireg.vendor' needs a value")
        #expect(error(["0,hostbridge,pcireg.vendor=12345"])
                == "invalid value '12345' for pcireg.vendor (expected a 16-bit hexadecimal number)")
        #expect(error(["31,lpc,pcireg.revid=0x100"]) == "invalid value '0x100' for pcireg.revid (expected an 8-bit hexadecimal number)")
        #expect(error(["31,lpc,pcireg.vendor=host"])
                == "pcireg.vendor=host is not supported: Hyve does not read the host's PCI devices")
    }

    @Test func populateBuildsTheNamedDevicesOnTheBus() throws {
        let specs = try PCISlotSpec.parse(["0,hostbridge,pcireg.vendor=8086", "31,lpc", "3,pci-testdev", "4,amd_hostbridge"])
        let bus = PCIBus(interrupts: Lines(), mmio64Base: PCIBus.mmio64Base(highMemoryEnd: 4 << 30))
        try PCISlotSpec.populate(bus, with: specs)
        #expect(bus.device(slot: 0, function: 0)?.pci.configSpace.identity.vendorID == 0x8086)
        #expect(bus.device(slot: 0, function: 0)?.pci.configSpace.deviceID == 0x1275)
        #expect(bus.device(slot: 31, function: 0) is LPCBridge)
        #expect(bus.device(slot: 3, function: 0) is PCITestDevice)
        #expect(bus.device(slot: 4, function: 0)?.pci.configSpace.vendorID == 0x1022)
        try bus.connect(ports: PortIOBus(), mmio: MMIOBus())
        let routes = bus.interruptRoutes
        #expect(routes.functions.map { [$0.slot, $0.function, $0.ioapicPin, $0.link] } == [[3, 0, 16, 0]])
        #expect(routes.links[0].irq == 5)
    }

    @Test func theSixtyFourBitWindowStartsAtTheNext32GiBAboveHighMemory() {
        #expect(PCIBus.mmio64Base(highMemoryEnd: 4 << 30) == 32 << 30)
        #expect(PCIBus.mmio64Base(highMemoryEnd: 32 << 30) == 32 << 30)
        #expect(PCIBus.mmio64Base(highMemoryEnd: (32 << 30) + 1) == 64 << 30)
    }
}

@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct PCISlotSpecVMTests {
    @Test func buildBusAttachesToAVMAndRoutesThroughItsELCR() throws {
        let vm = try VirtualMachine(system: KVMSystem(), configuration: .init(memorySize: 64 << 20))
        try PCTestDev(lines: vm.interrupts, onExit: { _ in }).attach(to: vm)
        let specs = try PCISlotSpec.parse(["0,hostbridge", "3,pci-testdev", "31,lpc"])
        let bus = try PCISlotSpec.buildBus(specs, for: vm)
        #expect(bus.mmio64Window.lowerBound == 32 << 30)
        _ = vm.ports.write(0xCF8, size: 4, value: 0x8000_1814)
        #expect(vm.ports.read(0xCFC, size: 4) == 0x2021, "the I/O BAR moved past pc-testdev's IRQ ports")
        #expect(vm.mmio.read(0xE001_8000, size: 4) == 0x7E57_1275)
        #expect(vm.ports.read(0x4D0, size: 1) == 0x20, "IRQ 5 is level-triggered")
        #expect(bus.interruptRoutes.links.map(\.irq) == [5, nil, nil, nil, nil, nil, nil, nil])
        _ = vm.ports.write(0x2020, size: 4, value: 0x1234_5678)
        #expect(vm.ports.read(0x2020, size: 4) == 0x1234_5678)
    }
}
