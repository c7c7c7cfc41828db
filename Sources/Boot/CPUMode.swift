/// The processor mode a program is started in.
public enum CPUMode: String, Sendable, CaseIterable {
    /// 16-bit real mode, paging and protection off.
    case real
    /// 32-bit protected mode with flat segments, paging off.
    case protected
    /// 64-bit long mode with the first 4 GiB identity-mapped.
    case long

    /// Where a flat program is loaded when no address is given: just above Hyve's boot area in real mode
    /// (reachable with 16-bit offsets), at 1 MiB otherwise, as multiboot kernels expect.
    public var defaultLoadAddress: UInt64 {
        switch self {
        case .real: 0x8000
        case .protected, .long: 0x10_0000
        }
    }
}

extension ProgramImage.Format {
    /// The mode a program of this format is started in when none is asked for: ELF images say their own
    /// width; flat images are assumed to be 64-bit code.
    public var defaultMode: CPUMode {
        switch self {
        case .elf32: .protected
        case .elf64, .flat: .long
        }
    }
}
