import KVM

/// How a program is started without firmware: what Hyve writes into guest memory and the state each vCPU
/// enters with.
///
/// Hyve keeps guest physical 0x1000–0x7FFF (``bootArea``) for its GDT and, in long mode, its page tables.
/// Every vCPU starts at the program's entry with its own stack and its index in RDI:
/// - real mode: 1 KiB stacks growing down from the entry point (from 64 KiB when the entry is higher,
///   since SS has base 0 and real mode only uses SP);
/// - protected and long mode: 16 KiB stacks growing down from 1 MiB.
public struct ProgramBoot: Sendable {
    /// The program being started.
    public let image: ProgramImage
    /// The mode every vCPU starts in.
    public let mode: CPUMode

    /// Guest physical memory Hyve keeps for its GDT and page tables; programs may not load there.
    public static let bootArea: Range<UInt64> = 0x1000..<0x8000

    /// Checks that `image` can be started in `mode`.
    ///
    /// - Throws: ``BootError/realModeEntryTooHigh(_:)``, ``BootError/entryAbove4GiB(_:)``,
    ///   ``BootError/overlapsBootArea`` or ``BootError/entryOutsideProgram(_:)``.
    public init(image: ProgramImage, mode: CPUMode) throws(BootError) {
        switch mode {
        case .real:
            guard image.entry < Self.realModeLimit else { throw .realModeEntryTooHigh(image.entry) }
        case .protected, .long:
            guard image.entry < PageTables.mappedSize else { throw .entryAbove4GiB(image.entry) }
        }
        for segment in image.segments where segment.size > 0 {
            if segment.address < Self.bootArea.upperBound, segment.end > Self.bootArea.lowerBound {
                throw .overlapsBootArea
            }
        }
        let entry = image.entry
        guard image.segments.contains(where: { entry >= $0.address && entry - $0.address < UInt64($0.bytes.count) })
        else { throw .entryOutsideProgram(entry) }
        self.image = image
        self.mode = mode
    }

    /// Everything to copy into guest memory before the vCPUs run: the GDT, the page tables in long mode,
    /// then each segment's bytes and zero fill.
    ///
    /// Apply them in order: Hyve's structures never overlap the program, but an ELF file's segments may
    /// overlap each other, and then the later one wins, as with any sequential loader.
    public var memoryWrites: [MemoryWrite] {
        var writes = [GDT.memoryWrite]
        if mode == .long {
            writes += PageTables.memoryWrites
        }
        for segment in image.segments {
            if !segment.bytes.isEmpty {
                writes.append(MemoryWrite(address: segment.address, bytes: segment.bytes))
            }
            writes += MemoryWrite.zeros(at: segment.address + UInt64(segment.bytes.count), count: segment.zeroFill)
        }
        return writes
    }

    /// The smallest guest memory size that holds the program, Hyve's boot area and every vCPU stack.
    public var requiredMemorySize: UInt64 {
        switch mode {
        case .real: max(image.highestAddress, Self.bootArea.upperBound)
        case .protected, .long: max(image.highestAddress, Self.stackTop)
        }
    }

    /// How many vCPUs get a stack of their own (vCPU indices `0..<maximumVCPUs`).
    public var maximumVCPUs: Int {
        switch mode {
        case .real: Int((realModeStackTop + Self.realModeStackSize - 1) / Self.realModeStackSize)
        case .protected, .long: Int((Self.stackTop - Self.bootArea.upperBound) / Self.stackSize)
        }
    }

    /// The initial stack pointer of vCPU `vcpu`.
    public func stackPointer(vcpu: Int) -> UInt64 {
        precondition(vcpu >= 0 && vcpu < maximumVCPUs, "vCPU \(vcpu) has no stack (limit \(maximumVCPUs))")
        switch mode {
        case .real:
            // An SP of 0 is the top of the 64 KiB stack segment: the first push wraps to 0xFFFE.
            return (realModeStackTop - UInt64(vcpu) * Self.realModeStackSize) & 0xFFFF
        case .protected, .long:
            return Self.stackTop - UInt64(vcpu) * Self.stackSize
        }
    }

    /// Sets the registers vCPU `vcpu` starts the program with.
    ///
    /// Only the state the start-up depends on is replaced: RIP, RSP, RDI, RFLAGS, the segment registers,
    /// GDTR, IDTR, CR0, CR3, CR4 and EFER. Everything else, such as the APIC base, CR8 and KVM's pending
    /// interrupt bitmap, keeps its value from `registers` and `special`.
    ///
    /// - Precondition: `vcpu` is in `0..<maximumVCPUs`.
    public func entryState(vcpu: Int, registers: inout Registers, special: inout SpecialRegisters) {
        registers.rsp = stackPointer(vcpu: vcpu)
        registers.rdi = UInt64(vcpu)
        registers.rflags = Self.reservedFlag

        // KVM's VM-entry checks want a usable busy TSS and an LDT even though no program here uses them;
        // these are the values the CPU has after reset.
        special.tr = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB, present: true, codeOrData: false)
        special.ldt = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x2, present: true, codeOrData: false)
        special.gdt = GDT.descriptorTable

        let data: Segment
        switch mode {
        case .real:
            let base = image.entry & ~0xFFFF
            registers.rip = image.entry & 0xFFFF
            special.cs = Segment(base: base, limit: 0xFFFF, selector: UInt16(base >> 4), type: 0xB)
            data = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x3)
            special.idt = DescriptorTable(base: 0, limit: Self.interruptVectorTableLimit)
            special.cr0 = Self.cr0ET | Self.cr0NE
            special.cr3 = 0
            special.cr4 = 0
            special.efer = 0
        case .protected:
            registers.rip = image.entry
            special.cs = GDT.code32Segment
            data = GDT.dataSegment
            special.idt = Self.emptyInterruptTable
            special.cr0 = Self.cr0PE | Self.cr0ET | Self.cr0NE
            special.cr3 = 0
            special.cr4 = 0
            special.efer = 0
        case .long:
            registers.rip = image.entry
            special.cs = GDT.code64Segment
            data = GDT.dataSegment
            special.idt = Self.emptyInterruptTable
            special.cr0 = Self.cr0PG | Self.cr0PE | Self.cr0ET | Self.cr0NE
            special.cr3 = PageTables.pml4Address
            special.cr4 = Self.cr4PAE
            special.efer = Self.eferLME | Self.eferLMA
        }
        special.ds = data
        special.es = data
        special.fs = data
        special.gs = data
        special.ss = data
    }

    /// The entry's 64 KiB-aligned part becomes CS, whose selector (base >> 4) must fit in 16 bits.
    private static let realModeLimit: UInt64 = 0x10_0000
    private static let realModeStackSize: UInt64 = 0x400
    /// Stacks sit below the legacy hole at 0xA0000, so they can reach neither the firmware tables
    /// in the BIOS area nor Hyve's boot area.
    private static let stackTop: UInt64 = 0xA_0000
    private static let stackSize: UInt64 = 0x4000
    private static let reservedFlag: UInt64 = 0x2
    private static let interruptVectorTableLimit: UInt16 = 0x3FF
    /// Until the program loads its own IDT, any exception shuts the vCPU down (a triple fault the VMM sees
    /// as an exit) instead of jumping through whatever happens to be at address 0.
    private static let emptyInterruptTable = DescriptorTable(base: 0, limit: 0)
    private static let cr0PE: UInt64 = 1 << 0
    private static let cr0ET: UInt64 = 1 << 4
    private static let cr0NE: UInt64 = 1 << 5
    private static let cr0PG: UInt64 = 1 << 31
    private static let cr4PAE: UInt64 = 1 << 5
    private static let eferLME: UInt64 = 1 << 8
    private static let eferLMA: UInt64 = 1 << 10

    private var realModeStackTop: UInt64 {
        min(image.entry, 0x1_0000)
    }
}
