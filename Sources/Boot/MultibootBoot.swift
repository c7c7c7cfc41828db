/// Loads a multiboot kernel (Multiboot Specification 0.6.96): at its header's load addresses when flag 16
/// gives them, else by its ELF program headers; the multiboot information at
/// ``KernelLayout/bootInformationAddress``; the initrd as its one module.
///
/// The entry state the specification asks for: 32-bit protected mode with paging off, flat 4 GiB code
/// and data segments (Hyve's, selectors 0x08 and 0x10), interrupts off, EAX 0x2BADB002 and EBX the
/// information's address. The kernel sets up its own stack, GDT and IDT.
enum MultibootBoot {
    /// - Parameter elfImage: The kernel's ELF segments when the file is ELF, nil otherwise.
    static func boot(_ bytes: [UInt8], header: MultibootHeader, elfImage: ProgramImage?,
                     inputs: KernelBootInputs) throws(KernelBootError) -> KernelBoot {
        let image: ProgramImage
        if let addresses = header.addresses {
            image = try loadImage(bytes, headerOffset: header.offset, addresses: addresses)
        } else if let elfImage {
            image = elfImage
        } else {
            throw .multibootNeedsLoadAddresses
        }
        let strings = try inputs.stringWrites()
        let placement = try KernelPlacement(image: image, mode: .protected, footprint: nil, initrd: inputs.initrd,
                                            initrdLimit: Self.initrdLimit, memoryMap: inputs.memoryMap)
        let module = placement.initrdAddress.map { address in
            (start: UInt32(address), end: UInt32(address) + UInt32(inputs.initrd?.bytes.count ?? 0),
             string: inputs.hasModuleCommandLine ? UInt32(KernelLayout.moduleCommandLineAddress) : 0)
        }
        let info = MultibootInfo(lowerMemoryKiB: inputs.memoryMap.lowerMemoryKiB,
                                 upperMemoryKiB: inputs.memoryMap.upperMemoryKiB,
                                 commandLineAddress: UInt32(KernelLayout.commandLineAddress),
                                 module: module, memoryMap: inputs.memoryMap.entries)
        let writes = [MemoryWrite(address: KernelLayout.bootInformationAddress, bytes: info.bytes)] + strings
        return KernelBoot(format: .multiboot,
                          entry: KernelEntry(mode: .protected, instructionPointer: image.entry,
                                             rax: MultibootInfo.bootloaderMagic,
                                             rbx: KernelLayout.bootInformationAddress),
                          placement: placement, bootWrites: writes, initrd: inputs.initrd)
    }

    /// `mod_end`, the first byte after the module, is a 32-bit field too, so the module must end below 4 GiB.
    private static let initrdLimit = KernelLayout.addressLimit32 - 1

    /// The one segment flag 16 describes: the file from the byte that lands at `load` (found from where
    /// the header lies in the file and in memory) to `loadEnd`, then zeros to `bssEnd`.
    private static func loadImage(_ bytes: [UInt8], headerOffset: Int,
                                  addresses: MultibootHeader.Addresses) throws(KernelBootError) -> ProgramImage {
        guard addresses.load <= addresses.header, Int(addresses.header - addresses.load) <= headerOffset else {
            throw .badMultibootAddresses
        }
        let start = headerOffset - Int(addresses.header - addresses.load)
        var end = bytes.count
        if addresses.loadEnd != 0 {
            guard addresses.loadEnd >= addresses.load else { throw .badMultibootAddresses }
            end = start + Int(addresses.loadEnd - addresses.load)
            guard end <= bytes.count else { throw .truncatedKernel(size: bytes.count, needed: UInt64(end)) }
        }
        let loadEnd = UInt64(addresses.load) + UInt64(end - start)
        var zeroFill: UInt64 = 0
        if addresses.bssEnd != 0 {
            guard UInt64(addresses.bssEnd) >= loadEnd else { throw .badMultibootAddresses }
            zeroFill = UInt64(addresses.bssEnd) - loadEnd
        }
        let segment = LoadSegment(address: UInt64(addresses.load), bytes: Array(bytes[start..<end]), zeroFill: zeroFill)
        return ProgramImage(segments: [segment], entry: UInt64(addresses.entry), format: .flat)
    }
}
