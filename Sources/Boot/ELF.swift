/// The part of the ELF format Hyve loads: little-endian x86 (ELF32) and x86-64 (ELF64) static executables.
///
/// Every offset and size comes from an untrusted file, so each is checked against the file length
/// and for overflow before it is used.
enum ELF {
    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]

    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: magic)
    }

    static func load(_ bytes: [UInt8]) throws(BootError) -> ProgramImage {
        guard hasMagic(bytes) else { throw .badMagic }
        guard bytes.count >= identificationSize else { throw .truncatedHeader }
        let layout: Layout
        switch bytes[classOffset] {
        case 1: layout = .elf32
        case 2: layout = .elf64
        case let value: throw .unsupportedClass(value)
        }
        guard bytes.count >= layout.headerSize else { throw .truncatedHeader }
        guard bytes[dataOffset] == littleEndianData else { throw .unsupportedDataEncoding(bytes[dataOffset]) }
        guard bytes[identVersionOffset] == currentVersion else {
            throw .unsupportedVersion(UInt32(bytes[identVersionOffset]))
        }
        let type = bytes.littleEndian(UInt16.self, at: 16)
        let machine = bytes.littleEndian(UInt16.self, at: 18)
        let version = bytes.littleEndian(UInt32.self, at: 20)
        guard machine == machine386 || machine == machineX86_64 else { throw .unsupportedMachine(machine) }
        guard machine == layout.machine else {
            throw .classMachineMismatch(classBits: layout.bits, machine: machine)
        }
        guard version == UInt32(currentVersion) else { throw .unsupportedVersion(version) }
        guard type == executableType else { throw .unsupportedType(type) }

        let header = layout.fileHeader(bytes)
        guard header.programHeaderSize >= layout.programHeaderSize else {
            throw .badProgramHeaderSize(header.programHeaderSize)
        }

        // The whole table is checked before any segment so that a truncated file is reported as such,
        // not as a segment whose data happens to lie in the missing part.
        var programHeaderOffsets: [Int] = []
        for index in 0..<Int(header.programHeaderCount) {
            let offset = header.programHeaderOffset
                .addingReportingOverflow(UInt64(index) * UInt64(header.programHeaderSize))
            guard !offset.overflow, offset.partialValue <= UInt64(bytes.count),
                  UInt64(bytes.count) - offset.partialValue >= UInt64(layout.programHeaderSize) else {
                throw .truncatedProgramHeader(index: index)
            }
            programHeaderOffsets.append(Int(offset.partialValue))
        }

        var segments: [LoadSegment] = []
        var entry = header.entry
        var entryTranslated = false
        for (index, offset) in programHeaderOffsets.enumerated() {
            let program = layout.programHeader(bytes, at: offset)
            guard program.type == loadType, program.memorySize > 0 else { continue }
            segments.append(try segment(program, index: index, in: bytes, layout: layout))
            // e_entry is a virtual address; kernels linked high (paddr != vaddr) expect to be entered at
            // its physical counterpart, as GRUB's loaders do.
            if !entryTranslated, header.entry >= program.virtualAddress,
               header.entry - program.virtualAddress < program.memorySize {
                entry = header.entry - program.virtualAddress + program.physicalAddress
                entryTranslated = true
            }
        }
        guard !segments.isEmpty else { throw .noLoadableSegment }
        return ProgramImage(segments: segments, entry: entry, format: layout.format)
    }

    private static func segment(_ program: ProgramHeader, index: Int, in bytes: [UInt8],
                                layout: Layout) throws(BootError) -> LoadSegment {
        guard program.fileSize <= program.memorySize else {
            throw .segmentFileSizeExceedsMemorySize(index: index, fileSize: program.fileSize,
                                                    memorySize: program.memorySize)
        }
        // A bss-only segment reads nothing, so where its offset points does not matter.
        let fileEnd = program.offset.addingReportingOverflow(program.fileSize)
        guard program.fileSize == 0 || (!fileEnd.overflow && fileEnd.partialValue <= UInt64(bytes.count)) else {
            throw .truncatedSegment(index: index)
        }
        let memoryEnd = program.physicalAddress.addingReportingOverflow(program.memorySize)
        guard !memoryEnd.overflow, memoryEnd.partialValue <= layout.addressLimit else {
            throw .segmentAddressOverflow(index: index)
        }
        let fileBytes = program.fileSize == 0 ? [] : Array(bytes[Int(program.offset)..<Int(fileEnd.partialValue)])
        return LoadSegment(address: program.physicalAddress, bytes: fileBytes,
                           zeroFill: program.memorySize - program.fileSize)
    }

    private static let identificationSize = 16
    private static let classOffset = 4
    private static let dataOffset = 5
    private static let identVersionOffset = 6
    private static let littleEndianData: UInt8 = 1
    private static let currentVersion: UInt8 = 1
    private static let executableType: UInt16 = 2
    private static let machine386: UInt16 = 3
    private static let machineX86_64: UInt16 = 62
    private static let loadType: UInt32 = 1
}

extension ELF {
    /// The fields of the ELF header the loader uses, widened to 64 bits.
    private struct FileHeader {
        var entry: UInt64
        var programHeaderOffset: UInt64
        var programHeaderSize: UInt16
        var programHeaderCount: UInt16
    }

    /// The fields of a program header the loader uses, widened to 64 bits.
    private struct ProgramHeader {
        var type: UInt32
        var offset: UInt64
        var virtualAddress: UInt64
        var physicalAddress: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
    }

    /// Where ELF32 and ELF64 place their fields, and how wide the address-sized ones are.
    private enum Layout {
        case elf32, elf64

        var bits: Int { self == .elf32 ? 32 : 64 }
        var format: ProgramImage.Format { self == .elf32 ? .elf32 : .elf64 }
        var machine: UInt16 { self == .elf32 ? machine386 : machineX86_64 }
        var headerSize: Int { self == .elf32 ? 52 : 64 }
        var programHeaderSize: Int { self == .elf32 ? 32 : 56 }
        /// The highest address a segment may end at (exclusive end).
        var addressLimit: UInt64 { self == .elf32 ? 1 << 32 : .max }

        private func word(_ bytes: [UInt8], at offset: Int) -> UInt64 {
            self == .elf32 ? UInt64(bytes.littleEndian(UInt32.self, at: offset))
                : bytes.littleEndian(UInt64.self, at: offset)
        }

        func fileHeader(_ bytes: [UInt8]) -> FileHeader {
            switch self {
            case .elf32:
                FileHeader(entry: word(bytes, at: 24), programHeaderOffset: word(bytes, at: 28),
                           programHeaderSize: bytes.littleEndian(UInt16.self, at: 42),
                           programHeaderCount: bytes.littleEndian(UInt16.self, at: 44))
            case .elf64:
                FileHeader(entry: word(bytes, at: 24), programHeaderOffset: word(bytes, at: 32),
                           programHeaderSize: bytes.littleEndian(UInt16.self, at: 54),
                           programHeaderCount: bytes.littleEndian(UInt16.self, at: 56))
            }
        }

        func programHeader(_ bytes: [UInt8], at offset: Int) -> ProgramHeader {
            let type = bytes.littleEndian(UInt32.self, at: offset)
            switch self {
            case .elf32:
                return ProgramHeader(type: type, offset: word(bytes, at: offset + 4),
                                     virtualAddress: word(bytes, at: offset + 8),
                                     physicalAddress: word(bytes, at: offset + 12),
                                     fileSize: word(bytes, at: offset + 16),
                                     memorySize: word(bytes, at: offset + 20))
            case .elf64:
                return ProgramHeader(type: type, offset: word(bytes, at: offset + 8),
                                     virtualAddress: word(bytes, at: offset + 16),
                                     physicalAddress: word(bytes, at: offset + 24),
                                     fileSize: word(bytes, at: offset + 32),
                                     memorySize: word(bytes, at: offset + 40))
            }
        }
    }
}
