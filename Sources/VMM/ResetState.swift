import KVM

/// The architectural state of a vCPU after RESET, as bhyve's `vcpu_reset` sets it.
public enum ResetState {
    /// CR0 after reset: NE only. bhyve leaves CD and NW clear because setting them breaks Windows.
    public static let cr0: UInt64 = 0x20

    /// General-purpose registers: RIP 0xFFF0, RFLAGS 0x2, RDX 0xF00 (the processor signature bhyve reports), the rest 0.
    public static var registers: Registers {
        var registers = Registers()
        registers.rip = 0xFFF0
        registers.rflags = 0x2
        registers.rdx = 0xF00
        return registers
    }

    /// Segment and control registers after reset; `keeping` supplies the fields KVM owns (APIC base).
    public static func specialRegisters(keeping current: SpecialRegisters) -> SpecialRegisters {
        var sregs = SpecialRegisters()
        sregs.cs = Segment(base: 0xFFFF_0000, limit: 0xFFFF, selector: 0xF000, type: 0xB)
        let data = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x3)
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        sregs.gdt = DescriptorTable(base: 0, limit: 0xFFFF)
        sregs.idt = DescriptorTable(base: 0, limit: 0xFFFF)
        sregs.tr = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB, codeOrData: false)
        sregs.ldt = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x2, codeOrData: false)
        sregs.cr0 = cr0
        sregs.apicBase = current.apicBase
        return sregs
    }

    /// Debug registers after reset: DR0–3 clear, DR6 0xFFFF0FF0, DR7 0x400.
    public static let debugRegisters = DebugRegisters(dr6: 0xFFFF_0FF0, dr7: 0x400)
}
