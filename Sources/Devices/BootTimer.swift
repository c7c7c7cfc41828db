import Synchronization
import VMM

/// The POST-code port 0x80 as a boot-time marker, after Firecracker's boot timer and Cloud
/// Hypervisor's debug port: a guest writes a code to mark a milestone (the test initramfs writes
/// one as its first user-space act) and the VMM reports when it saw it. Only the first write of
/// each code is reported: kernels also use port 0x80 as an I/O delay, and a report per delay
/// would drown the milestones.
public final class BootTimer: PortIODevice {
    public static let port: UInt16 = 0x80

    private let onMarker: @Sendable (UInt8) -> Void
    private let seen = Mutex<[UInt64]>([0, 0, 0, 0])

    /// `onMarker` runs on the writing vCPU's thread, once per distinct code.
    public init(onMarker: @escaping @Sendable (UInt8) -> Void) {
        self.onMarker = onMarker
    }

    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.port, count: 1, label: "boot timer")
    }

    /// Forgets the codes already reported, so that a rebooted guest's milestones are reported again.
    public func reset() {
        seen.withLock { $0 = [0, 0, 0, 0] }
    }

    /// Reads as an ISA port nobody drives.
    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        UInt32.max >> (32 - 8 * UInt32(size))
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        let code = UInt8(truncatingIfNeeded: value)
        let first = seen.withLock { words in
            let word = Int(code >> 6), bit = UInt64(1) << (code & 63)
            defer { words[word] |= bit }
            return words[word] & bit == 0
        }
        if first { onMarker(code) }
    }
}
