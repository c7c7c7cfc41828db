import Synchronization
import VMM

/// bhyve's pc-testdev (QEMU's ISA test device): isa-debug-exit at ports 0xF4–0xF7, a 32-bit
/// scratch register at ports 0xE0–0xE3, 64 KiB of scratch MMIO at 0xFF000000, and one port per
/// interrupt line from 0x2000 (a byte write of non-zero asserts the line, zero deasserts it;
/// lines below 16 are ISA IRQs with the same-numbered I/O APIC pin, the rest I/O APIC pins).
///
/// A write of `v` to isa-debug-exit ends the VM; Hyve then exits with status `(v << 1) | 1`,
/// which can never be 0, so a test that reaches its own exit cannot be mistaken for a clean
/// poweroff or reset.
public final class PCTestDev: PortIODevice, MMIODevice {
    public static let debugExitPort: UInt16 = 0xF4
    public static let debugExitLength = 4
    public static let scratchPort: UInt16 = 0xE0
    public static let scratchPortLength = 4
    public static let scratchMemoryBase: UInt64 = 0xFF00_0000
    public static let scratchMemoryLength = 0x10000
    public static let irqPortBase: UInt16 = 0x2000
    public static let irqLineCount = InterruptRouter.ioapicPinCount

    private struct State {
        var scratch: UInt32 = 0
        var memory = [UInt8](repeating: 0, count: PCTestDev.scratchMemoryLength)
    }

    private let state = Mutex(State())
    private let lines: any InterruptLines
    private let onExit: @Sendable (UInt32) -> Void

    /// `lines` are driven by the IRQ ports; `onExit` receives the value written to isa-debug-exit.
    public init(lines: any InterruptLines, onExit: @escaping @Sendable (UInt32) -> Void) {
        self.lines = lines
        self.onExit = onExit
    }

    /// Claims the device's ports and memory on `vm`'s buses, and resets it with the VM.
    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.debugExitPort, count: Self.debugExitLength, label: "isa-debug-exit")
        try vm.ports.register(self, ports: Self.scratchPort, count: Self.scratchPortLength, label: "pc-testdev-ioport")
        try vm.mmio.register(self, base: Self.scratchMemoryBase, size: UInt64(Self.scratchMemoryLength), label: "pc-testdev-iomem")
        try vm.ports.register(self, ports: Self.irqPortBase, count: Self.irqLineCount, label: "pc-testdev-irq-line")
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    /// Power-on state: scratch register and memory cleared.
    public func reset() {
        state.withLock { $0 = State() }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        guard let lanes = Self.scratchLanes(port, size: size) else { return 0 }
        return state.withLock { ($0.scratch & lanes.mask) >> lanes.shift }
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        if port >= Self.debugExitPort && port < Self.debugExitPort + UInt16(Self.debugExitLength) {
            onExit(value)
            return
        }
        if port >= Self.irqPortBase {
            // As bhyve, only byte writes drive a line.
            guard size == 1 else { return }
            setLine(Int(port - Self.irqPortBase), asserted: value & 0xFF != 0)
            return
        }
        guard let lanes = Self.scratchLanes(port, size: size) else { return }
        state.withLock { $0.scratch = ($0.scratch & ~lanes.mask) | ((value << lanes.shift) & lanes.mask) }
    }

    private func setLine(_ line: Int, asserted: Bool) {
        switch (line < 16, asserted) {
        case (true, true): lines.isaAssert(line, ioapicPin: line)
        case (true, false): lines.isaDeassert(line, ioapicPin: line)
        case (false, true): lines.ioapicAssert(line)
        case (false, false): lines.ioapicDeassert(line)
        }
    }

    /// The byte lanes of the scratch register an access covers; nil outside it (isa-debug-exit
    /// reads, or an access running past port 0xE3).
    private static func scratchLanes(_ port: UInt16, size: Int) -> (mask: UInt32, shift: UInt32)? {
        guard port >= scratchPort, Int(port - scratchPort) + size <= scratchPortLength else { return nil }
        let shift = UInt32(port - scratchPort) * 8
        let mask = (size == 4 ? UInt32.max : (UInt32(1) << (UInt32(size) * 8)) - 1) << shift
        return (mask, shift)
    }

    public func mmioRead(_ address: UInt64, size: Int) -> UInt64 {
        let offset = Int(address - Self.scratchMemoryBase)
        guard offset + size <= Self.scratchMemoryLength else { return UInt64.max }
        return state.withLock { state in
            var value: UInt64 = 0
            for i in 0..<size { value |= UInt64(state.memory[offset + i]) << (8 * UInt64(i)) }
            return value
        }
    }

    public func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {
        let offset = Int(address - Self.scratchMemoryBase)
        guard offset + size <= Self.scratchMemoryLength else { return }
        state.withLock { state in
            for i in 0..<size { state.memory[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
    }
}
