/// The PVH `hvm_start_info` structure (version 1) a kernel finds at EBX, with the module list and memory
/// map it points to, all laid out in the one page at ``KernelLayout/bootInformationAddress``
/// (xen/include/public/arch-x86/hvm/start_info.h).
///
/// An address of zero means "not present", as the ABI defines.
struct StartInfo {
    /// The initrd as the only module: its address and size.
    var module: (address: UInt64, size: UInt64)?
    /// Where the module's string is, zero for none.
    var moduleCommandLineAddress: UInt64
    /// Where the NUL-terminated kernel command line is.
    var commandLineAddress: UInt64
    /// Where the ACPI RSDP is, zero to let the kernel search for it.
    var rsdpAddress: UInt64
    /// The E820 map, passed as the version 1 memory map (same types, same order).
    var memoryMap: [E820Entry]

    /// Offsets within the page: the structure, then the module list, then the memory map.
    static let moduleListOffset = 0x40
    static let memoryMapOffset = 0x80

    /// The page's bytes.
    var bytes: [UInt8] {
        let base = KernelLayout.bootInformationAddress
        var page = [UInt8](repeating: 0, count: KernelLayout.bootInformationSize)
        page.storeLittleEndian(Self.magic, at: 0x00)
        page.storeLittleEndian(Self.version, at: 0x04)
        page.storeLittleEndian(UInt32(module == nil ? 0 : 1), at: 0x0C)
        page.storeLittleEndian(module == nil ? 0 : base + UInt64(Self.moduleListOffset), at: 0x10)
        page.storeLittleEndian(commandLineAddress, at: 0x18)
        page.storeLittleEndian(rsdpAddress, at: 0x20)
        page.storeLittleEndian(base + UInt64(Self.memoryMapOffset), at: 0x28)
        page.storeLittleEndian(UInt32(memoryMap.count), at: 0x30)
        if let module {
            page.storeLittleEndian(module.address, at: Self.moduleListOffset)
            page.storeLittleEndian(module.size, at: Self.moduleListOffset + 8)
            page.storeLittleEndian(moduleCommandLineAddress, at: Self.moduleListOffset + 16)
        }
        for (index, entry) in memoryMap.enumerated() {
            let offset = Self.memoryMapOffset + index * Self.memoryMapEntrySize
            page.storeLittleEndian(entry.address, at: offset)
            page.storeLittleEndian(entry.length, at: offset + 8)
            page.storeLittleEndian(entry.kind.rawValue, at: offset + 16)
        }
        return page
    }

    /// "xEn3" with the top bit of the "E" set.
    static let magic: UInt32 = 0x336E_C578
    /// Version 1 adds the memory map.
    private static let version: UInt32 = 1
    /// `hvm_memmap_table_entry`: 64-bit address, 64-bit size, 32-bit type, 32 reserved bits.
    private static let memoryMapEntrySize = 24
}
