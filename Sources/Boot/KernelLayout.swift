/// Where Hyve puts what a kernel is handed at entry, and the guest memory no kernel may load into.
///
/// The boot data sits between Hyve's boot area (GDT and page tables, 0x1000–0x7FFF) and the legacy
/// video hole at 0xA0000, so a kernel loaded at or above 1 MiB, as all three protocols do, never meets
/// it, and every protocol's 32-bit address fields reach it:
/// - ``bootInformationAddress``: one 4 KiB page holding the zero page, the PVH start_info with its module
///   list and memory map, or the multiboot information with its module list, memory map and loader name;
/// - ``commandLineAddress``: the kernel command line, NUL-terminated;
/// - ``moduleCommandLineAddress``: the initrd's module string for PVH and multiboot kernels.
public enum KernelLayout {
    /// Guest physical address of the zero page, start_info or multiboot information.
    public static let bootInformationAddress: UInt64 = 0x1_0000
    /// Bytes written at ``bootInformationAddress``: the zero page is one page, and the other protocols'
    /// structures are laid out within the same page.
    public static let bootInformationSize = 0x1000
    /// Guest physical address of the kernel command line.
    public static let commandLineAddress: UInt64 = 0x2_0000
    /// Guest physical address of the initrd's module string.
    public static let moduleCommandLineAddress: UInt64 = 0x2_8000
    /// Room for each of the two strings, terminating NUL included.
    public static let commandLineCapacity = 0x8000
    /// Everything Hyve writes for the kernel besides its GDT and page tables.
    public static let bootData: Range<UInt64> = bootInformationAddress..<moduleCommandLineAddress + 0x8000
    /// The BIOS area holding the MP table, SMBIOS and ACPI tables.
    public static let firmwareArea: Range<UInt64> = 0xF_0000..<0x10_0000
    /// Where a bzImage kernel is loaded unless it asks for a higher address, and the lowest address an
    /// initrd is placed at, so that neither can meet the areas above.
    public static let highMemoryStart: UInt64 = 0x10_0000
    /// The end of what 32-bit address fields and Hyve's identity map reach; initrds go below it.
    public static let addressLimit32: UInt64 = 1 << 32
    /// Initrds start on a page boundary, as multiboot's page-alignment flag and Linux expect.
    public static let initrdAlignment: UInt64 = 0x1000

    /// A region of guest memory a kernel may not load into, because Hyve or the firmware owns it.
    public enum ReservedArea: Sendable, Equatable, CaseIterable, CustomStringConvertible {
        /// Hyve's GDT and page tables (``ProgramBoot/bootArea``).
        case bootArea
        /// The boot information and command lines (``KernelLayout/bootData``).
        case bootData
        /// The firmware tables (``KernelLayout/firmwareArea``).
        case firmware

        /// The guest physical addresses the area covers.
        public var range: Range<UInt64> {
            switch self {
            case .bootArea: ProgramBoot.bootArea
            case .bootData: KernelLayout.bootData
            case .firmware: KernelLayout.firmwareArea
            }
        }

        /// The area's name and addresses, as an error message shows them.
        public var description: String {
            let span = "0x\(String(range.lowerBound, radix: 16))-0x\(String(range.upperBound - 1, radix: 16))"
            switch self {
            case .bootArea: return "Hyve's boot area at \(span)"
            case .bootData: return "Hyve's kernel boot data at \(span)"
            case .firmware: return "the firmware area at \(span)"
            }
        }
    }
}
