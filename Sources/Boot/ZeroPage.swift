/// The Linux `boot_params` structure, the "zero page" a kernel entered by the 32- or 64-bit boot protocol
/// finds at RSI (arch/x86/include/uapi/asm/bootparam.h, Documentation/arch/x86/zero-page.rst).
///
/// It starts zeroed, as the protocol requires, takes the kernel's own setup header at 0x1F1, and then the
/// fields a boot loader fills in.
struct ZeroPage {
    /// The kernel file's setup header, from 0x1F1 to its end.
    var setupHeader: [UInt8]
    /// `loadflags` as the loader hands it back.
    var loadFlags: UInt8
    /// Where the protected-mode kernel was loaded (`code32_start`).
    var kernelAddress: UInt32
    /// Where the initrd starts (`ramdisk_image`), zero for none.
    var initrdAddress: UInt32
    /// The initrd's size in bytes (`ramdisk_size`).
    var initrdSize: UInt32
    /// Where the NUL-terminated command line is (`cmd_line_ptr`).
    var commandLineAddress: UInt32
    /// Where the ACPI RSDP is (`acpi_rsdp_addr`), zero to let the kernel search for it.
    var rsdpAddress: UInt64
    /// The E820 map (`e820_table`, `e820_entries`), at most 128 entries.
    var memoryMap: [E820Entry]

    static let size = 0x1000

    /// The page's bytes.
    var bytes: [UInt8] {
        var page = [UInt8](repeating: 0, count: Self.size)
        page.store(setupHeader, at: LinuxSetupHeader.startOffset)
        page[Self.typeOfLoaderOffset] = Self.undefinedLoader
        page[Self.loadFlagsOffset] = loadFlags
        page.storeLittleEndian(kernelAddress, at: Self.code32StartOffset)
        page.storeLittleEndian(initrdAddress, at: Self.ramdiskImageOffset)
        page.storeLittleEndian(initrdSize, at: Self.ramdiskSizeOffset)
        page.storeLittleEndian(commandLineAddress, at: Self.commandLinePointerOffset)
        page.storeLittleEndian(rsdpAddress, at: Self.rsdpAddressOffset)
        page[Self.e820EntriesOffset] = UInt8(memoryMap.count)
        for (index, entry) in memoryMap.enumerated() {
            let offset = Self.e820TableOffset + index * Self.e820EntrySize
            page.storeLittleEndian(entry.address, at: offset)
            page.storeLittleEndian(entry.length, at: offset + 8)
            page.storeLittleEndian(entry.kind.rawValue, at: offset + 16)
        }
        return page
    }

    /// `type_of_loader` 0xFF: a boot loader without an assigned id.
    private static let undefinedLoader: UInt8 = 0xFF
    private static let rsdpAddressOffset = 0x070
    private static let e820EntriesOffset = 0x1E8
    private static let typeOfLoaderOffset = 0x210
    private static let loadFlagsOffset = 0x211
    private static let code32StartOffset = 0x214
    private static let ramdiskImageOffset = 0x218
    private static let ramdiskSizeOffset = 0x21C
    private static let commandLinePointerOffset = 0x228
    private static let e820TableOffset = 0x2D0
    /// Packed `boot_e820_entry`: 64-bit address, 64-bit size, 32-bit type.
    private static let e820EntrySize = 20
}
