/// A program ready to be placed in guest memory: its segments and where execution starts.
public struct ProgramImage: Sendable, Equatable {
    /// The kind of file the image came from.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// Raw bytes loaded at a chosen address and entered at their first byte.
        case flat
        /// An x86 ELF32 executable.
        case elf32
        /// An x86-64 ELF64 executable.
        case elf64
    }

    /// The pieces of the program, in file order.
    public var segments: [LoadSegment]
    /// Guest physical address of the first instruction.
    public var entry: UInt64
    /// The kind of file the image came from.
    public var format: Format

    /// Creates an image from already laid-out segments.
    public init(segments: [LoadSegment], entry: UInt64, format: Format) {
        self.segments = segments
        self.entry = entry
        self.format = format
    }

    /// An image of raw bytes placed at `loadAddress` and entered at their first byte.
    public static func flat(_ bytes: [UInt8], loadAddress: UInt64) throws(BootError) -> ProgramImage {
        guard !bytes.isEmpty else { throw .emptyProgram }
        guard UInt64.max - loadAddress >= UInt64(bytes.count) else {
            throw .programAddressOverflow(loadAddress: loadAddress)
        }
        return ProgramImage(segments: [LoadSegment(address: loadAddress, bytes: bytes)], entry: loadAddress,
                            format: .flat)
    }

    /// An image of the PT_LOAD segments of an x86 or x86-64 ELF executable, each placed at its physical
    /// address.
    public static func elf(_ bytes: [UInt8]) throws(BootError) -> ProgramImage {
        try ELF.load(bytes)
    }

    /// An ELF image if `bytes` start with the ELF magic, otherwise a flat image at `loadAddress`.
    public static func parse(_ bytes: [UInt8], loadAddress: UInt64) throws(BootError) -> ProgramImage {
        ELF.hasMagic(bytes) ? try elf(bytes) : try flat(bytes, loadAddress: loadAddress)
    }

    /// One past the highest guest physical address any segment occupies, zero fill included, so that the
    /// caller can check the program fits in guest memory.
    public var highestAddress: UInt64 {
        segments.map(\.end).max() ?? 0
    }
}
