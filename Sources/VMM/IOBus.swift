import Synchronization

/// A device reached through port I/O. Called from vCPU threads, possibly several at once.
public protocol PortIODevice: AnyObject, Sendable {
    /// Reads `size` (1, 2 or 4) bytes at `port`.
    func portRead(_ port: UInt16, size: Int) -> UInt32
    /// Writes the low `size` bytes of `value` at `port`.
    func portWrite(_ port: UInt16, size: Int, value: UInt32)
}

/// A device reached through memory-mapped I/O. Called from vCPU threads, possibly several at once.
public protocol MMIODevice: AnyObject, Sendable {
    /// Reads `size` (1, 2, 4 or 8) bytes at guest physical `address`.
    func mmioRead(_ address: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at guest physical `address`.
    func mmioWrite(_ address: UInt64, size: Int, value: UInt64)
}

/// A registration that would overlap one already on the bus.
public struct BusConflict: Error, Sendable, CustomStringConvertible {
    public let bus: String
    public let requested: ClosedRange<UInt64>
    public let existing: ClosedRange<UInt64>
    public let existingName: String

    public var description: String {
        "\(bus) range 0x\(String(requested.lowerBound, radix: 16))-0x\(String(requested.upperBound, radix: 16)) overlaps \(existingName) at 0x\(String(existing.lowerBound, radix: 16))-0x\(String(existing.upperBound, radix: 16))"
    }
}

/// Address ranges mapped to handlers, kept sorted; overlapping registrations are refused.
public final class AddressBus<Handler: Sendable>: Sendable {
    struct Entry: Sendable {
        let range: ClosedRange<UInt64>
        let name: String
        let handler: Handler
    }

    let name: String
    let limit: UInt64
    private let entries = Mutex<[Entry]>([])

    init(name: String, limit: UInt64) {
        self.name = name
        self.limit = limit
    }

    /// Claims `[base, base + count)` for `handler`; `label` names it in diagnostics.
    public func register(base: UInt64, count: UInt64, label: String, handler: Handler) throws(BusConflict) {
        precondition(count > 0 && base <= limit && count - 1 <= limit - base, "\(name) range out of bounds")
        let range = base...(base + count - 1)
        try entries.withLock { (entries: inout [Entry]) throws(BusConflict) in
            if let clash = entries.first(where: { $0.range.overlaps(range) }) {
                throw BusConflict(bus: name, requested: range, existing: clash.range, existingName: clash.name)
            }
            let index = entries.firstIndex { $0.range.lowerBound > range.upperBound } ?? entries.endIndex
            entries.insert(Entry(range: range, name: label, handler: handler), at: index)
        }
    }

    /// Releases the range that starts at `base`, if any.
    public func unregister(base: UInt64) {
        entries.withLock { $0.removeAll { $0.range.lowerBound == base } }
    }

    /// The handler whose range contains `address`.
    func handler(for address: UInt64) -> Handler? {
        entries.withLock { entries in
            var low = 0
            var high = entries.count
            while low < high {
                let mid = (low + high) / 2
                let range = entries[mid].range
                if address < range.lowerBound { high = mid } else if address > range.upperBound { low = mid + 1 } else {
                    return entries[mid].handler
                }
            }
            return nil
        }
    }

    /// The registered ranges and their names, in address order.
    public var registrations: [(range: ClosedRange<UInt64>, name: String)] {
        entries.withLock { $0.map { ($0.range, $0.name) } }
    }
}

/// The 64 Ki x86 I/O ports.
public final class PortIOBus: Sendable {
    public let bus = AddressBus<any PortIODevice>(name: "I/O port", limit: 0xFFFF)

    public init() {}

    public func register(_ device: any PortIODevice, ports base: UInt16, count: Int, label: String) throws(BusConflict) {
        try bus.register(base: UInt64(base), count: UInt64(count), label: label, handler: device)
    }

    /// Performs a read; nil when no device claims the port.
    @inline(__always)
    public func read(_ port: UInt16, size: Int) -> UInt32? {
        bus.handler(for: UInt64(port))?.portRead(port, size: size)
    }

    /// Performs a write; false when no device claims the port.
    @inline(__always)
    public func write(_ port: UInt16, size: Int, value: UInt32) -> Bool {
        guard let device = bus.handler(for: UInt64(port)) else { return false }
        device.portWrite(port, size: size, value: value)
        return true
    }
}

/// Guest physical addresses that are not RAM.
public final class MMIOBus: Sendable {
    public let bus = AddressBus<any MMIODevice>(name: "MMIO", limit: UInt64.max)

    public init() {}

    public func register(_ device: any MMIODevice, base: UInt64, size: UInt64, label: String) throws(BusConflict) {
        try bus.register(base: base, count: size, label: label, handler: device)
    }

    /// Performs a read; nil when no device claims the address.
    public func read(_ address: UInt64, size: Int) -> UInt64? {
        bus.handler(for: address)?.mmioRead(address, size: size)
    }

    /// Performs a write; false when no device claims the address.
    public func write(_ address: UInt64, size: Int, value: UInt64) -> Bool {
        guard let device = bus.handler(for: address) else { return false }
        device.mmioWrite(address, size: size, value: value)
        return true
    }
}
