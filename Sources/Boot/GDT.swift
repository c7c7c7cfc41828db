import KVM

/// The global descriptor table Hyve places in guest memory for protected- and long-mode programs.
///
/// Its four entries are the null descriptor and three flat segments spanning 4 GiB:
/// ``code32Selector``, ``dataSelector`` and ``code64Selector``. The in-memory descriptors and the
/// ``Segment`` values loaded into the vCPU are derived from the same definitions so they cannot disagree.
public enum GDT {
    /// Guest physical address of the table.
    public static let address: UInt64 = 0x1000
    /// 32-bit code, DPL 0.
    public static let code32Selector: UInt16 = 0x08
    /// Read/write data, DPL 0, for every data segment register and SS.
    public static let dataSelector: UInt16 = 0x10
    /// 64-bit code (L=1), DPL 0.
    public static let code64Selector: UInt16 = 0x18

    /// 32-bit code segment as the vCPU holds it after loading ``code32Selector``.
    public static let code32Segment = flat(selector: code32Selector, type: executeReadAccessed, defaultBig: true)
    /// Data segment as the vCPU holds it after loading ``dataSelector``.
    public static let dataSegment = flat(selector: dataSelector, type: readWriteAccessed, defaultBig: true)
    /// 64-bit code segment as the vCPU holds it after loading ``code64Selector``.
    public static let code64Segment = flat(selector: code64Selector, type: executeReadAccessed, long: true)

    /// GDTR value covering the four entries.
    public static let descriptorTable = DescriptorTable(base: address, limit: UInt16(entryCount * 8 - 1))

    /// The table's bytes: the null descriptor followed by the three segments, in selector order.
    public static var bytes: [UInt8] {
        var bytes: [UInt8] = []
        for descriptor in [0, descriptor(code32Segment), descriptor(dataSegment), descriptor(code64Segment)] {
            bytes.appendLittleEndian(descriptor)
        }
        return bytes
    }

    /// The write that places the table at ``address``.
    public static var memoryWrite: MemoryWrite {
        MemoryWrite(address: address, bytes: bytes)
    }

    /// Encodes a code or data segment as an 8-byte descriptor.
    ///
    /// `segment.limit` is in bytes, as KVM reports it; with granularity set the descriptor stores it in
    /// 4 KiB units, so the low 12 bits must then be all ones. Bases above 4 GiB do not fit and are cut.
    public static func descriptor(_ segment: Segment) -> UInt64 {
        let limit = UInt64(segment.granularity ? segment.limit >> 12 : segment.limit)
        let rights = UInt64(segment.accessRights)
        var descriptor = limit & 0xFFFF
        descriptor |= (segment.base & 0xFF_FFFF) << 16
        descriptor |= (rights & 0xFF) << 40
        descriptor |= ((limit >> 16) & 0xF) << 48
        descriptor |= ((rights >> 12) & 0xF) << 52
        descriptor |= ((segment.base >> 24) & 0xFF) << 56
        return descriptor
    }

    private static let entryCount = 4

    // Types with the accessed bit already set, as the CPU would leave them after a load; otherwise the
    // guest's first segment load would have to write the bit back into the table.
    private static let executeReadAccessed: UInt8 = 0xB
    private static let readWriteAccessed: UInt8 = 0x3

    private static func flat(selector: UInt16, type: UInt8, defaultBig: Bool = false, long: Bool = false) -> Segment {
        Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector, type: type, present: true, dpl: 0,
                codeOrData: true, defaultBig: defaultBig, long: long, granularity: true)
    }
}
