import Synchronization
import VMM

/// One mapping of a BAR on the VM's port or MMIO bus, registered while the BAR decodes at `base`.
/// A new window is made for every (re)mapping, so an access that raced with the guest moving the
/// BAR still sees the offsets of the mapping it came through.
///
/// Accesses running past the end of the BAR, or of a size other than 1, 2, 4 (or 8 for memory),
/// read all-ones and are ignored.
final class PCIBARWindow: PortIODevice, MMIODevice {
    let function: any PCIFunction
    let bar: Int
    let base: UInt64
    let size: UInt64

    init(function: any PCIFunction, bar: Int, base: UInt64, size: UInt64) {
        self.function = function
        self.bar = bar
        self.base = base
        self.size = size
    }

    func portRead(_ port: UInt16, size: Int) -> UInt32 {
        guard size <= 4 else { return UInt32.max }
        return UInt32(truncatingIfNeeded: mmioRead(UInt64(port), size: size))
    }

    func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        guard size <= 4 else { return }
        mmioWrite(UInt64(port), size: size, value: UInt64(value))
    }

    func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        guard let offset = offset(address, size: size) else { return UInt64.max }
        return function.pci.barRead(function, bar: bar, offset: offset, size: size)
    }

    func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        guard let offset = offset(address, size: size) else { return }
        function.pci.barWrite(function, bar: bar, offset: offset, size: size, value: value)
    }

    private func offset(_ address: UInt64, size: Int) -> UInt64? {
        guard [1, 2, 4, 8].contains(size), address >= base else { return nil }
        let offset = address - base
        guard offset < self.size, UInt64(size) <= self.size - offset else { return nil }
        return offset
    }
}

/// The VM's buses a function's BARs decode on, held weakly: the buses own the windows, which own
/// the functions, which own this.
final class PCIAddressSpaces: Sendable {
    private struct Buses {
        weak var ports: PortIOBus?
        weak var mmio: MMIOBus?
    }

    private let buses: Mutex<Buses>

    init(ports: PortIOBus, mmio: MMIOBus) {
        buses = Mutex(Buses(ports: ports, mmio: mmio))
    }

    /// Registers `window`; false when its range is taken (the BAR then stays unmapped).
    func register(_ window: PCIBARWindow, io: Bool, label: String) -> Bool {
        let (ports, mmio) = buses.withLock { ($0.ports, $0.mmio) }
        do {
            if io {
                guard let ports else { return false }
                try ports.register(window, ports: UInt16(window.base), count: Int(window.size), label: label)
            } else {
                guard let mmio else { return false }
                try mmio.register(window, base: window.base, size: window.size, label: label)
            }
            return true
        } catch {
            return false
        }
    }

    /// Releases the window registered at `base`.
    func unregister(base: UInt64, io: Bool) {
        let (ports, mmio) = buses.withLock { ($0.ports, $0.mmio) }
        if io { ports?.bus.unregister(base: base) } else { mmio?.bus.unregister(base: base) }
    }
}
