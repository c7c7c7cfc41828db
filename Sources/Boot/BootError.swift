/// Why a program could not be turned into a bootable guest.
///
/// Each case describes itself in one line, fit to show a user as is.
public enum BootError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The program file has no bytes at all.
    case emptyProgram
    /// A flat program loaded at `loadAddress` would run past the end of the 64-bit address space.
    case programAddressOverflow(loadAddress: UInt64)
    /// The file does not start with `0x7F 'E' 'L' 'F'`.
    case badMagic
    /// The file ends inside the ELF header.
    case truncatedHeader
    /// `EI_CLASS` is neither ELFCLASS32 nor ELFCLASS64.
    case unsupportedClass(UInt8)
    /// `EI_DATA` is not ELFDATA2LSB.
    case unsupportedDataEncoding(UInt8)
    /// `EI_VERSION` or `e_version` is not EV_CURRENT.
    case unsupportedVersion(UInt32)
    /// `e_type` is not ET_EXEC.
    case unsupportedType(UInt16)
    /// `e_machine` is neither EM_386 nor EM_X86_64.
    case unsupportedMachine(UInt16)
    /// The machine is supported but not with this class (x86 needs ELF32, x86-64 needs ELF64).
    case classMachineMismatch(classBits: Int, machine: UInt16)
    /// `e_phentsize` is smaller than a program header of the file's class.
    case badProgramHeaderSize(UInt16)
    /// Program header `index` lies (partly) beyond the end of the file.
    case truncatedProgramHeader(index: Int)
    /// The file bytes of the segment described by program header `index` lie beyond the end of the file.
    case truncatedSegment(index: Int)
    /// The segment of program header `index` has more bytes in the file than in memory.
    case segmentFileSizeExceedsMemorySize(index: Int, fileSize: UInt64, memorySize: UInt64)
    /// The segment of program header `index` ends beyond the address space of its class.
    case segmentAddressOverflow(index: Int)
    /// No PT_LOAD program header describes any memory.
    case noLoadableSegment
    /// A real-mode program must start below 1 MiB, the most real mode can address.
    case realModeEntryTooHigh(UInt64)
    /// Hyve's protected- and long-mode set-up only reaches the first 4 GiB.
    case entryAbove4GiB(UInt64)
    /// A segment would overwrite the GDT and page tables Hyve places at 0x1000–0x7FFF.
    case overlapsBootArea
    /// The entry point is not inside the file-backed bytes of any segment.
    case entryOutsideProgram(UInt64)

    /// The problem in one line, without a trailing period.
    public var description: String {
        switch self {
        case .emptyProgram:
            "program file is empty"
        case .programAddressOverflow(let loadAddress):
            "program loaded at \(hex(loadAddress)) runs past the end of the address space"
        case .badMagic:
            "not an ELF file (bad magic)"
        case .truncatedHeader:
            "truncated ELF file: the ELF header extends past the end of the file"
        case .unsupportedClass(let value):
            "unsupported ELF class \(value) (need 32-bit or 64-bit)"
        case .unsupportedDataEncoding(let value):
            "unsupported ELF data encoding \(value) (need little-endian)"
        case .unsupportedVersion(let value):
            "unsupported ELF version \(value) (need 1)"
        case .unsupportedType(let value):
            "unsupported ELF type \(value) (need a static executable, ET_EXEC)"
        case .unsupportedMachine(let value):
            "unsupported ELF machine \(value) (need x86 or x86-64)"
        case .classMachineMismatch(let classBits, let machine):
            "\(classBits)-bit ELF file for machine \(machine) is not supported (need ELF32 for x86, ELF64 for x86-64)"
        case .badProgramHeaderSize(let value):
            "invalid ELF program header size \(value)"
        case .truncatedProgramHeader(let index):
            "truncated ELF file: program header \(index) extends past the end of the file"
        case .truncatedSegment(let index):
            "truncated ELF file: segment \(index) extends past the end of the file"
        case .segmentFileSizeExceedsMemorySize(let index, let fileSize, let memorySize):
            "ELF segment \(index) has a file size (\(hex(fileSize))) larger than its memory size (\(hex(memorySize)))"
        case .segmentAddressOverflow(let index):
            "ELF segment \(index) runs past the end of the address space"
        case .noLoadableSegment:
            "ELF file has no loadable segment"
        case .realModeEntryTooHigh(let entry):
            "real-mode entry point \(hex(entry)) is not below 1 MiB"
        case .entryAbove4GiB(let entry):
            "entry point \(hex(entry)) is not below 4 GiB, the limit of Hyve's protected- and long-mode set-up"
        case .overlapsBootArea:
            "program overlaps Hyve's boot area at 0x1000-0x7fff"
        case .entryOutsideProgram(let entry):
            "entry point \(hex(entry)) is not inside a loaded segment of the program"
        }
    }
}

private func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}
