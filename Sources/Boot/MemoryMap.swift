/// The guest's E820 map as the kernel loaders ask about it: is a range RAM, where does the initrd go,
/// how much conventional and extended memory is there.
struct MemoryMap {
    /// Entries in the caller's order, as the boot structures pass them on.
    let entries: [E820Entry]
    /// The RAM entries as ascending, disjoint ranges, touching ones merged, so that a kernel or initrd
    /// spanning two adjacent entries counts as being in RAM.
    let ram: [Range<UInt64>]

    /// The most entries any of the boot structures holds: the zero page has room for 128, and the PVH and
    /// multiboot maps are given the same.
    static let maximumEntries = 128

    init(_ entries: [E820Entry]) throws(KernelBootError) {
        guard entries.count <= Self.maximumEntries else {
            throw .tooManyMemoryMapEntries(count: entries.count, limit: Self.maximumEntries)
        }
        self.entries = entries
        var merged: [Range<UInt64>] = []
        let ranges = entries.filter { $0.kind == .ram && $0.length > 0 }.map { $0.address..<$0.end }
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        ram = merged
    }

    /// Whether every byte of `range` is RAM.
    func isRAM(_ range: Range<UInt64>) -> Bool {
        ram.contains { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound }
    }

    /// The highest `alignment`-aligned address at which `size` bytes lie in RAM, at or above `floor`,
    /// wholly below `limit` and outside `avoiding`; nil when there is none.
    func highestPlacement(size: UInt64, alignment: UInt64, floor: UInt64, limit: UInt64,
                          avoiding: Range<UInt64>) -> UInt64? {
        var best: UInt64?
        for range in ram {
            let lower = max(range.lowerBound, floor)
            let upper = min(range.upperBound, limit)
            guard lower <= upper else { continue }
            // The avoided range splits the run in two; each side is a candidate of its own.
            let sides = [lower..<max(lower, min(upper, avoiding.lowerBound)),
                         max(lower, min(upper, avoiding.upperBound))..<upper]
            for side in sides where side.upperBound - side.lowerBound >= size {
                let address = (side.upperBound - size) / alignment * alignment
                if address >= side.lowerBound {
                    best = max(best ?? address, address)
                }
            }
        }
        return best
    }

    /// Kilobytes of RAM from address 0, at most 640: multiboot's `mem_lower`.
    var lowerMemoryKiB: UInt32 {
        guard let first = ram.first, first.lowerBound == 0 else { return 0 }
        return UInt32(min(first.upperBound, Self.conventionalMemoryEnd) / 1024)
    }

    /// Kilobytes of RAM from 1 MiB up to the first hole, counted below 4 GiB: multiboot's `mem_upper`.
    var upperMemoryKiB: UInt32 {
        let start = KernelLayout.highMemoryStart
        guard let run = ram.first(where: { $0.lowerBound <= start && start < $0.upperBound }) else { return 0 }
        return UInt32((min(run.upperBound, KernelLayout.addressLimit32) - start) / 1024)
    }

    /// Where the legacy video and BIOS hole starts, ending conventional memory.
    private static let conventionalMemoryEnd: UInt64 = 0xA_0000
}
