import KVM

/// How a kernel given as `hyve --kernel` (with `--initrd` and `--append`) is started: what Hyve writes
/// into guest memory and the state the bootstrap processor enters with.
///
/// Three formats are recognised from the file's bytes, in this order:
/// - a Linux bzImage ("HdrS" at 0x202), started by the 64-bit boot protocol when the kernel offers it
///   and by the 32-bit one otherwise;
/// - an ELF file with a PVH entry note, started in 32-bit protected mode by the PVH boot ABI;
/// - a multiboot (0.6.96) kernel, ELF or not, started in 32-bit protected mode.
///
/// The boot information goes where ``KernelLayout`` says, the initrd as high in RAM as the kernel allows.
/// Only the bootstrap processor is set up: the others wait for the kernel's INIT and SIPI, as on a PC.
public struct KernelBoot: Sendable {
    /// The boot protocol a kernel was recognised as.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// A Linux bzImage, booted by the x86 boot protocol's 32- or 64-bit entry.
        case bzImage
        /// An ELF kernel with a Xen PVH entry note.
        case pvh
        /// A multiboot kernel.
        case multiboot
    }

    /// The boot protocol the kernel is started by.
    public let format: Format
    /// The bootstrap processor's entry.
    public let entry: KernelEntry
    /// Everything to copy into guest memory before the bootstrap processor runs, in order: Hyve's GDT
    /// (and page tables in long mode), the kernel, the boot information, the command line(s), the initrd.
    public let memoryWrites: [MemoryWrite]
    /// The memory the kernel occupies, including the room a bzImage unpacks itself into.
    public let kernelRange: Range<UInt64>
    /// Where the initrd lies, when there is one.
    public let initrdRange: Range<UInt64>?

    private let program: ProgramBoot

    /// Recognises `kernel`'s format and lays out its boot.
    ///
    /// - Parameters:
    ///   - kernel: The kernel file's bytes.
    ///   - initrd: The initial RAM disk, if any.
    ///   - commandLine: The kernel command line, without a NUL.
    ///   - memoryMap: The guest's E820 map; kernel, boot data and initrd must lie in its RAM entries.
    ///   - rsdpAddress: Where the ACPI RSDP is, for the protocols that pass it; nil leaves the kernel to
    ///     search the BIOS area.
    public init(kernel: [UInt8], initrd: Initrd? = nil, commandLine: String = "", memoryMap: [E820Entry],
                rsdpAddress: UInt64? = nil) throws(KernelBootError) {
        let inputs = KernelBootInputs(initrd: initrd, commandLine: commandLine,
                                      memoryMap: try MemoryMap(memoryMap), rsdpAddress: rsdpAddress)
        if LinuxSetupHeader.isPresent(in: kernel) {
            self = try BzImageBoot.boot(kernel, inputs: inputs)
        } else if ELF.hasMagic(kernel) {
            let image: ProgramImage
            do {
                image = try ProgramImage.elf(kernel)
            } catch {
                throw .image(error)
            }
            if let entry = try PVHBoot.entry(in: kernel) {
                self = try PVHBoot.boot(image: image, entry: entry, inputs: inputs)
            } else if let header = try MultibootHeader.find(in: kernel) {
                self = try MultibootBoot.boot(kernel, header: header, elfImage: image, inputs: inputs)
            } else {
                throw .noPVHNoteOrMultibootHeader
            }
        } else if let header = try MultibootHeader.find(in: kernel) {
            self = try MultibootBoot.boot(kernel, header: header, elfImage: nil, inputs: inputs)
        } else {
            throw .unrecognizedKernel
        }
    }

    /// Whether `kernel` is a Linux kernel: a bzImage, or an ELF file carrying a note owned by "Linux"
    /// (every vmlinux has its build-salt note). Work-arounds meant for Linux's command line are added
    /// only for these; a multiboot or other PVH kernel would not understand them.
    public static func isLinux(_ kernel: [UInt8]) -> Bool {
        if LinuxSetupHeader.isPresent(in: kernel) { return true }
        guard ELF.hasMagic(kernel), (try? ProgramImage.elf(kernel)) != nil,
              let notes = try? ELFNote.notes(in: kernel) else { return false }
        return notes.contains { $0.name == Array("Linux".utf8) }
    }

    /// Assembles a boot from a checked placement and the protocol's own writes.
    init(format: Format, entry: KernelEntry, placement: KernelPlacement, bootWrites: [MemoryWrite],
         initrd: Initrd?) {
        self.format = format
        self.entry = entry
        self.kernelRange = placement.kernelRange
        self.program = placement.program
        var writes = placement.program.memoryWrites + bootWrites
        if let initrd, let address = placement.initrdAddress {
            writes.append(MemoryWrite(address: address, bytes: initrd.bytes))
            initrdRange = address..<address + UInt64(initrd.bytes.count)
        } else {
            initrdRange = nil
        }
        memoryWrites = writes
    }

    /// Sets the registers the bootstrap processor starts the kernel with.
    ///
    /// The mode's state is Hyve's (``ProgramBoot/entryState(vcpu:registers:special:)`` for vCPU 0: flat
    /// segments from Hyve's GDT, interrupts off, RDI zero, a stack below 0xA0000 that no protocol needs);
    /// then RAX, RBX and RSI carry ``entry``'s values and RBP is cleared, as the 32-bit Linux protocol
    /// asks. Everything else keeps its value from `registers` and `special`.
    public func entryState(registers: inout Registers, special: inout SpecialRegisters) {
        program.entryState(vcpu: 0, registers: &registers, special: &special)
        registers.rax = entry.rax
        registers.rbx = entry.rbx
        registers.rsi = entry.rsi
        registers.rbp = 0
        if format == .pvh {
            // The PVH ABI fixes TR as a 32-bit TSS of exactly 0x68 bytes.
            special.tr.limit = Self.pvhTaskStateLimit
        }
    }

    private static let pvhTaskStateLimit: UInt32 = 0x67
}
