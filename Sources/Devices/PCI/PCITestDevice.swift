import Synchronization

/// `pci-testdev`: a minimal PCI function for guest test programs, which bhyve has no equivalent
/// of. IDs 0x1275:0x7E57 — bhyve's made-up hostbridge vendor (NetApp) with a "TEST" device ID —
/// class 0xFF0000 ("device does not fit any defined class"), INTx on INTA, MSI with one vector and
/// MSI-X with two.
///
/// BAR 0, 4 KiB of 32-bit memory, holds four dword registers:
/// - 0x00, write: raise the interrupt — MSI-X vector 0 when MSI-X is enabled, else MSI, else
///   assert INTx;
/// - 0x04, write: deassert INTx;
/// - 0x08, read: interrupts raised since reset (writes ignored);
/// - 0x0C: scratch, read-write.
///
/// BAR 1, 16 I/O ports, has a read-write scratch dword at 0; BAR 2, 4 KiB of 32-bit memory, holds
/// the MSI-X table at 0 and the PBA at 0x800. Registers take byte, word and dword accesses within
/// them; everything else reads 0 and ignores writes.
public final class PCITestDevice: PCIFunction {
    public static let vendorID: UInt16 = 0x1275
    public static let deviceID: UInt16 = 0x7E57
    public static let classCode: UInt32 = 0xFF_00_00

    public static let registerBAR = 0
    public static let ioBAR = 1
    public static let msixBAR = 2
    public static let registerBARSize: UInt32 = 0x1000
    public static let ioBARSize: UInt32 = 0x10
    public static let msixBARSize: UInt32 = 0x1000
    public static let msixVectors = 2
    public static let msixTableOffset: UInt32 = 0
    public static let msixPBAOffset: UInt32 = 0x800

    public static let raiseRegister: UInt64 = 0x00
    public static let lowerRegister: UInt64 = 0x04
    public static let countRegister: UInt64 = 0x08
    public static let scratchRegister: UInt64 = 0x0C

    private struct Registers {
        var raised: UInt32 = 0
        var scratch: UInt32 = 0
        var ioScratch: UInt32 = 0
    }

    public let pci: PCIFunctionState
    private let registers = Mutex(Registers())

    /// The device at power-on: nothing raised, scratch registers 0.
    public init() {
        pci = PCIFunctionState(
            identity: PCIIdentity(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: Self.classCode),
            bars: [Self.registerBAR: .memory32(size: Self.registerBARSize), Self.ioBAR: .io(size: Self.ioBARSize),
                   Self.msixBAR: .memory32(size: Self.msixBARSize)],
            interruptPin: .intA,
            capabilities: [.msi(vectors: 1),
                           .msix(vectors: Self.msixVectors, bar: Self.msixBAR, tableOffset: Self.msixTableOffset,
                                 pbaOffset: Self.msixPBAOffset)])
    }

    /// Power-on: count and scratch registers cleared.
    public func reset() {
        registers.withLock { $0 = Registers() }
    }

    public func barRead(bar: Int, offset: UInt64, size: Int) -> UInt64 {
        guard let lanes = Self.lanes(offset, size: size) else { return 0 }
        let value: UInt32 = registers.withLock { registers in
            switch (bar, lanes.register) {
            case (Self.registerBAR, Self.countRegister): registers.raised
            case (Self.registerBAR, Self.scratchRegister): registers.scratch
            case (Self.ioBAR, 0): registers.ioScratch
            default: 0
            }
        }
        return UInt64((value & lanes.mask) >> lanes.shift)
    }

    public func barWrite(bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard let lanes = Self.lanes(offset, size: size) else { return }
        let merged = { (old: UInt32) in
            old & ~lanes.mask | UInt32(truncatingIfNeeded: value << UInt64(lanes.shift)) & lanes.mask
        }
        switch (bar, lanes.register) {
        case (Self.registerBAR, Self.raiseRegister):
            registers.withLock { $0.raised &+= 1 }
            pci.raiseInterrupt(vector: 0)
        case (Self.registerBAR, Self.lowerRegister):
            pci.deassertINTx()
        case (Self.registerBAR, Self.scratchRegister):
            registers.withLock { $0.scratch = merged($0.scratch) }
        case (Self.ioBAR, 0):
            registers.withLock { $0.ioScratch = merged($0.ioScratch) }
        default:
            break
        }
    }

    /// The dword register an access falls in and the lanes it covers; nil when it straddles two.
    private static func lanes(_ offset: UInt64, size: Int) -> (register: UInt64, mask: UInt32, shift: UInt32)? {
        let lane = offset & 3
        guard size <= 4, lane + UInt64(size) <= 4 else { return nil }
        let shift = UInt32(lane) * 8
        let mask = (size == 4 ? UInt32.max : (UInt32(1) << (8 * UInt32(size))) - 1) << shift
        return (offset & ~3, mask, shift)
    }
}
