import KVM

/// Where the XSAVE state components live in an XSAVE image (Intel SDM vol. 1 §13.4): components 0
/// (x87) and 1 (SSE) in the 512-byte legacy region, the 64-byte XSAVE header after it, and each
/// component from 2 up at the offset CPUID leaf 0xD gives it in the standard format, or packed in
/// index order from byte 576 in the compacted format.
public struct XSaveLayout: Sendable, Equatable {
    /// One extended state component (index 2 or higher).
    public struct Component: Sendable, Equatable {
        /// Offset in the standard format (CPUID.(0xD, i).EBX; 0 for supervisor components).
        public var offset: Int
        public var size: Int
        /// Starts on a 64-byte boundary in the compacted format (CPUID.(0xD, i).ECX bit 1).
        public var alignedTo64: Bool
        /// Managed through IA32_XSS rather than XCR0 (CPUID.(0xD, i).ECX bit 0).
        public var supervisor: Bool

        public init(offset: Int, size: Int, alignedTo64: Bool = false, supervisor: Bool = false) {
            self.offset = offset; self.size = size; self.alignedTo64 = alignedTo64; self.supervisor = supervisor
        }
    }

    public static let legacyRegionSize = 512
    public static let headerOffset = 512
    public static let headerSize = 64
    /// Where the first extended component goes in the compacted format.
    public static let extendedRegionOffset = 576
    /// XCOMP_BV bit 63: the image is in the compacted format.
    public static let compactedFormat: UInt64 = 1 << 63

    /// Components 2–62 by index.
    public var components: [Int: Component]

    public init(components: [Int: Component]) {
        self.components = components
    }

    /// The layout CPUID leaf 0xD describes: sub-leaf i (2–62) with a non-zero size is component i.
    public init(cpuid: [CPUIDEntry]) {
        var components: [Int: Component] = [:]
        for entry in cpuid where entry.function == 0xD && (2...62).contains(entry.index) && entry.eax != 0 {
            components[Int(entry.index)] = Component(offset: Int(entry.ebx), size: Int(entry.eax),
                                                     alignedTo64: entry.ecx & 2 != 0, supervisor: entry.ecx & 1 != 0)
        }
        self.init(components: components)
    }

    /// The components this layout knows, as an XCR0/XSS-style mask (x87 and SSE always included).
    public var knownComponents: UInt64 {
        components.keys.reduce(3) { $0 | (1 << UInt64($1)) }
    }

    /// The bytes a standard-format image of the components in `mask` takes.
    public func standardSize(of mask: UInt64) -> Int {
        var size = Self.extendedRegionOffset
        for (index, component) in components where mask & (1 << UInt64(index)) != 0 && !component.supervisor {
            size = max(size, component.offset + component.size)
        }
        return size
    }

    /// The offset of each component of `mask` (2 and up) in a compacted image whose XCOMP_BV is `mask`.
    public func compactedOffsets(of mask: UInt64) -> [Int: Int] {
        var offsets: [Int: Int] = [:]
        var next = Self.extendedRegionOffset
        for index in 2...62 where mask & (1 << UInt64(index)) != 0 {
            guard let component = components[index] else { continue }
            if component.alignedTo64 { next = (next + 63) & ~63 }
            offsets[index] = next
            next += component.size
        }
        return offsets
    }

    /// The bytes a compacted image of the components in `mask` takes.
    public func compactedSize(of mask: UInt64) -> Int {
        let offsets = compactedOffsets(of: mask)
        return offsets.map { $0.value + (components[$0.key]?.size ?? 0) }.max() ?? Self.extendedRegionOffset
    }
}
