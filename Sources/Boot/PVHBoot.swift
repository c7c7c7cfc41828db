/// Loads an ELF kernel by the Xen PVH boot ABI, as Linux's vmlinux supports it: PT_LOAD segments at their
/// physical addresses, the hvm_start_info at ``KernelLayout/bootInformationAddress``, and the 32-bit entry
/// named by the kernel's XEN_ELFNOTE_PHYS32_ENTRY note.
///
/// The ABI's entry state: 32-bit protected mode with paging off, flat 4 GiB code and data segments (Hyve's,
/// selectors 0x08 and 0x10), interrupts off, EBX holding the start_info address.
enum PVHBoot {
    /// The entry address from the file's PVH note, or nil when it has none.
    ///
    /// Linux writes the descriptor as a 4-byte value in newer kernels and a pointer-sized one in older
    /// 64-bit kernels, so both widths are read.
    static func entry(in bytes: [UInt8]) throws(KernelBootError) -> UInt64? {
        guard let note = try ELFNote.notes(in: bytes).first(where: { $0.name == noteName && $0.type == entryNoteType })
        else { return nil }
        switch note.descriptor.count {
        case 4: return UInt64(note.descriptor.littleEndian(UInt32.self, at: 0))
        case 8: return note.descriptor.littleEndian(UInt64.self, at: 0)
        default: throw .badPVHNote(descriptorSize: UInt32(note.descriptor.count))
        }
    }

    static func boot(image: ProgramImage, entry: UInt64, inputs: KernelBootInputs) throws(KernelBootError)
        -> KernelBoot {
        let strings = try inputs.stringWrites()
        let kernel = ProgramImage(segments: image.segments, entry: entry, format: image.format)
        let placement = try KernelPlacement(image: kernel, mode: .protected, footprint: nil, initrd: inputs.initrd,
                                            initrdLimit: KernelLayout.addressLimit32, memoryMap: inputs.memoryMap)
        let module = placement.initrdAddress.map { (address: $0, size: UInt64(inputs.initrd?.bytes.count ?? 0)) }
        let startInfo = StartInfo(
            module: module,
            moduleCommandLineAddress: inputs.hasModuleCommandLine ? KernelLayout.moduleCommandLineAddress : 0,
            commandLineAddress: KernelLayout.commandLineAddress,
            rsdpAddress: inputs.rsdpAddress ?? 0,
            memoryMap: inputs.memoryMap.entries)
        let writes = [MemoryWrite(address: KernelLayout.bootInformationAddress, bytes: startInfo.bytes)] + strings
        return KernelBoot(format: .pvh,
                          entry: KernelEntry(mode: .protected, instructionPointer: entry,
                                             rbx: KernelLayout.bootInformationAddress),
                          placement: placement, bootWrites: writes, initrd: inputs.initrd)
    }

    private static let noteName = Array("Xen".utf8)
    /// XEN_ELFNOTE_PHYS32_ENTRY.
    private static let entryNoteType: UInt32 = 18
}
