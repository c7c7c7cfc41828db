import Synchronization
import VMM

/// A PCI topology or placement request the bus refuses.
public struct PCIBusError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What firmware tables need to describe the INTx wiring: per function with an INTx pin, its I/O
/// APIC pin and PIRQ link, and per link its LPC configuration offset and current ISA IRQ.
public struct PCIInterruptRoutes: Sendable, Equatable {
    /// One function's INTx wiring.
    public struct Function: Sendable, Equatable {
        public let slot: Int
        public let function: Int
        public let pin: PCIInterruptPin
        public let ioapicPin: Int
        /// 0 = PIRQA (LNKA) … 7 = PIRQH.
        public let link: Int
    }

    /// One PIRQ link.
    public struct Link: Sendable, Equatable {
        public let index: Int
        /// The LPC bridge register that steers it (0x60–0x63, 0x68–0x6B).
        public let configOffset: Int
        /// nil while the link is disabled.
        public let irq: Int?
    }

    /// In bus order.
    public let functions: [Function]
    /// PIRQA–PIRQH.
    public let links: [Link]
}

/// bhyve's PCI bus 0 (`pci_emul.c`): 32 slots of 8 functions reached through configuration
/// mechanism #1 (address at port 0xCF8, data at 0xCFC–0xCFF) and through ECAM at 0xE0000000.
///
/// Building it: create the bus, create the device models (the LPC bridge takes ``routing``), add
/// them with ``add(_:slot:function:)``, then ``attach(to:)`` it, after which
/// ``interruptRoutes`` has what the firmware tables need.
///
/// **Configuration access.** Only dword accesses to 0xCF8 latch (bits 31, 23–2; the reserved bits
/// read 0) or read the address; bytes and words there read all-ones, as on a chipset, and port
/// 0xCF9 stays free for the reset control register. A data-port access at 0xCFC + n reaches the
/// latched register's byte n, if the enable bit is set. ECAM takes aligned 1-, 2- and 4-byte
/// accesses anywhere in the 256 MiB window bhyve claims (1 MiB per bus); buses other than 0,
/// empty functions and misaligned accesses read all-ones and drop writes. The header type's
/// multifunction bit reads set in every function of a slot with more than one.
///
/// **Resources.** Each BAR is placed when its function is added, naturally aligned, in add order:
/// I/O from 0x2000, 32-bit memory from 0xC0000000 below the ECAM window, 64-bit memory from the
/// base the caller gives (above high memory). On attach, a BAR whose range a device already on
/// the VM holds moves up to the next free range (pc-testdev's IRQ ports sit at 0x2000). Without
/// firmware to program them, functions start with bus mastering and the decoding of their BARs
/// enabled, as bhyve does when booting without a boot ROM.
///
/// **INTx.** Each function that uses INTx gets the least used pin of its slot (its own request
/// winning a tie), as bhyve's `pci_lintr_request` balances pins; on attach, every (slot, pin) is
/// wired in bus order by ``PCIInterruptRouting`` and the function's Interrupt Line register set to
/// its link's IRQ.
public final class PCIBus: PortIODevice, MMIODevice {
    /// Slots (devices) on the bus and functions per slot.
    public static let slotCount = 32
    public static let functionCount = 8
    /// Mechanism #1: CONFIG_ADDRESS, CONFIG_DATA and the address's enable bit.
    public static let configAddressPort: UInt16 = 0xCF8
    public static let configDataPort: UInt16 = 0xCFC
    public static let configEnable: UInt32 = 1 << 31
    /// The bits of the configuration address that hold anything: enable, bus, device, function and
    /// dword register.
    static let configAddressMask: UInt32 = 0x80FF_FFFC
    public static let ecamBase: UInt64 = 0xE000_0000
    /// 1 MiB per bus for all 256 buses, as bhyve claims it.
    public static let ecamSize: UInt64 = 256 << 20
    /// Where I/O and 32-bit memory BARs go, as bhyve lays them out (OVMF assumes the memory base).
    public static let ioWindow: Range<UInt64> = 0x2000..<0x1_0000
    public static let mmio32Window: Range<UInt64> = 0xC000_0000..<0xE000_0000
    /// The size of the 64-bit BAR window above high memory.
    public static let mmio64WindowSize: UInt64 = 32 << 30

    /// bhyve's 64-bit BAR window base: the end of high memory rounded up to 32 GiB.
    public static func mmio64Base(highMemoryEnd: UInt64) -> UInt64 {
        (highMemoryEnd + mmio64WindowSize - 1) & ~(mmio64WindowSize - 1)
    }

    private struct Member {
        let function: any PCIFunction
        let slot: Int
        let number: Int
        var location: String { "0:\(slot).\(number)" }
    }

    /// Next free address in each window.
    private struct Cursors {
        var io = PCIBus.ioWindow.lowerBound
        var mmio32 = PCIBus.mmio32Window.lowerBound
        var mmio64: UInt64
    }

    private struct Topology {
        var slots = [[(any PCIFunction)?]](repeating: [(any PCIFunction)?](repeating: nil, count: PCIBus.functionCount),
                                           count: PCIBus.slotCount)
        /// In the order added.
        var members: [Member] = []
        var pinUsers = [[Int]](repeating: [0, 0, 0, 0], count: PCIBus.slotCount)
        var cursors: Cursors
        var attached = false

        /// In bus order.
        var busOrder: [Member] { members.sorted { ($0.slot, $0.number) < ($1.slot, $1.number) } }
    }

    /// The INTx wiring of this bus, which the LPC bridge's PIRQ registers steer.
    public let routing: PCIInterruptRouting
    /// Where 64-bit BARs go.
    public let mmio64Window: Range<UInt64>
    private let decodeAtPowerOn: Bool
    private let topology: Mutex<Topology>
    private let configAddress = Mutex<UInt32>(0)

    /// A bus whose INTx drive `interrupts` and whose 64-bit BARs go from `mmio64Base` (see
    /// ``mmio64Base(highMemoryEnd:)``). With `decodeAtPowerOn` false, functions start with
    /// decoding off and bus mastering off, as under a boot ROM that programs them.
    public init(interrupts: any PCIInterruptLines, mmio64Base: UInt64, decodeAtPowerOn: Bool = true) {
        routing = PCIInterruptRouting(lines: interrupts)
        mmio64Window = mmio64Base..<mmio64Base + Self.mmio64WindowSize
        self.decodeAtPowerOn = decodeAtPowerOn
        topology = Mutex(Topology(cursors: Cursors(mmio64: mmio64Base)))
    }

    /// A bus for `vm`: its interrupt router, and the 64-bit window above its high memory.
    public convenience init(for vm: VirtualMachine) {
        let segments = vm.memory.segments
        let highMemoryEnd = segments.count > 1 ? segments[1].end : GuestMemory.highMemoryBase
        self.init(interrupts: vm.interrupts, mmio64Base: Self.mmio64Base(highMemoryEnd: highMemoryEnd))
    }

    // MARK: Building

    /// Puts `device` at `slot` (0–31), `function` (0–7): places its BARs and picks its INTx pin.
    public func add(_ device: any PCIFunction, slot: Int, function number: Int) throws(PCIBusError) {
        try topology.withLock { topology throws(PCIBusError) in
            guard !topology.attached else { throw PCIBusError("PCI functions cannot be added once the bus is attached") }
            guard (0..<Self.slotCount).contains(slot) else { throw PCIBusError("PCI slot \(slot) out of range (0-31)") }
            guard (0..<Self.functionCount).contains(number) else {
                throw PCIBusError("PCI function \(number) out of range (0-7)")
            }
            let member = Member(function: device, slot: slot, number: number)
            guard topology.slots[slot][number] == nil else {
                throw PCIBusError("PCI slot \(member.location) is already occupied")
            }
            guard !topology.members.contains(where: { $0.function === device }) else {
                throw PCIBusError("the device for PCI slot \(member.location) is already on the bus")
            }
            var cursors = topology.cursors
            var placements: [(index: Int, address: UInt64)] = []
            for (index, bar) in device.pci.declaredBARs {
                placements.append((index, try place(bar, of: member, index: index, cursors: &cursors, occupied: [])))
            }
            var pin: PCIInterruptPin?
            if let requested = device.pci.requestedInterruptPin {
                let users = topology.pinUsers[slot]
                let chosen = ([requested] + PCIInterruptPin.allCases).min { users[$0.rawValue] < users[$1.rawValue] }!
                topology.pinUsers[slot][chosen.rawValue] += 1
                pin = chosen
            }
            topology.cursors = cursors
            topology.slots[slot][number] = device
            topology.members.append(member)
            var command: UInt16 = 0
            if decodeAtPowerOn {
                command = PCIConfigSpace.Command.busMaster
                for (_, bar) in device.pci.declaredBARs { command |= bar.decodeBit }
            }
            device.pci.added(owner: device, label: "PCI \(member.location)", pin: pin, command: command)
            for placement in placements { device.pci.place(bar: placement.index, at: placement.address) }
        }
    }

    /// The device at `slot`, `function`.
    public func device(slot: Int, function: Int) -> (any PCIFunction)? {
        guard (0..<Self.slotCount).contains(slot), (0..<Self.functionCount).contains(function) else { return nil }
        return topology.withLock { $0.slots[slot][function] }
    }

    /// The next naturally aligned range for `bar` in its window at or after the cursor that
    /// overlaps nothing in `occupied`.
    private func place(_ bar: PCIBAR, of member: Member, index: Int, cursors: inout Cursors,
                       occupied: [ClosedRange<UInt64>]) throws(PCIBusError) -> UInt64 {
        let size = bar.size
        let (window, name, cursor): (Range<UInt64>, String, WritableKeyPath<Cursors, UInt64>) = switch bar {
        case .io: (Self.ioWindow, "I/O", \.io)
        case .memory32: (Self.mmio32Window, "32-bit memory", \.mmio32)
        case .memory64: (mmio64Window, "64-bit memory", \.mmio64)
        }
        var base = Self.align(cursors[keyPath: cursor], to: size)
        while base < window.upperBound, size <= window.upperBound - base {
            guard let clash = occupied.first(where: { $0.overlaps(base...(base + size - 1)) }) else {
                cursors[keyPath: cursor] = base + size
                return base
            }
            guard clash.upperBound < window.upperBound else { break }
            base = Self.align(clash.upperBound + 1, to: size)
        }
        throw PCIBusError(
            "no room in the PCI \(name) window for BAR \(index) (0x\(String(size, radix: 16)) bytes) of \(member.location)")
    }

    private static func align(_ address: UInt64, to size: UInt64) -> UInt64 {
        (address + size - 1) & ~(size - 1)
    }

    // MARK: Attaching

    /// Claims mechanism #1's ports and the ECAM window on `vm`, decodes the BARs, wires INTx, and
    /// resets the bus with the VM. The bus must have been made with `vm.interrupts`.
    public func attach(to vm: VirtualMachine) throws {
        try connect(ports: vm.ports, mmio: vm.mmio)
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    /// ``attach(to:)`` without the VM: claims the ports and ECAM on `ports` and `mmio`, moves
    /// BARs off ranges already registered there, wires INTx in bus order and starts decoding.
    public func connect(ports: PortIOBus, mmio: MMIOBus) throws {
        try topology.withLock { topology in
            guard !topology.attached else { throw PCIBusError("the PCI bus is already attached") }
            // The windows lie clear of the configuration ports and ECAM, so placing first keeps a
            // failed attach from leaving anything registered.
            let busyPorts = ports.bus.registrations.map(\.range)
            let busyMemory = mmio.bus.registrations.map(\.range)
            var cursors = Cursors(mmio64: mmio64Window.lowerBound)
            var placements: [(member: Member, index: Int, address: UInt64)] = []
            for member in topology.members {
                for (index, bar) in member.function.pci.declaredBARs {
                    let address = try place(bar, of: member, index: index, cursors: &cursors,
                                            occupied: bar.isIO ? busyPorts : busyMemory)
                    placements.append((member, index, address))
                }
            }
            try ports.register(self, ports: Self.configAddressPort, count: 1, label: "PCI config address")
            try ports.register(self, ports: Self.configDataPort, count: 4, label: "PCI config data")
            try mmio.register(self, base: Self.ecamBase, size: Self.ecamSize, label: "PCI ECAM")
            topology.attached = true
            for placement in placements { placement.member.function.pci.place(bar: placement.index, at: placement.address) }
            var routes: [Int: PCIINTxRoute] = [:]
            let spaces = PCIAddressSpaces(ports: ports, mmio: mmio)
            for member in topology.busOrder {
                var route: PCIINTxRoute?
                if let pin = member.function.pci.interruptPin {
                    let key = member.slot * 4 + pin.rawValue
                    route = routes[key] ?? routing.allocateRoute()
                    routes[key] = route
                }
                member.function.pci.connect(spaces: spaces, routing: routing, route: route)
            }
        }
    }

    /// The INTx wiring, for the firmware tables (empty until attached).
    public var interruptRoutes: PCIInterruptRoutes {
        let members = topology.withLock { $0.busOrder }
        let functions = members.compactMap { member -> PCIInterruptRoutes.Function? in
            guard let pin = member.function.pci.interruptPin, let route = member.function.pci.interruptRoute else {
                return nil
            }
            return PCIInterruptRoutes.Function(slot: member.slot, function: member.number, pin: pin,
                                               ioapicPin: route.ioapicPin, link: route.link)
        }
        let links = (0..<PCIInterruptRouting.linkCount).map {
            PCIInterruptRoutes.Link(index: $0, configOffset: PCIInterruptRouting.linkConfigOffsets[$0],
                                    irq: routing.linkIRQ($0))
        }
        return PCIInterruptRoutes(functions: functions, links: links)
    }

    /// Whether any function has a 64-bit BAR, so that firmware should describe ``mmio64Window``.
    public var usesMMIO64Window: Bool {
        topology.withLock { $0.members.contains { $0.function.pci.declaredBARs.contains { $0.bar.is64Bit } } }
    }

    /// Power-on state: every function reset, the PIRQ links back to their routes, the
    /// configuration address cleared.
    public func reset() {
        let members = topology.withLock { $0.busOrder }
        configAddress.withLock { $0 = 0 }
        for member in members {
            member.function.pci.reset()
            member.function.reset()
        }
        routing.resetLinks()
    }

    // MARK: Configuration access

    /// A configuration read of `size` (1, 2 or 4) bytes at `offset` of bus/slot/function.
    public func configRead(bus: Int, slot: Int, function: Int, offset: Int, size: Int) -> UInt32 {
        let ones = Self.ones(size)
        guard let (device, multifunction) = locate(bus: bus, slot: slot, function: function, offset: offset, size: size)
        else { return ones }
        var value = device.configRead(offset: offset, size: size) ?? device.pci.readConfig(offset, size: size)
        if offset <= PCIConfigSpace.headerTypeOffset && PCIConfigSpace.headerTypeOffset < offset + size {
            let bit = UInt32(PCIConfigSpace.multifunctionBit) << (8 * UInt32(PCIConfigSpace.headerTypeOffset - offset))
            value = multifunction ? value | bit : value & ~bit
        }
        return value & ones
    }

    /// A configuration write of the low `size` bytes of `value`.
    public func configWrite(bus: Int, slot: Int, function: Int, offset: Int, size: Int, value: UInt32) {
        guard let (device, _) = locate(bus: bus, slot: slot, function: function, offset: offset, size: size) else { return }
        let value = value & Self.ones(size)
        if !device.configWrite(offset: offset, size: size, value: value) {
            device.pci.writeConfig(offset, size: size, value: value)
        }
    }

    /// The device an access reaches and whether its slot is multifunction; nil for other buses,
    /// empty functions and misaligned accesses.
    private func locate(bus: Int, slot: Int, function: Int, offset: Int, size: Int)
        -> (device: any PCIFunction, multifunction: Bool)? {
        guard bus == 0, (0..<Self.slotCount).contains(slot), (0..<Self.functionCount).contains(function),
              size == 1 || size == 2 || size == 4, offset >= 0, offset % size == 0,
              offset + size <= PCIConfigSpace.size else { return nil }
        return topology.withLock { topology in
            guard let device = topology.slots[slot][function] else { return nil }
            return (device, topology.slots[slot].count { $0 != nil } > 1)
        }
    }

    private static func ones(_ size: Int) -> UInt32 {
        size >= 4 ? UInt32.max : (UInt32(1) << (8 * UInt32(size))) - 1
    }

    // MARK: Mechanism #1

    /// CONFIG_ADDRESS (dword only) or CONFIG_DATA.
    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        if port == Self.configAddressPort {
            guard size == 4 else { return Self.ones(size) }
            return configAddress.withLock { $0 }
        }
        guard let target = dataTarget(port) else { return Self.ones(size) }
        return configRead(bus: target.bus, slot: target.slot, function: target.function, offset: target.offset, size: size)
    }

    /// Latches CONFIG_ADDRESS (dword only) or writes through CONFIG_DATA.
    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        if port == Self.configAddressPort {
            guard size == 4 else { return }
            configAddress.withLock { $0 = value & Self.configAddressMask }
            return
        }
        guard let target = dataTarget(port) else { return }
        configWrite(bus: target.bus, slot: target.slot, function: target.function, offset: target.offset, size: size,
                    value: value)
    }

    /// The register a data-port access reaches; nil while the enable bit is clear.
    private func dataTarget(_ port: UInt16) -> (bus: Int, slot: Int, function: Int, offset: Int)? {
        let address = configAddress.withLock { $0 }
        guard address & Self.configEnable != 0, port >= Self.configDataPort else { return nil }
        return (Int(address >> 16) & 0xFF, Int(address >> 11) & 0x1F, Int(address >> 8) & 0x7,
                Int(address & 0xFC) + Int(port - Self.configDataPort))
    }

    // MARK: ECAM

    /// An ECAM read: bus, device, function and register from the address bits.
    public func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        guard size <= 4, let target = ecamTarget(address) else { return UInt64.max }
        return UInt64(configRead(bus: target.bus, slot: target.slot, function: target.function, offset: target.offset,
                                 size: size))
    }

    /// An ECAM write.
    public func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        guard size <= 4, let target = ecamTarget(address) else { return }
        configWrite(bus: target.bus, slot: target.slot, function: target.function, offset: target.offset, size: size,
                    value: UInt32(truncatingIfNeeded: value))
    }

    private func ecamTarget(_ address: UInt64) -> (bus: Int, slot: Int, function: Int, offset: Int)? {
        guard address >= Self.ecamBase, address - Self.ecamBase < Self.ecamSize else { return nil }
        let offset = address - Self.ecamBase
        return (Int(offset >> 20), Int(offset >> 15) & 0x1F, Int(offset >> 12) & 0x7, Int(offset & 0xFFF))
    }
}
