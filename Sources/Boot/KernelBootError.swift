/// Why a kernel (`hyve --kernel`) could not be turned into a bootable guest.
///
/// Each case describes itself in one line, fit to show a user as is.
public enum KernelBootError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is neither a bzImage, an ELF file, nor a file with a multiboot header.
    case unrecognizedKernel
    /// The file has `size` bytes but its headers describe at least `needed`.
    case truncatedKernel(size: Int, needed: UInt64)
    /// The bzImage boot sector does not end in 0xAA55.
    case badBootSectorMagic(UInt16)
    /// The bzImage speaks a boot protocol older than 2.06, the first with a command line size.
    case protocolTooOld(UInt16)
    /// The image is a zImage, whose kernel is loaded below 1 MiB, not a bzImage.
    case notLoadedHigh
    /// The kernel's ELF file or its segments were refused.
    case image(BootError)
    /// The ELF file has neither a PVH entry note nor a multiboot header.
    case noPVHNoteOrMultibootHeader
    /// The PVH entry note's descriptor is not a 4- or 8-byte address.
    case badPVHNote(descriptorSize: UInt32)
    /// The multiboot magic at `offset` is not followed by a matching checksum.
    case badMultibootChecksum(offset: Int)
    /// The multiboot header asks for features Hyve does not provide (flag bits 3–15).
    case unsupportedMultibootFlags(UInt32)
    /// The multiboot kernel is not ELF and its header does not give load addresses (flag 16).
    case multibootNeedsLoadAddresses
    /// The multiboot header's load addresses contradict each other or the header's place in the file.
    case badMultibootAddresses
    /// The kernel command line is `length` bytes long; at most `limit` fit.
    case commandLineTooLong(length: Int, limit: Int)
    /// The initrd's module string is `length` bytes long; at most `limit` fit.
    case moduleCommandLineTooLong(length: Int, limit: Int)
    /// The memory map has `count` entries; the boot structures hold at most `limit`.
    case tooManyMemoryMapEntries(count: Int, limit: Int)
    /// No page-aligned run of guest RAM above the kernel and below `limit` holds `size` bytes.
    case initrdTooLarge(size: UInt64, limit: UInt64)
    /// The kernel would overwrite memory Hyve or the firmware owns.
    case kernelOverlaps(KernelLayout.ReservedArea)
    /// The kernel (with the room it needs to unpack) does not lie in guest RAM.
    case kernelOutsideRAM(Range<UInt64>)
    /// The memory map has no RAM where Hyve puts the boot information and command lines.
    case bootDataOutsideRAM

    /// The problem in one line, without a trailing period.
    public var description: String {
        switch self {
        case .unrecognizedKernel:
            "kernel is not a Linux bzImage, an ELF file or a multiboot kernel"
        case .truncatedKernel(let size, let needed):
            "truncated kernel: the file has \(hex(UInt64(size))) bytes but its header describes \(hex(needed))"
        case .badBootSectorMagic(let value):
            "not a bzImage: boot sector signature is \(hex(UInt64(value))), not 0xaa55"
        case .protocolTooOld(let version):
            "Linux boot protocol \(version >> 8).\(twoDigits(version & 0xFF)) is too old (need 2.06 or later)"
        case .notLoadedHigh:
            "zImage kernels, loaded below 1 MiB, are not supported (need a bzImage)"
        case .image(let error):
            error.description
        case .noPVHNoteOrMultibootHeader:
            "ELF kernel has neither a PVH entry note (Xen, type 18) nor a multiboot header"
        case .badPVHNote(let size):
            "PVH entry note has a \(size)-byte descriptor (need 4 or 8)"
        case .badMultibootChecksum(let offset):
            "multiboot header at offset \(hex(UInt64(offset))) has a bad checksum"
        case .unsupportedMultibootFlags(let flags):
            "multiboot header asks for unsupported features (flags \(hex(UInt64(flags))))"
        case .multibootNeedsLoadAddresses:
            "multiboot kernel is not ELF and its header gives no load addresses (flag 16)"
        case .badMultibootAddresses:
            "multiboot header load addresses are inconsistent"
        case .commandLineTooLong(let length, let limit):
            "kernel command line is \(length) bytes long; at most \(limit) fit"
        case .moduleCommandLineTooLong(let length, let limit):
            "initrd module string is \(length) bytes long; at most \(limit) fit"
        case .tooManyMemoryMapEntries(let count, let limit):
            "memory map has \(count) entries; at most \(limit) fit"
        case .initrdTooLarge(let size, let limit):
            "initrd of \(hex(size)) bytes does not fit in guest RAM above the kernel and below \(hex(limit))"
        case .kernelOverlaps(let area):
            "kernel overlaps \(area)"
        case .kernelOutsideRAM(let range):
            "kernel at \(hex(range.lowerBound))-\(hex(max(range.upperBound, range.lowerBound + 1) - 1)) is not in guest RAM"
        case .bootDataOutsideRAM:
            "guest RAM does not cover \(KernelLayout.ReservedArea.bootData)"
        }
    }
}

private func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}

/// Protocol minor versions are written with two digits (2.06), as the boot protocol documents them.
private func twoDigits(_ value: UInt16) -> String {
    value < 10 ? "0\(value)" : "\(value)"
}
