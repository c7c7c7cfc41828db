/// Where a kernel and its initrd land in guest memory, checked against Hyve's and the firmware's areas
/// and against guest RAM.
struct KernelPlacement {
    /// The kernel as Hyve starts any program: its segments, GDT, page tables in long mode, entry state.
    let program: ProgramBoot
    /// The memory the kernel occupies, including any room it says it needs to unpack itself.
    let kernelRange: Range<UInt64>
    /// Where the initrd starts, when there is one.
    let initrdAddress: UInt64?

    /// Checks `image` and places `initrd` as high as possible below `initrdLimit`.
    ///
    /// - Parameter footprint: The memory the kernel claims beyond its file bytes (a bzImage unpacks
    ///   itself into up to `init_size` bytes); nil when the segments are all it occupies.
    init(image: ProgramImage, mode: CPUMode, footprint: Range<UInt64>?, initrd: Initrd?, initrdLimit: UInt64,
         memoryMap: MemoryMap) throws(KernelBootError) {
        guard memoryMap.isRAM(KernelLayout.bootData) else { throw .bootDataOutsideRAM }
        var claimed = image.segments.filter { $0.size > 0 }.map { $0.address..<$0.end }
        if let footprint {
            claimed.append(footprint)
        }
        for range in claimed {
            if let area = KernelLayout.ReservedArea.allCases.first(where: { $0.range.overlaps(range) }) {
                throw .kernelOverlaps(area)
            }
            guard memoryMap.isRAM(range) else { throw .kernelOutsideRAM(range) }
        }
        do {
            program = try ProgramBoot(image: image, mode: mode)
        } catch {
            throw .image(error)
        }
        let lowest = claimed.map(\.lowerBound).min() ?? 0
        let highest = claimed.map(\.upperBound).max() ?? 0
        kernelRange = lowest..<highest

        guard let initrd else {
            initrdAddress = nil
            return
        }
        let size = UInt64(initrd.bytes.count)
        guard let address = memoryMap.highestPlacement(size: size, alignment: KernelLayout.initrdAlignment,
                                                       floor: KernelLayout.highMemoryStart, limit: initrdLimit,
                                                       avoiding: kernelRange) else {
            throw .initrdTooLarge(size: size, limit: initrdLimit)
        }
        initrdAddress = address
    }
}
