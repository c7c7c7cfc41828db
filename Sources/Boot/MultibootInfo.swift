/// The multiboot information structure a kernel finds at EBX, with the module list, memory map and loader
/// name it points to, all laid out in the one page at ``KernelLayout/bootInformationAddress``
/// (Multiboot Specification 0.6.96, section 3.3).
struct MultibootInfo {
    /// Kilobytes of RAM from 0 (`mem_lower`) and from 1 MiB (`mem_upper`).
    var lowerMemoryKiB: UInt32
    var upperMemoryKiB: UInt32
    /// Where the NUL-terminated kernel command line is.
    var commandLineAddress: UInt32
    /// The initrd as the only module: its start, its end (exclusive) and its string's address (zero for none).
    var module: (start: UInt32, end: UInt32, string: UInt32)?
    /// The E820 map.
    var memoryMap: [E820Entry]

    /// Offsets within the page: the structure, then the module list, the memory map and the loader name.
    static let moduleListOffset = 0x80
    static let memoryMapOffset = 0x100
    static let loaderNameOffset = 0xF00

    /// The page's bytes.
    var bytes: [UInt8] {
        let base = UInt32(KernelLayout.bootInformationAddress)
        var page = [UInt8](repeating: 0, count: KernelLayout.bootInformationSize)
        var flags = Self.memoryFlag | Self.commandLineFlag | Self.memoryMapFlag | Self.loaderNameFlag
        page.storeLittleEndian(lowerMemoryKiB, at: 4)
        page.storeLittleEndian(upperMemoryKiB, at: 8)
        page.storeLittleEndian(commandLineAddress, at: 16)
        if let module {
            flags |= Self.modulesFlag
            page.storeLittleEndian(UInt32(1), at: 20)
            page.storeLittleEndian(base + UInt32(Self.moduleListOffset), at: 24)
            page.storeLittleEndian(module.start, at: Self.moduleListOffset)
            page.storeLittleEndian(module.end, at: Self.moduleListOffset + 4)
            page.storeLittleEndian(module.string, at: Self.moduleListOffset + 8)
        }
        page.storeLittleEndian(UInt32(memoryMap.count * Self.memoryMapEntrySize), at: 44)
        page.storeLittleEndian(base + UInt32(Self.memoryMapOffset), at: 48)
        for (index, entry) in memoryMap.enumerated() {
            let offset = Self.memoryMapOffset + index * Self.memoryMapEntrySize
            // Each entry starts with the size of the rest of it, which is where a reader skips by.
            page.storeLittleEndian(UInt32(Self.memoryMapEntrySize - 4), at: offset)
            page.storeLittleEndian(entry.address, at: offset + 4)
            page.storeLittleEndian(entry.length, at: offset + 12)
            page.storeLittleEndian(entry.kind.rawValue, at: offset + 20)
        }
        page.storeLittleEndian(base + UInt32(Self.loaderNameOffset), at: 64)
        page.store(Array(Self.loaderName.utf8) + [0], at: Self.loaderNameOffset)
        page.storeLittleEndian(flags, at: 0)
        return page
    }

    /// The value a multiboot kernel expects in EAX.
    static let bootloaderMagic: UInt64 = 0x2BAD_B002
    static let loaderName = "Hyve"

    private static let memoryFlag: UInt32 = 1 << 0
    private static let commandLineFlag: UInt32 = 1 << 2
    private static let modulesFlag: UInt32 = 1 << 3
    private static let memoryMapFlag: UInt32 = 1 << 6
    private static let loaderNameFlag: UInt32 = 1 << 9
    private static let memoryMapEntrySize = 24
}
