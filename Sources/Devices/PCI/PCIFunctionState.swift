import Synchronization
import VMM

/// A capability a function declares; the list is chained from 0x40 in the order given.
public enum PCICapability: Sendable, Equatable {
    /// MSI with 64-bit addresses and per-vector masking; `vectors` is a power of two up to 32.
    case msi(vectors: Int)
    /// MSI-X with its table and PBA at qword-aligned offsets of memory BAR `bar`.
    case msix(vectors: Int, bar: Int, tableOffset: UInt32, pbaOffset: UInt32)
    /// The PCI Express capability.
    case pciExpress(PCIExpressPortType)
}

/// The generic state of one PCI function, bhyve's `pci_devinst`: the configuration space and its
/// semantics, the BARs and their decoding on the VM's buses, and the function's interrupts.
///
/// **BARs.** The bus places each BAR when the function is added. A guest write of all-ones reads
/// back the size mask with the type bits; any other write moves the BAR. While the command
/// register enables its space, a BAR's range is registered on the VM's port or MMIO bus, and a
/// move unregisters the old range and registers the new one; a range that is taken is simply not
/// decoded until the BAR moves again or decoding is re-enabled.
///
/// **Interrupts.** ``raiseInterrupt(vector:)`` sends MSI-X when the guest enabled it (and not
/// MSI), else MSI when enabled, else asserts INTx. INTx is held back (pending) while MSI or MSI-X is
/// enabled or the command register's INTx Disable bit is set, and goes out when that ends; the
/// status register's Interrupt Status bit shows INTx asserted or pending.
///
/// Configuration accesses are taken as bhyve does: naturally aligned 1-, 2- and 4-byte accesses.
/// BAR registers also take partial writes, which a real function merges into the register.
public final class PCIFunctionState: Sendable {
    /// The INTx pin the device wants; the bus may balance it within the slot.
    public let requestedInterruptPin: PCIInterruptPin?
    /// The BARs the device declared, by register index.
    public let declaredBARs: [(index: Int, bar: PCIBAR)]

    private enum INTx {
        case idle, asserted, pending
    }

    private struct BAR {
        let kind: PCIBAR
        var address: UInt64 = 0
        /// Where the bus placed it; restored on reset.
        var placed: UInt64 = 0
        /// Registered on the VM's bus at `address`. The bus holds the window, which holds the
        /// device, so the state keeps no reference to it.
        var mapped = false
    }

    private struct Connection {
        let spaces: PCIAddressSpaces
        let routing: PCIInterruptRouting
        let route: PCIINTxRoute?
    }

    private struct State {
        var config: PCIConfigSpace
        var powerOn: PCIConfigSpace
        var bars: [BAR?]
        var msi: MSICapability?
        var msix: MSIXCapability?
        var intx = INTx.idle
        var pin: PCIInterruptPin?
        var label = "PCI function"
        var connection: Connection?
        weak var owner: (any PCIFunction)?

        var lines: (any InterruptLines)? { connection?.routing.lines }

        var intxPermitted: Bool {
            guard connection?.route != nil else { return false }
            let msiEnabled = msi?.isEnabled(config) ?? false
            let msixEnabled = msix?.isEnabled(config) ?? false
            return !msiEnabled && !msixEnabled && config.command & PCIConfigSpace.Command.interruptDisable == 0
        }

        mutating func assertINTx() {
            guard pin != nil, intx == .idle else { return }
            if intxPermitted, let connection, let route = connection.route {
                connection.routing.assert(route)
                intx = .asserted
            } else {
                intx = .pending
            }
            showInterruptStatus()
        }

        mutating func deassertINTx() {
            if intx == .asserted, let connection, let route = connection.route { connection.routing.deassert(route) }
            intx = .idle
            showInterruptStatus()
        }

        /// Follows a change of what masks INTx.
        mutating func updateINTx() {
            if intx == .asserted, !intxPermitted, let connection, let route = connection.route {
                connection.routing.deassert(route)
                intx = .pending
            } else if intx == .pending, intxPermitted, let connection, let route = connection.route {
                connection.routing.assert(route)
                intx = .asserted
            }
            showInterruptStatus()
        }

        mutating func showInterruptStatus() {
            let bit = PCIConfigSpace.Status.interruptStatus
            config.status = intx == .idle ? config.status & ~bit : config.status | bit
        }

        mutating func raise(_ vector: Int) {
            let lines = lines
            let msiEnabled = msi?.isEnabled(config) ?? false
            if !msiEnabled, msix?.isEnabled(config) == true {
                let config = config
                msix?.trigger(vector, config: config, lines: lines)
            } else if msiEnabled, let msi {
                msi.trigger(vector, config: &config, lines: lines)
            } else {
                assertINTx()
            }
        }

        // MARK: Configuration writes

        mutating func guestWrite(_ offset: Int, size: Int, value: UInt32) {
            let oldCommand = config.command
            let barRegisters = PCIConfigSpace.barOffset..<PCIConfigSpace.barOffset + 4 * PCIConfigSpace.barCount
            if barRegisters.contains(offset) {
                writeBAR(offset, size: size, value: value)
            } else {
                config.guestWrite(offset, size: size, value: value)
            }
            let changed = oldCommand ^ config.command
            for index in bars.indices {
                guard let bar = bars[index], changed & bar.kind.decodeBit != 0 else { continue }
                if config.command & bar.kind.decodeBit != 0 { map(index) } else { unmap(index) }
            }
            let lines = lines
            if let msi { msi.deliverUnmasked(config: &config, lines: lines) }
            let current = config
            msix?.deliverPending(config: current, lines: lines)
            updateINTx()
        }

        /// Merges a write into its BAR register and moves the BAR to the address that results.
        /// Registers of no BAR stay 0.
        private mutating func writeBAR(_ offset: Int, size: Int, value: UInt32) {
            let index = (offset - PCIConfigSpace.barOffset) / 4
            let shift = UInt32(offset & 3) * 8
            let lanes = (size == 4 ? UInt32.max : (UInt32(1) << (8 * UInt32(size))) - 1) << shift
            let register = config.read(PCIConfigSpace.barOffset + 4 * index, size: 4) & ~lanes | (value << shift) & lanes
            if let bar = bars[index] {
                let high = bar.kind.is64Bit ? bar.address & 0xFFFF_FFFF_0000_0000 : 0
                move(index, to: bar.kind.decodedAddress(high | UInt64(register)))
            } else if index > 0, let low = bars[index - 1], low.kind.is64Bit {
                move(index - 1, to: low.kind.decodedAddress(UInt64(register) << 32 | low.address & 0xFFFF_FFFF))
            }
        }

        mutating func move(_ index: Int, to address: UInt64) {
            guard address != bars[index]!.address else { return }
            unmap(index)
            bars[index]!.address = address
            showBAR(index)
            map(index)
        }

        mutating func showBAR(_ index: Int) {
            guard let bar = bars[index] else { return }
            let offset = PCIConfigSpace.barOffset + 4 * index
            config.set(offset, size: 4, value: UInt32(truncatingIfNeeded: bar.address) | bar.kind.typeBits)
            if bar.kind.is64Bit { config.set(offset + 4, size: 4, value: UInt32(truncatingIfNeeded: bar.address >> 32)) }
        }

        mutating func map(_ index: Int) {
            guard let bar = bars[index], !bar.mapped, config.command & bar.kind.decodeBit != 0,
                  let connection, let owner else { return }
            let window = PCIBARWindow(function: owner, bar: index, base: bar.address, size: bar.kind.size)
            bars[index]!.mapped = connection.spaces.register(window, io: bar.kind.isIO, label: "\(label) BAR \(index)")
        }

        mutating func unmap(_ index: Int) {
            guard let bar = bars[index], bar.mapped else { return }
            connection?.spaces.unregister(base: bar.address, io: bar.kind.isIO)
            bars[index]!.mapped = false
        }
    }

    private let state: Mutex<State>

    /// A function with `identity`, the BARs by register index (0–5; a 64-bit BAR also takes the
    /// next index), the INTx pin it uses (nil for none) and its capabilities.
    public init(identity: PCIIdentity, bars: [Int: PCIBAR] = [:], interruptPin: PCIInterruptPin? = nil,
                capabilities: [PCICapability] = []) {
        var config = PCIConfigSpace(identity: identity)
        var list = [BAR?](repeating: nil, count: PCIConfigSpace.barCount)
        for (index, bar) in bars {
            precondition((0..<PCIConfigSpace.barCount).contains(index), "BAR index \(index) out of range")
            precondition(bar.isValid, "BAR \(index): size 0x\(String(bar.size, radix: 16)) is not a valid BAR size")
            precondition(!bar.is64Bit || (index + 1 < PCIConfigSpace.barCount && bars[index + 1] == nil),
                         "64-bit BAR \(index) needs register \(index + 1) free")
            precondition(index == 0 || bars[index - 1]?.is64Bit != true, "BAR \(index) is the top half of BAR \(index - 1)")
            list[index] = BAR(kind: bar)
        }
        var msi: MSICapability?
        var msix: MSIXCapability?
        for capability in capabilities {
            switch capability {
            case .msi(let vectors):
                msi = MSICapability.install(in: &config, vectors: vectors)
                precondition(msi != nil, "no room for the MSI capability")
            case .msix(let vectors, let bar, let tableOffset, let pbaOffset):
                guard list.indices.contains(bar), let holder = list[bar], !holder.kind.isIO else {
                    preconditionFailure("MSI-X table BAR \(bar) is not a memory BAR of the function")
                }
                msix = MSIXCapability.install(in: &config, vectors: vectors, bar: bar, tableOffset: tableOffset,
                                              pbaOffset: pbaOffset)
                precondition(msix != nil, "no room for the MSI-X capability")
                precondition(UInt64(tableOffset) + msix!.tableSize <= holder.kind.size
                             && UInt64(pbaOffset) + msix!.pbaSize <= holder.kind.size,
                             "MSI-X table or PBA runs past the end of BAR \(bar)")
            case .pciExpress(let type):
                precondition(PCIExpressCapability.install(in: &config, type: type), "no room for the PCI Express capability")
            }
        }
        requestedInterruptPin = interruptPin
        declaredBARs = bars.sorted { $0.key < $1.key }.map { (index: $0.key, bar: $0.value) }
        var state = State(config: config, powerOn: config, bars: list, msi: msi, msix: msix)
        for index in list.indices { state.showBAR(index) }
        state.powerOn = state.config
        self.state = Mutex(state)
    }

    // MARK: Device side

    /// Raises the function's interrupt: MSI-X `vector` if the guest enabled MSI-X (and not MSI),
    /// else MSI `vector` if it enabled MSI, else asserts INTx (until ``deassertINTx()``).
    public func raiseInterrupt(vector: Int = 0) {
        state.withLock { $0.raise(vector) }
    }

    /// Asserts INTx, or holds it pending while it is masked. No effect without an INTx pin.
    public func assertINTx() {
        state.withLock { $0.assertINTx() }
    }

    /// Withdraws INTx, whether asserted or pending.
    public func deassertINTx() {
        state.withLock { $0.deassertINTx() }
    }

    /// Gives the device model its configuration space, for its own registers and status bits;
    /// BARs, the command register and capabilities belong to this state.
    public func withConfigSpace<Result>(_ body: (inout PCIConfigSpace) -> Result) -> Result {
        state.withLock { body(&$0.config) }
    }

    // MARK: Observation

    /// The configuration space as it stands.
    public var configSpace: PCIConfigSpace { state.withLock { $0.config } }

    /// The INTx pin the bus gave the function.
    public var interruptPin: PCIInterruptPin? { state.withLock { $0.pin } }

    /// Where the function's INTx goes, once the bus is attached.
    public var interruptRoute: PCIINTxRoute? { state.withLock { $0.connection?.route } }

    /// The address BAR `index` holds; nil for no BAR there.
    public func barAddress(_ index: Int) -> UInt64? {
        state.withLock { state in state.bars.indices.contains(index) ? state.bars[index]?.address : nil }
    }

    /// Whether BAR `index` is registered on the VM's bus now.
    public func isBARMapped(_ index: Int) -> Bool {
        state.withLock { state in state.bars.indices.contains(index) && state.bars[index]?.mapped == true }
    }

    /// Whether MSI-X vector `vector`'s pending bit is set.
    public func isMSIXPending(_ vector: Int) -> Bool {
        state.withLock { state in
            guard let msix = state.msix, (0..<msix.vectors).contains(vector) else { return false }
            return msix.isPending(vector)
        }
    }

    // MARK: Bus side

    /// Joins the bus: `owner` is the device model, `pin` the INTx pin it got, `command` the
    /// power-on command register.
    func added(owner: any PCIFunction, label: String, pin: PCIInterruptPin?, command: UInt16) {
        state.withLock { state in
            state.owner = owner
            state.label = label
            state.pin = pin
            state.config.interruptPin = pin?.register ?? 0
            state.config.command = command
            state.powerOn = state.config
        }
    }

    /// Sets BAR `index`'s power-on address.
    func place(bar index: Int, at address: UInt64) {
        state.withLock { state in
            state.unmap(index)
            state.bars[index]!.address = address
            state.bars[index]!.placed = address
            state.showBAR(index)
            state.powerOn = state.config
            state.map(index)
        }
    }

    /// Connects the function to the VM: its BARs start decoding on `spaces` and its INTx, if any,
    /// goes by `route`, whose link's IRQ the Interrupt Line register reports.
    func connect(spaces: PCIAddressSpaces, routing: PCIInterruptRouting, route: PCIINTxRoute?) {
        state.withLock { state in
            state.connection = Connection(spaces: spaces, routing: routing, route: route)
            if let route { state.config.interruptLine = UInt8(routing.linkIRQ(route.link) ?? 0xFF) }
            state.powerOn = state.config
            for index in state.bars.indices { state.map(index) }
            state.updateINTx()
        }
    }

    /// Power-on state: INTx withdrawn, the configuration space as the bus set it up, BARs back
    /// where the bus placed them, MSI and MSI-X off with every MSI-X vector masked.
    func reset() {
        state.withLock { state in
            for index in state.bars.indices { state.unmap(index) }
            if state.intx == .asserted, let connection = state.connection, let route = connection.route {
                connection.routing.deassert(route)
            }
            state.intx = .idle
            state.config = state.powerOn
            for index in state.bars.indices where state.bars[index] != nil {
                state.bars[index]!.address = state.bars[index]!.placed
            }
            state.msix?.reset()
            for index in state.bars.indices { state.map(index) }
        }
    }

    func readConfig(_ offset: Int, size: Int) -> UInt32 {
        state.withLock { $0.config.read(offset, size: size) }
    }

    func writeConfig(_ offset: Int, size: Int, value: UInt32) {
        state.withLock { $0.guestWrite(offset, size: size, value: value) }
    }

    /// A read through a BAR window: MSI-X table and PBA here, the rest by the device model.
    func barRead(_ owner: any PCIFunction, bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if let value = state.withLock({ $0.msix?.read(bar: bar, offset: offset, size: size) }) { return value }
        if size == 8 {
            let low = owner.barRead(bar: bar, offset: offset, size: 4) & 0xFFFF_FFFF
            return owner.barRead(bar: bar, offset: offset + 4, size: 4) << 32 | low
        }
        return owner.barRead(bar: bar, offset: offset, size: size) & Self.lanes(size)
    }

    /// A write through a BAR window.
    func barWrite(_ owner: any PCIFunction, bar: Int, offset: UInt64, size: Int, value: UInt64) {
        let taken = state.withLock { state in
            let config = state.config
            let lines = state.lines
            return state.msix?.write(bar: bar, offset: offset, size: size, value: value, config: config,
                                     lines: lines) ?? false
        }
        guard !taken else { return }
        if size == 8 {
            owner.barWrite(bar: bar, offset: offset, size: 4, value: value & 0xFFFF_FFFF)
            owner.barWrite(bar: bar, offset: offset + 4, size: 4, value: value >> 32)
        } else {
            owner.barWrite(bar: bar, offset: offset, size: size, value: value & Self.lanes(size))
        }
    }

    private static func lanes(_ size: Int) -> UInt64 {
        size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1
    }
}
