import Testing
@testable import Devices
import TestSupport

@Suite struct PCIRandomTrafficTests {
    private struct Snapshot: Equatable {
        let ids: UInt64
        let classAndRevision: UInt64
        let pin: UInt64
        let capabilities: [UInt64]
        let barTypes: [Int: UInt64]
    }

    private struct Function {
        let slot: Int
        let number: Int
        let device: any PCIFunction
    }

    private static func snapshot(_ bench: PCITestBench, _ function: Function) -> Snapshot {
        let read = { (offset: Int, size: Int) in bench.ecamRead(slot: function.slot, function: function.number, offset: offset, size: size) }
        var capabilities: [UInt64] = []
        var pointer = Int(read(0x34, 1))
        while pointer != 0, capabilities.count < 48 {
            capabilities.append(read(pointer, 1) | UInt64(pointer) << 8)
            pointer = Int(read(pointer + 1, 1))
        }
        var barTypes: [Int: UInt64] = [:]
        for (index, bar) in function.device.pci.declaredBARs {
            barTypes[index] = read(0x10 + 4 * index, 4) & (bar.isIO ? 0x3 : 0xF)
        }
        return Snapshot(ids: read(0, 4), classAndRevision: read(8, 4), pin: read(0x3D, 1), capabilities: capabilities,
                        barTypes: barTypes)
    }

    /// Whether raising vector 0 must send nothing: MSI-X or MSI enabled but masked, or neither
    /// enabled (INTx).
    private static func raiseMustNotSendMSI(_ device: any PCIFunction) -> Bool {
        let config = device.pci.configSpace
        let msi = config.capabilityOffset(id: 0x05).map { config.read($0 + 2, size: 2) & 1 != 0 } ?? false
        if !msi, let msix = config.capabilityOffset(id: 0x11), config.read(msix + 2, size: 2) & 0x8000 != 0 {
            let vectorMasked = device.pci.barRead(device, bar: PCITestDevice.msixBAR, offset: 12, size: 4) & 1 != 0
            return config.read(msix + 2, size: 2) & 0x4000 != 0 || vectorMasked
        }
        guard msi, let offset = config.capabilityOffset(id: 0x05) else { return true }
        return config.read(offset + 0x10, size: 4) & 1 != 0
    }

    /// How many times an access through BAR 0 of pci-testdev writes its raise register.
    private static func raises(offset: UInt64, size: Int) -> Int {
        let halves: [(UInt64, Int)] = size == 8 ? [(offset, 4), (offset + 4, 4)] : [(offset, size)]
        return halves.count { offset, size in offset & ~3 == PCITestDevice.raiseRegister && (offset & 3) + UInt64(size) <= 4 }
    }

    @Test func hundredThousandSeededAccessesNeverBreakTheBus() throws {
        let bench = PCITestBench()
        let testdevs = [PCITestDevice(), PCITestDevice()]
        let extra = BARDevice(bars: [0: .memory64(size: 0x4000, prefetchable: true), 2: .io(size: 0x20)], pin: .intA,
                              capabilities: [.msi(vectors: 2), .pciExpress(.endpoint)])
        let sharers = (0..<6).map { _ in BARDevice(bars: [:], pin: .intA) }
        let functions = sharers.enumerated().map { Function(slot: 5 + $0.offset, number: 0, device: $0.element) } + [
            Function(slot: 0, number: 0, device: PCIHostBridge()),
            Function(slot: 3, number: 0, device: testdevs[0]),
            Function(slot: 4, number: 0, device: testdevs[1]),
            Function(slot: 4, number: 1, device: extra),
            Function(slot: 31, number: 0, device: try LPCBridge(routing: bench.bus.routing)),
        ]
        for function in functions { try bench.bus.add(function.device, slot: function.slot, function: function.number) }
        try bench.connect()
        let snapshots = functions.map { Self.snapshot(bench, $0) }
        var expectedRaises = [0, 0]
        var random = SeededGenerator(seed: 0x00C0_FFEE_0C1D)
        let sizes = [1, 2, 4]

        func checkInvariants() {
            #expect(functions.map { Self.snapshot(bench, $0) } == snapshots)
            #expect(bench.lines.underflows == 0)
            for (i, testdev) in testdevs.enumerated() {
                #expect(testdev.barRead(bar: 0, offset: PCITestDevice.countRegister, size: 4) == UInt64(expectedRaises[i]))
            }
        }

        for step in 0..<100_000 {
            let function = functions[Int(random.next() % UInt64(functions.count))]
            let size = sizes[Int(random.next() % 3)]
            let value = UInt32(truncatingIfNeeded: random.next())
            switch random.next() % 10 {
            case 0:
                let address = random.next() % 5 == 0 ? value
                    : PCITestBench.configAddress(slot: function.slot, function: function.number, offset: Int(value & 0xFF))
                _ = bench.ports.write(PCIBus.configAddressPort, size: random.next() % 4 == 0 ? size : 4, value: address)
            case 1, 2:
                let port = PCIBus.configDataPort + UInt16(random.next() % 4)
                if random.next() % 2 == 0 {
                    _ = bench.ports.read(port, size: size)
                } else {
                    _ = bench.ports.write(port, size: size, value: value)
                }
            case 3, 4:
                let offset = random.next() % 4 == 0 ? Int(random.next() % 4096) : Int(random.next() % 256)
                let wide = random.next() % 8 == 0 ? 8 : size
                let address = PCITestBench.ecamAddress(slot: function.slot, function: Int(random.next() % 3) == 0 ? 1 : function.number,
                                                       offset: offset & ~(wide - 1))
                if random.next() % 2 == 0 {
                    _ = bench.mmio.read(address, size: wide)
                } else {
                    _ = bench.mmio.write(address, size: wide, value: UInt64(value))
                }
            case 5, 6:
                let which = Int(random.next() % 3)
                let device: any PCIFunction = which < 2 ? testdevs[which] : extra
                let bars = device.pci.declaredBARs
                let (index, bar) = bars[Int(random.next() % UInt64(bars.count))]
                guard let base = device.pci.barAddress(index) else { continue }
                let wide = bar.isIO ? size : [1, 2, 4, 8][Int(random.next() % 4)]
                let offset = random.next() % 2 == 0 ? random.next() % 0x10 : random.next() % (bar.size + 8)
                if random.next() % 2 == 0 {
                    if bar.isIO {
                        _ = bench.ports.read(UInt16(truncatingIfNeeded: base + offset), size: wide)
                    } else {
                        _ = bench.mmio.read(base &+ offset, size: wide)
                    }
                } else if bar.isIO {
                    _ = bench.ports.write(UInt16(truncatingIfNeeded: base + offset), size: wide, value: value)
                } else {
                    let address = base &+ offset
                    for (i, testdev) in testdevs.enumerated() {
                        guard testdev.pci.isBARMapped(0), let registers = testdev.pci.barAddress(0), address >= registers,
                              address - registers + UInt64(wide) <= UInt64(PCITestDevice.registerBARSize) else { continue }
                        expectedRaises[i] += Self.raises(offset: address - registers, size: wide)
                    }
                    _ = bench.mmio.write(address, size: wide, value: UInt64(value))
                }
            case 7:
                let candidates: [any PCIFunction] = [testdevs[0], testdevs[1], extra] + sharers
                let device = candidates[Int(random.next() % UInt64(candidates.count))]
                if random.next() % 3 == 0 {
                    device.pci.deassertINTx()
                } else {
                    let silent = Self.raiseMustNotSendMSI(device)
                    let before = bench.lines.msiCount
                    device.pci.raiseInterrupt()
                    if silent { #expect(bench.lines.msiCount == before, "an MSI went out while masked or disabled") }
                }
            case 8:
                let registers = [0x04, 0x42, 0x50, 0x5A, 0x60, 0x61, 0x68, 0x3C]
                let offset = registers[Int(random.next() % UInt64(registers.count))]
                bench.conf1Write(slot: function.slot, function: function.number, offset: offset, size: offset & 1 == 0 ? 2 : 1,
                                 value: value)
            default:
                let testdev = testdevs[Int(random.next() % 2)]
                let offset = random.next() % 0x28 & ~3
                testdev.pci.barWrite(testdev, bar: PCITestDevice.msixBAR, offset: offset, size: 4, value: UInt64(value))
            }
            if step % 10_000 == 0 { checkInvariants() }
        }
        checkInvariants()
        bench.bus.reset()
        #expect(bench.lines.isaLevels.allSatisfy { $0 == 0 })
        #expect(bench.lines.ioapicLevels.allSatisfy { $0 == 0 })
        #expect(bench.lines.underflows == 0)
        #expect(functions.map { Self.snapshot(bench, $0) } == snapshots)
    }
}
