import Synchronization
import VMM

/// QEMU's firmware configuration interface, as bhyve provides it with `lpc.fwcfg=qemu`
/// (`qemu_fwcfg.c`), plus QEMU's DMA interface, which bhyve lacks.
///
/// - A 16-bit write to the selector port 0x510 selects an item and rewinds its offset; reading the
///   port returns the selector, as in bhyve.
/// - Each read of the data port 0x511 returns the item's next byte (a wider read returns that many
///   bytes, the first in the low byte); past the end, or for a selector with no item, it returns 0.
///   Writes are ignored, as QEMU 2.4 and later do (the items are read-only).
/// - With DMA, the guest writes the guest-physical address of a 16-byte `FWCfgDmaAccess`
///   (big-endian `control`, `length`, `address`) to 0x514 (high half) and 0x518 (low half, which
///   starts the transfer), each as a big-endian 32-bit value. `control` may select an item (bits
///   31–16 with ``DMAControl/select``) and then read (zeroes past the end), skip, or write (refused
///   with an error unless its length is 0). The device stores back `control` as 0, or ``DMAControl/error`` when a write
///   was asked for or a guest address was not RAM. Reading 0x514–0x51B returns "QEMU CFG".
///
/// The items are fixed when the device is made (``FwCfgItems``); only the selector, the offset
/// and the DMA address latch change, under one lock.
public final class FwCfg: PortIODevice {
    public static let selectorPort: UInt16 = 0x510
    public static let dataPort: UInt16 = 0x511
    /// The DMA address register: high half at 0x514, low half at 0x518.
    public static let dmaPort: UInt16 = 0x514
    public static let dmaPortCount = 8
    /// What the DMA address register reads as, byte by byte.
    public static let dmaSignature = Array("QEMU CFG".utf8)
    /// Size of a `FWCfgDmaAccess` structure in guest memory.
    public static let dmaAccessSize = 16

    /// The selector values of the items QEMU defines (`fw_cfg_keys.h`).
    public enum Key {
        public static let signature: UInt16 = 0x00
        public static let id: UInt16 = 0x01
        public static let ramSize: UInt16 = 0x03
        public static let cpuCount: UInt16 = 0x05
        public static let kernelAddress: UInt16 = 0x07
        public static let kernelSize: UInt16 = 0x08
        public static let initrdAddress: UInt16 = 0x0A
        public static let initrdSize: UInt16 = 0x0B
        public static let maxCPUs: UInt16 = 0x0F
        public static let kernelData: UInt16 = 0x11
        public static let initrdData: UInt16 = 0x12
        public static let commandLineAddress: UInt16 = 0x13
        public static let commandLineSize: UInt16 = 0x14
        public static let commandLineData: UInt16 = 0x15
        public static let fileDirectory: UInt16 = 0x19
        /// The first selector given to a file.
        public static let firstFile: UInt16 = 0x20
        /// Selector bit that asks for the write channel; reads ignore it, as QEMU's do.
        public static let writeChannel: UInt16 = 0x4000
    }

    /// Bits of `FWCfgDmaAccess.control`.
    public struct DMAControl: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let error = DMAControl(rawValue: 0x01)
        public static let read = DMAControl(rawValue: 0x02)
        public static let skip = DMAControl(rawValue: 0x04)
        public static let select = DMAControl(rawValue: 0x08)
        public static let write = DMAControl(rawValue: 0x10)
    }

    /// Bits of the ID item: the port interface is always there; DMA only when enabled.
    public static let idTraditional: UInt32 = 0x1
    public static let idDMA: UInt32 = 0x2

    private struct State {
        var selector: UInt16 = 0
        var offset = 0
        var dmaAddressHigh: UInt32 = 0
    }

    private let state = Mutex(State())
    private let items: [UInt16: [UInt8]]
    private let memory: (any FwCfgDMAMemory)?

    /// A device serving `items`; with `dma`, the DMA interface reaches guest memory through it.
    public init(items: FwCfgItems, dma: (any FwCfgDMAMemory)? = nil) {
        self.items = items.table(dma: dma != nil)
        memory = dma
    }

    /// Whether the DMA interface is present.
    public var hasDMA: Bool { memory != nil }

    /// Claims the selector and data ports and, with DMA, the DMA address register; rewinds the
    /// selector when the VM is re-initialised.
    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.selectorPort, count: 2, label: "fw_cfg")
        if hasDMA {
            try vm.ports.register(self, ports: Self.dmaPort, count: Self.dmaPortCount, label: "fw_cfg DMA")
        }
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    /// Power-on state: item 0 selected, offset 0, no DMA address latched.
    public func reset() {
        state.withLock { $0 = State() }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        switch port {
        case Self.selectorPort:
            return state.withLock { UInt32($0.selector) } & Self.mask(size)
        case Self.dataPort:
            return state.withLock { state in
                var value: UInt32 = 0
                for i in 0..<min(size, 4) { value |= UInt32(nextByte(&state)) << (8 * UInt32(i)) }
                return value
            }
        default:
            guard hasDMA, port >= Self.dmaPort else { return 0 }
            let start = Int(port - Self.dmaPort)
            var value: UInt32 = 0
            for i in 0..<min(size, 4) where start + i < Self.dmaSignature.count {
                value |= UInt32(Self.dmaSignature[start + i]) << (8 * UInt32(i))
            }
            return value
        }
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        switch (port, size) {
        case (Self.selectorPort, 2):
            state.withLock { select(UInt16(truncatingIfNeeded: value), &$0) }
        case (Self.dmaPort, 4) where hasDMA:
            state.withLock { $0.dmaAddressHigh = value.byteSwapped }
        case (Self.dmaPort + 4, 4) where hasDMA:
            state.withLock { state in
                let address = UInt64(state.dmaAddressHigh) << 32 | UInt64(value.byteSwapped)
                // As QEMU, each transfer consumes the latched high half.
                state.dmaAddressHigh = 0
                transfer(descriptorAt: address, &state)
            }
        default:
            break
        }
    }

    private static func mask(_ size: Int) -> UInt32 {
        size >= 4 ? .max : (1 << (8 * UInt32(size))) - 1
    }

    private func select(_ selector: UInt16, _ state: inout State) {
        state.selector = selector
        state.offset = 0
    }

    private func current(_ state: State) -> [UInt8] {
        items[state.selector & ~Key.writeChannel] ?? []
    }

    private func nextByte(_ state: inout State) -> UInt8 {
        let item = current(state)
        guard state.offset < item.count else { return 0 }
        defer { state.offset += 1 }
        return item[state.offset]
    }

    /// Performs the `FWCfgDmaAccess` at `address`. A descriptor that is not in guest RAM is
    /// ignored: there is nowhere to report the error.
    private func transfer(descriptorAt address: UInt64, _ state: inout State) {
        guard let memory, let header = try? memory.read(address, count: Self.dmaAccessSize) else { return }
        let control = DMAControl(rawValue: Self.bigEndian(header[0..<4]))
        var length = UInt64(Self.bigEndian(header[4..<8]) as UInt32)
        var target: UInt64 = Self.bigEndian(header[8..<16])
        if control.contains(.select) { select(UInt16(truncatingIfNeeded: control.rawValue >> 16), &state) }

        var status = DMAControl()
        if control.contains(.read) || !control.contains(.write) && control.contains(.skip) {
            let reading = control.contains(.read)
            while length > 0 {
                let item = current(state)
                let available = UInt64(max(item.count - state.offset, 0))
                if available == 0 {
                    if reading, (try? memory.fill(0, at: target, count: length)) == nil { status.insert(.error) }
                    break
                }
                let count = min(length, available)
                if reading {
                    let bytes = Array(item[state.offset..<state.offset + Int(count)])
                    guard (try? memory.write(bytes, at: target)) != nil else {
                        status.insert(.error)
                        break
                    }
                }
                state.offset += Int(count)
                target &+= count
                length -= count
            }
        } else if control.contains(.write), length > 0 {
            status.insert(.error)
        }
        _ = try? memory.write(withUnsafeBytes(of: status.rawValue.bigEndian, Array.init), at: address)
    }

    private static func bigEndian<T: FixedWidthInteger & UnsignedInteger>(_ bytes: ArraySlice<UInt8>) -> T {
        bytes.reduce(0) { $0 << 8 | T($1) }
    }
}
