/// Loads a Linux bzImage by the x86 boot protocol's 64-bit entry, or its 32-bit entry for kernels that
/// do not offer one (Documentation/arch/x86/boot.rst).
///
/// The real-mode setup code is not run: Hyve does what it would, handing the kernel a zero page at
/// ``KernelLayout/bootInformationAddress`` with the E820 map, and entering the protected-mode kernel
/// directly. That kernel is loaded at its preferred address when it is relocatable and the address is
/// in RAM, at 1 MiB otherwise.
///
/// The protocol asks for a GDT with the code segment at selector 0x10 and data at 0x18; Hyve's GDT has
/// its flat segments elsewhere (``GDT``), which the 64-bit entry never notices because it loads null data
/// selectors and its own GDT before using a selector. The 32-bit entry of kernels before 5.8 does load
/// 0x18, so it is told to keep Hyve's flat segments (KEEP_SEGMENTS, protocol 2.07+). Protected-mode
/// guest kernels run poorly on this host's KVM, so the 32-bit entry is there for completeness, not speed.
enum BzImageBoot {
    static func boot(_ bytes: [UInt8], inputs: KernelBootInputs) throws(KernelBootError) -> KernelBoot {
        let header = try LinuxSetupHeader(bytes)
        let kernel = Array(bytes[header.setupSize...])
        let size = UInt64(kernel.count)
        let commandLine = try inputs.commandLineBytes(
            maximumLength: min(Int(header.commandLineSize), KernelLayout.commandLineCapacity - 1))

        let alignment = UInt64(max(header.kernelAlignment, 1))
        let address = loadAddress(header, size: size, alignment: alignment, memoryMap: inputs.memoryMap)
        // A kernel unpacks itself at its load address rounded up to its alignment, but never below its
        // preferred address (where a non-relocatable kernel always runs), into init_size bytes.
        let runAddress = max((address + alignment - 1) / alignment * alignment, header.preferredAddress)
        let unpackEnd = runAddress.addingReportingOverflow(UInt64(header.initSize))
        let footprint = address..<max(address + size, unpackEnd.overflow ? .max : unpackEnd.partialValue)

        let mode: CPUMode = header.has64BitEntry ? .long : .protected
        let entry = header.has64BitEntry ? address + Self.entry64Offset : address
        let image = ProgramImage(segments: [LoadSegment(address: address, bytes: kernel)], entry: entry,
                                 format: .flat)
        let initrdLimit = min(UInt64(header.initrdAddressMax) + 1, KernelLayout.addressLimit32)
        let placement = try KernelPlacement(image: image, mode: mode, footprint: footprint, initrd: inputs.initrd,
                                            initrdLimit: initrdLimit, memoryMap: inputs.memoryMap)

        let zeroPage = ZeroPage(
            setupHeader: Array(bytes[LinuxSetupHeader.startOffset..<header.end]),
            loadFlags: header.loadFlags | (mode == .long ? 0 : LinuxSetupHeader.keepSegments),
            kernelAddress: UInt32(address),
            initrdAddress: UInt32(placement.initrdAddress ?? 0),
            initrdSize: UInt32(inputs.initrd?.bytes.count ?? 0),
            commandLineAddress: UInt32(KernelLayout.commandLineAddress),
            rsdpAddress: inputs.rsdpAddress ?? 0,
            memoryMap: inputs.memoryMap.entries)
        let writes = [
            MemoryWrite(address: KernelLayout.bootInformationAddress, bytes: zeroPage.bytes),
            MemoryWrite(address: KernelLayout.commandLineAddress, bytes: commandLine),
        ]
        return KernelBoot(format: .bzImage,
                          entry: KernelEntry(mode: mode, instructionPointer: entry,
                                             rsi: KernelLayout.bootInformationAddress),
                          placement: placement, bootWrites: writes, initrd: inputs.initrd)
    }

    /// The preferred address when the kernel may be moved there and it and its unpacking room fit in RAM
    /// below 4 GiB (the reach of Hyve's identity map and the zero page's 32-bit fields); 1 MiB otherwise.
    private static func loadAddress(_ header: LinuxSetupHeader, size: UInt64, alignment: UInt64,
                                    memoryMap: MemoryMap) -> UInt64 {
        let preferred = header.preferredAddress
        let end = preferred.addingReportingOverflow(max(size, UInt64(header.initSize)))
        guard header.relocatable, preferred >= KernelLayout.highMemoryStart, preferred % alignment == 0,
              !end.overflow, end.partialValue <= KernelLayout.addressLimit32,
              memoryMap.isRAM(preferred..<end.partialValue) else {
            return KernelLayout.highMemoryStart
        }
        return preferred
    }

    /// The 64-bit entry (startup_64) lies 0x200 bytes after the 32-bit one at the start of the kernel.
    private static let entry64Offset: UInt64 = 0x200
}
