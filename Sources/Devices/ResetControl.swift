import Synchronization
import VMM

/// The Reset Control register at port 0xCF9 (Intel ICH/PIIX). Setting bit 2 (RST_CPU) resets the
/// machine; bit 1 (SYS_RST) would choose a hard over a soft reset, and like bhyve Hyve always does
/// the same full reset.
public final class ResetControl: PortIODevice {
    public static let port: UInt16 = 0xCF9
    static let resetCPU: UInt8 = 1 << 2
    /// Only SYS_RST, RST_CPU and FULL_RST are defined; the other bits read as zero.
    static let writableBits: UInt8 = 0x0E

    private let value = Mutex<UInt8>(0)
    private let onReset: @Sendable () -> Void

    public init(onReset: @escaping @Sendable () -> Void) {
        self.onReset = onReset
    }

    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.port, count: 1, label: "reset control")
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    public func reset() {
        value.withLock { $0 = 0 }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        UInt32(value.withLock { $0 })
    }

    public func portWrite(_ port: UInt16, size: Int, value newValue: UInt32) {
        let byte = UInt8(truncatingIfNeeded: newValue) & Self.writableBits
        value.withLock { $0 = byte & ~Self.resetCPU }
        if byte & Self.resetCPU != 0 { onReset() }
    }
}
