/// The identity registers of a type-0 header.
public struct PCIIdentity: Sendable, Equatable {
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var revisionID: UInt8
    /// Base class (bits 23–16), subclass (15–8) and programming interface (7–0).
    public var classCode: UInt32
    public var subsystemVendorID: UInt16
    public var subsystemID: UInt16

    public init(vendorID: UInt16, deviceID: UInt16, revisionID: UInt8 = 0, classCode: UInt32,
                subsystemVendorID: UInt16 = 0, subsystemID: UInt16 = 0) {
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.revisionID = revisionID
        self.classCode = classCode & 0xFF_FFFF
        self.subsystemVendorID = subsystemVendorID
        self.subsystemID = subsystemID
    }
}

/// A PCI function's configuration space: the 256 PCI-compatible bytes (all that mechanism #1
/// reaches) followed by the PCI Express extended space up to 4 KiB (reached through ECAM).
///
/// Every byte carries two masks: the bits a guest write may change, and the bits a guest clears
/// by writing 1 (the status register's error bits). Everything else is read-only to the guest;
/// the device model changes any byte with ``set(_:size:value:)``. A fresh space is an empty
/// type-0 header with the PCI Express rules for the command register: only I/O space, memory
/// space, bus master, parity error response, SERR# enable and INTx disable are implemented.
public struct PCIConfigSpace: Sendable, Equatable {
    /// Bytes per function (ECAM).
    public static let size = 4096
    /// Bytes reached through configuration mechanism #1.
    public static let legacySize = 256

    public static let vendorIDOffset = 0x00
    public static let deviceIDOffset = 0x02
    public static let commandOffset = 0x04
    public static let statusOffset = 0x06
    public static let revisionIDOffset = 0x08
    public static let classCodeOffset = 0x09
    public static let cacheLineSizeOffset = 0x0C
    public static let headerTypeOffset = 0x0E
    public static let barOffset = 0x10
    public static let barCount = 6
    public static let subsystemVendorIDOffset = 0x2C
    public static let subsystemIDOffset = 0x2E
    public static let capabilitiesPointerOffset = 0x34
    public static let interruptLineOffset = 0x3C
    public static let interruptPinOffset = 0x3D
    /// Where the capability list starts, as in bhyve.
    public static let firstCapabilityOffset = 0x40

    /// Command register bits.
    public enum Command {
        public static let ioSpace: UInt16 = 1 << 0
        public static let memorySpace: UInt16 = 1 << 1
        public static let busMaster: UInt16 = 1 << 2
        public static let parityErrorResponse: UInt16 = 1 << 6
        public static let serrEnable: UInt16 = 1 << 8
        public static let interruptDisable: UInt16 = 1 << 10
        /// The bits a PCI Express function implements; the rest are hardwired to 0.
        public static let writable: UInt16 = ioSpace | memorySpace | busMaster | parityErrorResponse | serrEnable
            | interruptDisable
    }

    /// Status register bits.
    public enum Status {
        public static let interruptStatus: UInt16 = 1 << 3
        public static let capabilitiesList: UInt16 = 1 << 4
        /// Master data parity error, signaled/received target abort, received master abort,
        /// signaled system error, detected parity error: set by the device, cleared by writing 1.
        public static let writeOneToClear: UInt16 = 0xF900
    }

    /// Header type bit 7: the device has more than one function.
    public static let multifunctionBit: UInt8 = 0x80

    private var bytes: [UInt8]
    private var writableMask: [UInt8]
    private var clearMask: [UInt8]
    /// The last capability added, whose next pointer the following one goes into.
    private var lastCapability: Int?
    private var capabilityEnd = PCIConfigSpace.firstCapabilityOffset

    /// An empty type-0 header: no identity, Interrupt Line 0xFF ("unknown"), cache line size and
    /// Interrupt Line writable, the command and status masks of ``Command`` and ``Status``.
    public init() {
        bytes = [UInt8](repeating: 0, count: Self.size)
        writableMask = [UInt8](repeating: 0, count: Self.size)
        clearMask = [UInt8](repeating: 0, count: Self.size)
        setWritable(Self.commandOffset, size: 2, mask: UInt32(Command.writable))
        setWriteOneToClear(Self.statusOffset, size: 2, mask: UInt32(Status.writeOneToClear))
        setWritable(Self.cacheLineSizeOffset, size: 1, mask: 0xFF)
        setWritable(Self.interruptLineOffset, size: 1, mask: 0xFF)
        bytes[Self.interruptLineOffset] = 0xFF
    }

    /// A header with `identity` filled in.
    public init(identity: PCIIdentity) {
        self.init()
        self.identity = identity
    }

    // MARK: Raw access

    /// Reads `size` (1, 2 or 4) bytes little-endian at `offset`; all-ones outside the space.
    public func read(_ offset: Int, size: Int) -> UInt32 {
        guard Self.isInside(offset, size: size) else { return UInt32.max }
        var value: UInt32 = 0
        for i in 0..<size { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        return value
    }

    /// Sets `size` bytes at `offset` as the device: masks do not apply.
    public mutating func set(_ offset: Int, size: Int, value: UInt32) {
        precondition(Self.isInside(offset, size: size), "config space access out of range")
        for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    /// A guest write: bits in the writable mask take the written value, bits in the
    /// write-1-to-clear mask are cleared where the value has a 1, all others keep their value.
    /// Writes reaching outside the space are ignored.
    public mutating func guestWrite(_ offset: Int, size: Int, value: UInt32) {
        guard Self.isInside(offset, size: size) else { return }
        for i in 0..<size {
            let index = offset + i
            let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
            let writable = writableMask[index]
            let kept = bytes[index] & ~writable & ~(byte & clearMask[index])
            bytes[index] = kept | (byte & writable)
        }
    }

    /// Makes the bits of `mask` at `offset` guest-writable (and only those, for these bytes).
    public mutating func setWritable(_ offset: Int, size: Int, mask: UInt32) {
        precondition(Self.isInside(offset, size: size), "config space access out of range")
        for i in 0..<size { writableMask[offset + i] = UInt8(truncatingIfNeeded: mask >> (8 * UInt32(i))) }
    }

    /// Makes the bits of `mask` at `offset` write-1-to-clear (and only those, for these bytes).
    public mutating func setWriteOneToClear(_ offset: Int, size: Int, mask: UInt32) {
        precondition(Self.isInside(offset, size: size), "config space access out of range")
        for i in 0..<size { clearMask[offset + i] = UInt8(truncatingIfNeeded: mask >> (8 * UInt32(i))) }
    }

    /// The guest-writable bits at `offset`.
    public func writableBits(_ offset: Int, size: Int) -> UInt32 {
        guard Self.isInside(offset, size: size) else { return 0 }
        var mask: UInt32 = 0
        for i in 0..<size { mask |= UInt32(writableMask[offset + i]) << (8 * UInt32(i)) }
        return mask
    }

    static func isInside(_ offset: Int, size: Int) -> Bool {
        offset >= 0 && size > 0 && size <= 4 && offset + size <= Self.size
    }

    // MARK: Type-0 header

    /// Vendor, device, revision, class and subsystem registers.
    public var identity: PCIIdentity {
        get {
            PCIIdentity(vendorID: vendorID, deviceID: deviceID, revisionID: UInt8(read(Self.revisionIDOffset, size: 1)),
                        classCode: classCode, subsystemVendorID: UInt16(read(Self.subsystemVendorIDOffset, size: 2)),
                        subsystemID: UInt16(read(Self.subsystemIDOffset, size: 2)))
        }
        set {
            set(Self.vendorIDOffset, size: 2, value: UInt32(newValue.vendorID))
            set(Self.deviceIDOffset, size: 2, value: UInt32(newValue.deviceID))
            set(Self.revisionIDOffset, size: 1, value: UInt32(newValue.revisionID))
            for i in 0..<3 { set(Self.classCodeOffset + i, size: 1, value: newValue.classCode >> (8 * UInt32(i))) }
            set(Self.subsystemVendorIDOffset, size: 2, value: UInt32(newValue.subsystemVendorID))
            set(Self.subsystemIDOffset, size: 2, value: UInt32(newValue.subsystemID))
        }
    }

    public var vendorID: UInt16 { UInt16(read(Self.vendorIDOffset, size: 2)) }
    public var deviceID: UInt16 { UInt16(read(Self.deviceIDOffset, size: 2)) }
    /// Base class, subclass and programming interface.
    public var classCode: UInt32 { read(Self.revisionIDOffset, size: 4) >> 8 }

    /// The command register as stored (the device side; guests go through ``guestWrite(_:size:value:)``).
    public var command: UInt16 {
        get { UInt16(read(Self.commandOffset, size: 2)) }
        set { set(Self.commandOffset, size: 2, value: UInt32(newValue)) }
    }

    /// The status register as stored.
    public var status: UInt16 {
        get { UInt16(read(Self.statusOffset, size: 2)) }
        set { set(Self.statusOffset, size: 2, value: UInt32(newValue)) }
    }

    /// The header layout (bits 6–0 of the header type); 0 for a type-0 header.
    public var headerLayout: UInt8 {
        get { bytes[Self.headerTypeOffset] & ~Self.multifunctionBit }
        set {
            bytes[Self.headerTypeOffset] = (bytes[Self.headerTypeOffset] & Self.multifunctionBit)
                | (newValue & ~Self.multifunctionBit)
        }
    }

    /// Header type bit 7.
    public var isMultifunction: Bool {
        get { bytes[Self.headerTypeOffset] & Self.multifunctionBit != 0 }
        set {
            bytes[Self.headerTypeOffset] = newValue ? bytes[Self.headerTypeOffset] | Self.multifunctionBit
                : bytes[Self.headerTypeOffset] & ~Self.multifunctionBit
        }
    }

    /// The IRQ firmware routed INTx to; 0xFF for unknown.
    public var interruptLine: UInt8 {
        get { bytes[Self.interruptLineOffset] }
        set { bytes[Self.interruptLineOffset] = newValue }
    }

    /// 0 for none, 1–4 for INTA–INTD.
    public var interruptPin: UInt8 {
        get { bytes[Self.interruptPinOffset] }
        set { bytes[Self.interruptPinOffset] = newValue }
    }

    /// The offset of the first capability.
    public var capabilitiesPointer: UInt8 { bytes[Self.capabilitiesPointerOffset] }

    // MARK: Capabilities

    /// Reserves `length` bytes (the ID and next-pointer bytes included) for a capability with
    /// `id`, dword-aligned after the previous one from 0x40: sets the Capabilities List status
    /// bit and chains it from the capabilities pointer (0x34) or the previous capability's next
    /// pointer. The new capability's bytes are read-only until the caller opens them with
    /// ``setWritable(_:size:mask:)``. Returns its offset, or nil when the 256-byte space is full.
    public mutating func addCapability(id: UInt8, length: Int) -> Int? {
        precondition(length >= 2, "a capability has at least an ID and a next pointer")
        let offset = capabilityEnd
        let end = offset + ((length + 3) & ~3)
        guard end <= Self.legacySize else { return nil }
        if let previous = lastCapability {
            bytes[previous + 1] = UInt8(offset)
        } else {
            bytes[Self.capabilitiesPointerOffset] = UInt8(offset)
            status |= Status.capabilitiesList
        }
        bytes[offset] = id
        bytes[offset + 1] = 0
        lastCapability = offset
        capabilityEnd = end
        return offset
    }

    /// The capability list as a driver walks it from the capabilities pointer: (ID, offset) in
    /// chain order. Stops at a null pointer, a pointer into the header, or a loop.
    public var capabilities: [(id: UInt8, offset: Int)] {
        guard status & Status.capabilitiesList != 0 else { return [] }
        var list: [(id: UInt8, offset: Int)] = []
        var seen = Set<Int>()
        var pointer = Int(bytes[Self.capabilitiesPointerOffset] & 0xFC)
        while pointer >= Self.firstCapabilityOffset, seen.insert(pointer).inserted {
            list.append((bytes[pointer], pointer))
            pointer = Int(bytes[pointer + 1] & 0xFC)
        }
        return list
    }

    /// The offset of the first capability with `id`.
    public func capabilityOffset(id: UInt8) -> Int? {
        capabilities.first { $0.id == id }?.offset
    }
}
