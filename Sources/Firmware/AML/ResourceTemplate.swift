/// One resource data descriptor (ACPI 6.5 §6.4), as `_CRS`/`_PRS` buffers hold them.
public struct ResourceDescriptor: Sendable, Equatable {
    /// The encoded descriptor, tag included.
    public let bytes: [UInt8]

    /// Wraps an already encoded descriptor.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// How an interrupt signals: on an edge or while its level is asserted.
    public enum Trigger: Sendable { case edge, level }
    /// Which level or edge asserts an interrupt.
    public enum Polarity: Sendable { case activeHigh, activeLow }

    /// How a memory range may be cached (the MEM field of the type-specific flags).
    public enum Cacheability: UInt8, Sendable {
        /// NonCacheable, Cacheable, WriteCombining, Prefetchable.
        case nonCacheable = 0, cacheable = 1, writeCombining = 2, prefetchable = 3
    }

    // Small item tags (§6.4.2), length in the low three bits.
    private static let irqTag: UInt8 = 0x22
    private static let irqWithFlagsTag: UInt8 = 0x23
    private static let ioTag: UInt8 = 0x47
    private static let fixedIOTag: UInt8 = 0x4B
    static let endTag: UInt8 = 0x79
    // Large item tags (§6.4.3).
    private static let memory32FixedTag: UInt8 = 0x86
    private static let dwordAddressTag: UInt8 = 0x87
    private static let wordAddressTag: UInt8 = 0x88
    private static let extendedInterruptTag: UInt8 = 0x89
    private static let qwordAddressTag: UInt8 = 0x8A

    /// Address space resource types.
    private static let memoryRange: UInt8 = 0
    private static let ioRange: UInt8 = 1
    private static let busNumberRange: UInt8 = 2
    /// General flags of a bridge window: producer, positive decode, fixed minimum and maximum.
    private static let producerFixedWindow: UInt8 = 0x0C
    /// IO type-specific flags: ISA and non-ISA ranges (EntireRange), TypeStatic.
    private static let entireRange: UInt8 = 0x03

    /// `IRQNoFlags () {irqs}`: ISA IRQs, edge-triggered active-high, exclusive.
    public static func irqNoFlags(_ irqs: [UInt8]) -> ResourceDescriptor {
        ResourceDescriptor(bytes: [irqTag] + AML.littleEndian(UInt64(irqMask(irqs)), bytes: 2))
    }

    /// `IRQ (trigger, polarity, shared) {irqs}`: the three-byte form with its information byte.
    public static func irq(_ irqs: [UInt8], trigger: Trigger, polarity: Polarity, shared: Bool,
                           wakeCapable: Bool = false) -> ResourceDescriptor {
        let flags = (trigger == .edge ? 0x01 : 0) | (polarity == .activeLow ? 0x08 : 0) | (shared ? 0x10 : 0) | (wakeCapable ? 0x20 : 0)
        return ResourceDescriptor(bytes: [irqWithFlagsTag] + AML.littleEndian(UInt64(irqMask(irqs)), bytes: 2) + [UInt8(flags)])
    }

    /// `Interrupt (consumer/producer, trigger, polarity, shared) {gsis}`: the extended form
    /// that reaches GSIs above 15.
    public static func interrupt(_ gsis: [UInt32], consumer: Bool = true, trigger: Trigger, polarity: Polarity,
                                 shared: Bool, wakeCapable: Bool = false) -> ResourceDescriptor {
        precondition((1...255).contains(gsis.count), "an Interrupt descriptor lists 1–255 interrupts")
        let flags = (consumer ? 0x01 : 0) | (trigger == .edge ? 0x02 : 0) | (polarity == .activeLow ? 0x04 : 0)
            | (shared ? 0x08 : 0) | (wakeCapable ? 0x10 : 0)
        let body = [UInt8(flags), UInt8(gsis.count)] + gsis.flatMap { AML.littleEndian(UInt64($0), bytes: 4) }
        return large(extendedInterruptTag, body)
    }

    /// `IO (Decode16, min, max, alignment, length)`; `min…max` is where the range may start.
    public static func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8) -> ResourceDescriptor {
        let decode16: UInt8 = 0x01
        return ResourceDescriptor(bytes: [ioTag, decode16] + AML.littleEndian(UInt64(minimum), bytes: 2)
            + AML.littleEndian(UInt64(maximum), bytes: 2) + [alignment, length])
    }

    /// A fixed 16-bit-decoded I/O range, as bhyve writes its fixed ports: `IO (Decode16, base,
    /// base, 1, length)`.
    public static func io(_ base: UInt16, length: UInt8) -> ResourceDescriptor {
        io(minimum: base, maximum: base, alignment: 1, length: length)
    }

    /// `FixedIO (base, length)`: a 10-bit-decoded ISA range.
    public static func fixedIO(_ base: UInt16, length: UInt8) -> ResourceDescriptor {
        precondition(base <= 0x3FF, "FixedIO decodes 10 address bits")
        return ResourceDescriptor(bytes: [fixedIOTag] + AML.littleEndian(UInt64(base), bytes: 2) + [length])
    }

    /// `Memory32Fixed (ReadWrite/ReadOnly, base, length)`.
    public static func memory32Fixed(_ base: UInt32, length: UInt32, writable: Bool = true) -> ResourceDescriptor {
        large(memory32FixedTag, [writable ? 1 : 0] + AML.littleEndian(UInt64(base), bytes: 4) + AML.littleEndian(UInt64(length), bytes: 4))
    }

    /// `WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, …)`: a root bridge's buses.
    public static func wordBusNumber(_ buses: ClosedRange<UInt16>) -> ResourceDescriptor {
        address(wordAddressTag, size: 2, type: busNumberRange, typeFlags: 0,
                minimum: UInt64(buses.lowerBound), maximum: UInt64(buses.upperBound))
    }

    /// `WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, …)`: an I/O window
    /// a bridge forwards.
    public static func wordIO(_ ports: ClosedRange<UInt16>) -> ResourceDescriptor {
        address(wordAddressTag, size: 2, type: ioRange, typeFlags: entireRange,
                minimum: UInt64(ports.lowerBound), maximum: UInt64(ports.upperBound))
    }

    /// `DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, …)`:
    /// a memory window a bridge forwards below 4 GiB.
    public static func dwordMemory(_ range: ClosedRange<UInt32>, cacheability: Cacheability = .nonCacheable,
                                   writable: Bool = true) -> ResourceDescriptor {
        address(dwordAddressTag, size: 4, type: memoryRange, typeFlags: memoryFlags(cacheability, writable),
                minimum: UInt64(range.lowerBound), maximum: UInt64(range.upperBound))
    }

    /// `QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, …)`:
    /// a 64-bit memory window a bridge forwards.
    public static func qwordMemory(_ range: ClosedRange<UInt64>, cacheability: Cacheability = .nonCacheable,
                                   writable: Bool = true) -> ResourceDescriptor {
        address(qwordAddressTag, size: 8, type: memoryRange, typeFlags: memoryFlags(cacheability, writable),
                minimum: range.lowerBound, maximum: range.upperBound)
    }

    private static func irqMask(_ irqs: [UInt8]) -> UInt16 {
        irqs.reduce(0) { mask, irq in
            precondition(irq < 16, "IRQ descriptors hold ISA IRQs 0–15")
            return mask | 1 << irq
        }
    }

    private static func memoryFlags(_ cacheability: Cacheability, _ writable: Bool) -> UInt8 {
        (writable ? 0x01 : 0) | cacheability.rawValue << 1
    }

    /// A Word/DWord/QWord Address Space Descriptor (§6.4.3.5) for a fixed window: granularity
    /// and translation 0, length `maximum - minimum + 1`.
    private static func address(_ tag: UInt8, size: Int, type: UInt8, typeFlags: UInt8,
                                minimum: UInt64, maximum: UInt64) -> ResourceDescriptor {
        precondition(minimum <= maximum && (maximum - minimum) < UInt64.max, "empty or unbounded window")
        let fields = [0, minimum, maximum, 0, maximum - minimum + 1]
        return large(tag, [type, producerFixedWindow, typeFlags] + fields.flatMap { AML.littleEndian($0, bytes: size) })
    }

    private static func large(_ tag: UInt8, _ body: [UInt8]) -> ResourceDescriptor {
        ResourceDescriptor(bytes: [tag] + AML.littleEndian(UInt64(body.count), bytes: 2) + body)
    }
}

extension AML {
    /// `ResourceTemplate () { descriptors }`: a Buffer of the descriptors and an End Tag whose
    /// checksum byte is 0 ("treat as if the checksum matched"), as iasl emits.
    public static func resourceTemplate(_ descriptors: [ResourceDescriptor]) -> AML {
        buffer(descriptors.flatMap(\.bytes) + [ResourceDescriptor.endTag, 0])
    }
}
