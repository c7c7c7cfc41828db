// Builds small ELF executables in memory so the parser can be tested on exact, hand-controlled bytes.

/// One program header and the file bytes it describes.
struct TestSegment {
    var type: UInt32 = 1
    var physicalAddress: UInt64
    /// Defaults to the physical address.
    var virtualAddress: UInt64?
    var data: [UInt8]
    /// Defaults to the data size.
    var memorySize: UInt64?
}

/// An ELF file laid out as: ELF header, program header table, then each segment's data in order.
struct ELFBuilder {
    var is64: Bool
    var machine: UInt16
    var type: UInt16 = 2
    var entry: UInt64
    var segments: [TestSegment]

    init(is64: Bool, machine: UInt16? = nil, entry: UInt64, segments: [TestSegment]) {
        self.is64 = is64
        self.machine = machine ?? (is64 ? 62 : 3)
        self.entry = entry
        self.segments = segments
    }

    var headerSize: Int { is64 ? 64 : 52 }
    var programHeaderSize: Int { is64 ? 56 : 32 }

    func programHeaderOffset(_ index: Int) -> Int {
        headerSize + index * programHeaderSize
    }

    func build() -> [UInt8] {
        var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, is64 ? 2 : 1, 1, 1]
        bytes += [UInt8](repeating: 0, count: 9)
        bytes.appendLittleEndian(type)
        bytes.appendLittleEndian(machine)
        bytes.appendLittleEndian(UInt32(1))
        bytes.appendWord(entry, is64: is64)
        bytes.appendWord(UInt64(headerSize), is64: is64)
        bytes.appendWord(0, is64: is64)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt16(headerSize))
        bytes.appendLittleEndian(UInt16(programHeaderSize))
        bytes.appendLittleEndian(UInt16(segments.count))
        bytes.appendLittleEndian(UInt16(is64 ? 64 : 40))
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt16(0))
        precondition(bytes.count == headerSize)

        var dataOffset = UInt64(programHeaderOffset(segments.count))
        for segment in segments {
            let fileSize = UInt64(segment.data.count)
            let memorySize = segment.memorySize ?? fileSize
            let virtualAddress = segment.virtualAddress ?? segment.physicalAddress
            if is64 {
                bytes.appendLittleEndian(segment.type)
                bytes.appendLittleEndian(UInt32(7))
                for field in [dataOffset, virtualAddress, segment.physicalAddress, fileSize, memorySize, 0x1000] {
                    bytes.appendLittleEndian(field)
                }
            } else {
                bytes.appendLittleEndian(segment.type)
                for field in [dataOffset, virtualAddress, segment.physicalAddress, fileSize, memorySize] {
                    bytes.appendLittleEndian(UInt32(truncatingIfNeeded: field))
                }
                bytes.appendLittleEndian(UInt32(7))
                bytes.appendLittleEndian(UInt32(0x1000))
            }
            dataOffset += fileSize
        }
        for segment in segments {
            bytes += segment.data
        }
        return bytes
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        for index in 0..<MemoryLayout<T>.size {
            append(UInt8(truncatingIfNeeded: value >> (8 * index)))
        }
    }

    mutating func appendWord(_ value: UInt64, is64: Bool) {
        if is64 {
            appendLittleEndian(value)
        } else {
            appendLittleEndian(UInt32(truncatingIfNeeded: value))
        }
    }

    mutating func patch<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for index in 0..<MemoryLayout<T>.size {
            self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }

    func littleEndianUInt64(at offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(self[offset + $1]) << (8 * $1) }
    }
}
