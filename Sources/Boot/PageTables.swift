/// The page tables Hyve gives a long-mode program: the first 4 GiB identity-mapped with 2 MiB pages.
///
/// Identity mapping keeps the program's physical load addresses valid as virtual ones, and 4 GiB covers
/// the memory-mapped devices below 4 GiB (local APIC, I/O APIC, PCI holes) a program may need to reach.
public enum PageTables {
    /// Guest physical address of the PML4, the value loaded into CR3.
    public static let pml4Address: UInt64 = 0x2000
    /// Guest physical address of the page-directory-pointer table.
    public static let pdptAddress: UInt64 = 0x3000
    /// Guest physical address of the first of four consecutive page directories.
    public static let pageDirectoryAddress: UInt64 = 0x4000
    /// Bytes of address space mapped, from address 0.
    public static let mappedSize: UInt64 = 4 << 30
    /// Bytes mapped by each page-directory entry.
    public static let pageSize: UInt64 = 2 << 20

    /// The writes that place the PML4, the PDPT and the page directories.
    public static var memoryWrites: [MemoryWrite] {
        let directoryCount = mappedSize / (pageSize * entriesPerTable)
        let pml4 = table([pdptAddress | presentWritable])
        let pdpt = table((0..<directoryCount).map { pageDirectoryAddress + $0 * tableSize | presentWritable })
        var directories: [UInt8] = []
        for page in 0..<(mappedSize / pageSize) {
            directories.appendLittleEndian(page * pageSize | presentWritable | largePage)
        }
        return [
            MemoryWrite(address: pml4Address, bytes: pml4),
            MemoryWrite(address: pdptAddress, bytes: pdpt),
            MemoryWrite(address: pageDirectoryAddress, bytes: directories),
        ]
    }

    private static let entriesPerTable: UInt64 = 512
    private static let tableSize: UInt64 = 4096
    private static let presentWritable: UInt64 = 0x3
    /// PS: the page-directory entry maps a 2 MiB page instead of pointing to a page table.
    private static let largePage: UInt64 = 0x80

    /// A full 4 KiB table whose first entries are `entries` and the rest not present.
    private static func table(_ entries: [UInt64]) -> [UInt8] {
        var bytes: [UInt8] = []
        for entry in entries {
            bytes.appendLittleEndian(entry)
        }
        bytes += [UInt8](repeating: 0, count: Int(tableSize) - bytes.count)
        return bytes
    }
}
