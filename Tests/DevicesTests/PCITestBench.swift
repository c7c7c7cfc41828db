import Synchronization
import Devices
import TestSupport
import VMM

/// ``RecordingInterruptLines`` plus the ELCR, and a check that no line is deasserted more often
/// than it was asserted.
final class RecordingPCILines: PCIInterruptLines {
    let recorder = RecordingInterruptLines()
    private struct Levels {
        var elcr: [Int: Bool] = [:]
        var isa = [Int](repeating: 0, count: 16)
        var ioapic = [Int](repeating: 0, count: 32)
        var underflows = 0
    }
    private let levels = Mutex(Levels())

    var events: [RecordingInterruptLines.Event] { recorder.events }
    func clear() { recorder.clear() }

    /// IRQs set level-triggered.
    var levelIRQs: Set<Int> { levels.withLock { Set($0.elcr.filter(\.value).keys) } }
    /// How many sources assert each ISA IRQ and I/O APIC pin now.
    var isaLevels: [Int] { levels.withLock { $0.isa } }
    var ioapicLevels: [Int] { levels.withLock { $0.ioapic } }
    var underflows: Int { levels.withLock { $0.underflows } }
    var msiCount: Int { events.count { if case .msi = $0 { true } else { false } } }

    func setISATriggerMode(_ irq: Int, level: Bool) throws(ATPICError) {
        levels.withLock { $0.elcr[irq] = level }
    }

    func isaAssert(_ irq: Int, ioapicPin: Int?) {
        change(irq, ioapicPin, by: 1)
        recorder.isaAssert(irq, ioapicPin: ioapicPin)
    }

    func isaDeassert(_ irq: Int, ioapicPin: Int?) {
        change(irq, ioapicPin, by: -1)
        recorder.isaDeassert(irq, ioapicPin: ioapicPin)
    }

    func isaPulse(_ irq: Int, ioapicPin: Int?) { recorder.isaPulse(irq, ioapicPin: ioapicPin) }

    func ioapicAssert(_ pin: Int) {
        change(nil, pin, by: 1)
        recorder.ioapicAssert(pin)
    }

    func ioapicDeassert(_ pin: Int) {
        change(nil, pin, by: -1)
        recorder.ioapicDeassert(pin)
    }

    func ioapicPulse(_ pin: Int) { recorder.ioapicPulse(pin) }
    func sendMSI(address: UInt64, data: UInt32) { recorder.sendMSI(address: address, data: data) }

    private func change(_ irq: Int?, _ pin: Int?, by delta: Int) {
        levels.withLock { levels in
            if let irq {
                levels.isa[irq] += delta
                if levels.isa[irq] < 0 { levels.underflows += 1 }
            }
            if let pin {
                levels.ioapic[pin] += delta
                if levels.ioapic[pin] < 0 { levels.underflows += 1 }
            }
        }
    }
}

/// A function with whatever BARs a test needs, recording the BAR accesses that reach it; reads
/// return the offset, so a test sees which bytes it got.
final class BARDevice: PCIFunction {
    enum Access: Equatable {
        case read(bar: Int, offset: UInt64, size: Int)
        case write(bar: Int, offset: UInt64, size: Int, value: UInt64)
    }

    let pci: PCIFunctionState
    let accesses = Mutex<[Access]>([])
    let resets = Mutex(0)

    init(bars: [Int: PCIBAR], pin: PCIInterruptPin? = nil, capabilities: [PCICapability] = [],
         vendorID: UInt16 = 0x1234, deviceID: UInt16 = 0x5678) {
        pci = PCIFunctionState(identity: PCIIdentity(vendorID: vendorID, deviceID: deviceID, revisionID: 3,
                                                     classCode: 0x02_00_00),
                               bars: bars, interruptPin: pin, capabilities: capabilities)
    }

    func barRead(bar: Int, offset: UInt64, size: Int) -> UInt64 {
        accesses.withLock { $0.append(.read(bar: bar, offset: offset, size: size)) }
        return offset
    }

    func barWrite(bar: Int, offset: UInt64, size: Int, value: UInt64) {
        accesses.withLock { $0.append(.write(bar: bar, offset: offset, size: size, value: value)) }
    }

    func reset() { resets.withLock { $0 += 1 } }
}

/// A port and MMIO claim that answers with a fixed value, to occupy ranges.
final class Occupant: PortIODevice, MMIODevice {
    func portRead(_ port: UInt16, size: Int) -> UInt32 { 0x5A }
    func portWrite(_ port: UInt16, size: Int, value: UInt32) {}
    func mmioRead(_ address: UInt64, size: Int) -> UInt64 { 0x5A }
    func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {}
}

/// A bus on plain port and MMIO buses with recording interrupt lines, and the guest's two ways
/// into configuration space.
struct PCITestBench {
    static let mmio64Base: UInt64 = 0x8_0000_0000

    let lines = RecordingPCILines()
    let ports = PortIOBus()
    let mmio = MMIOBus()
    let bus: PCIBus

    init(decodeAtPowerOn: Bool = true) {
        bus = PCIBus(interrupts: lines, mmio64Base: Self.mmio64Base, decodeAtPowerOn: decodeAtPowerOn)
    }

    func connect() throws { try bus.connect(ports: ports, mmio: mmio) }

    static func configAddress(slot: Int, function: Int, offset: Int, bus: Int = 0) -> UInt32 {
        PCIBus.configEnable | UInt32(bus) << 16 | UInt32(slot) << 11 | UInt32(function) << 8 | UInt32(offset & 0xFC)
    }

    func conf1Read(slot: Int, function: Int = 0, offset: Int, size: Int = 4) -> UInt32 {
        _ = ports.write(PCIBus.configAddressPort, size: 4, value: Self.configAddress(slot: slot, function: function, offset: offset))
        return ports.read(PCIBus.configDataPort + UInt16(offset & 3), size: size)!
    }

    func conf1Write(slot: Int, function: Int = 0, offset: Int, size: Int = 4, value: UInt32) {
        _ = ports.write(PCIBus.configAddressPort, size: 4, value: Self.configAddress(slot: slot, function: function, offset: offset))
        _ = ports.write(PCIBus.configDataPort + UInt16(offset & 3), size: size, value: value)
    }

    static func ecamAddress(slot: Int, function: Int, offset: Int, bus: Int = 0) -> UInt64 {
        PCIBus.ecamBase + UInt64(bus) << 20 + UInt64(slot) << 15 + UInt64(function) << 12 + UInt64(offset)
    }

    func ecamRead(slot: Int, function: Int = 0, offset: Int, size: Int = 4) -> UInt64 {
        mmio.read(Self.ecamAddress(slot: slot, function: function, offset: offset), size: size)!
    }

    func ecamWrite(slot: Int, function: Int = 0, offset: Int, size: Int = 4, value: UInt64) {
        _ = mmio.write(Self.ecamAddress(slot: slot, function: function, offset: offset), size: size, value: value)
    }
}
