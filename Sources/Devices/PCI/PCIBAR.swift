/// A base address register a function declares: what it decodes and how much. Sizes are powers
/// of two, at least 4 bytes for I/O and 16 for memory (the PCI minimums); a 64-bit BAR takes its
/// slot and the next one.
public enum PCIBAR: Sendable, Equatable {
    case io(size: UInt32)
    case memory32(size: UInt32, prefetchable: Bool = false)
    case memory64(size: UInt64, prefetchable: Bool = false)

    /// Bytes decoded.
    public var size: UInt64 {
        switch self {
        case .io(let size): UInt64(size)
        case .memory32(let size, _): UInt64(size)
        case .memory64(let size, _): size
        }
    }

    /// Decodes I/O space rather than memory.
    public var isIO: Bool {
        if case .io = self { true } else { false }
    }

    /// Takes two registers.
    public var is64Bit: Bool {
        if case .memory64 = self { true } else { false }
    }

    /// The read-only low bits of the register: space indicator, type and prefetchable.
    var typeBits: UInt32 {
        switch self {
        case .io: 0x1
        case .memory32(_, let prefetchable): prefetchable ? 0x8 : 0x0
        case .memory64(_, let prefetchable): prefetchable ? 0xC : 0x4
        }
    }

    /// The command register bit that enables decoding of this BAR.
    var decodeBit: UInt16 {
        isIO ? PCIConfigSpace.Command.ioSpace : PCIConfigSpace.Command.memorySpace
    }

    /// The highest address bit plus one the register can hold: 16 bits of I/O (as bhyve, which
    /// hardwires the upper half of I/O BARs to 0), 32 or 64 bits of memory.
    var addressLimit: UInt64 {
        switch self {
        case .io: 0x1_0000
        case .memory32: 0x1_0000_0000
        case .memory64: 0
        }
    }

    /// `address` as the register holds it: the aligned base bits within the limit.
    func decodedAddress(_ address: UInt64) -> UInt64 {
        let aligned = address & ~(size - 1)
        return addressLimit == 0 ? aligned : aligned & (addressLimit - 1)
    }

    var isValid: Bool {
        let minimum: UInt64 = isIO ? 4 : 16
        let maximum: UInt64 = switch self {
        case .io: 0x1_0000
        case .memory32: 0x8000_0000
        case .memory64: 1 << 63
        }
        return size >= minimum && size <= maximum && size & (size - 1) == 0
    }
}
