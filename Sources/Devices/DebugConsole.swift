import VMM

/// The Bochs/QEMU debug console at port 0xE9: every byte the guest writes goes to the sink.
/// Reading the port returns 0xE9, the value guests use to detect the console.
public final class DebugConsole: PortIODevice {
    public static let port: UInt16 = 0xE9

    private let sink: @Sendable (UInt8) -> Void

    public init(sink: @escaping @Sendable (UInt8) -> Void) {
        self.sink = sink
    }

    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.port, count: 1, label: "debug console")
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        UInt32(Self.port)
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        sink(UInt8(truncatingIfNeeded: value))
    }
}
