import CKVM

/// The general-purpose registers, RIP and RFLAGS of a vCPU (`struct kvm_regs`).
public struct Registers: Sendable, Equatable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// Bit 1 is architecturally always set.
    public var rflags: UInt64 = 0x2

    public init() {}

    init(_ r: kvm_regs) {
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx
        rsi = r.rsi; rdi = r.rdi; rsp = r.rsp; rbp = r.rbp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11
        r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip; rflags = r.rflags
    }

    var raw: kvm_regs {
        var r = kvm_regs()
        r.rax = rax; r.rbx = rbx; r.rcx = rcx; r.rdx = rdx
        r.rsi = rsi; r.rdi = rdi; r.rsp = rsp; r.rbp = rbp
        r.r8 = r8; r.r9 = r9; r.r10 = r10; r.r11 = r11
        r.r12 = r12; r.r13 = r13; r.r14 = r14; r.r15 = r15
        r.rip = rip; r.rflags = rflags
        return r
    }
}

/// A segment register with its hidden descriptor cache (`struct kvm_segment`).
public struct Segment: Sendable, Equatable {
    public var base: UInt64
    public var limit: UInt32
    public var selector: UInt16
    /// The descriptor type field (bits 0–3 of the access byte).
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    /// Code/data (true) or system (false) descriptor: the access byte's S bit.
    public var codeOrData: Bool
    /// Default operation size (D/B).
    public var defaultBig: Bool
    /// 64-bit code segment (L).
    public var long: Bool
    /// Limit counted in 4 KiB units.
    public var granularity: Bool
    public var available: Bool
    public var unusable: Bool

    public init(base: UInt64 = 0, limit: UInt32 = 0xFFFF, selector: UInt16 = 0, type: UInt8 = 0x3,
                present: Bool = true, dpl: UInt8 = 0, codeOrData: Bool = true, defaultBig: Bool = false,
                long: Bool = false, granularity: Bool = false, available: Bool = false, unusable: Bool = false) {
        self.base = base; self.limit = limit; self.selector = selector; self.type = type
        self.present = present; self.dpl = dpl; self.codeOrData = codeOrData; self.defaultBig = defaultBig
        self.long = long; self.granularity = granularity; self.available = available; self.unusable = unusable
    }

    /// The access rights in VMX/bhyve layout: type, S, DPL, P in bits 0–7, AVL, L, D/B, G in bits 12–15,
    /// unusable in bit 16.
    public var accessRights: UInt32 {
        var a = UInt32(type & 0xF)
        if codeOrData { a |= 1 << 4 }
        a |= UInt32(dpl & 3) << 5
        if present { a |= 1 << 7 }
        if available { a |= 1 << 12 }
        if long { a |= 1 << 13 }
        if defaultBig { a |= 1 << 14 }
        if granularity { a |= 1 << 15 }
        if unusable { a |= 1 << 16 }
        return a
    }

    /// Builds a segment from bhyve-style access rights (see ``accessRights``).
    public init(base: UInt64, limit: UInt32, selector: UInt16, accessRights a: UInt32) {
        self.init(base: base, limit: limit, selector: selector, type: UInt8(a & 0xF),
                  present: a & (1 << 7) != 0, dpl: UInt8((a >> 5) & 3), codeOrData: a & (1 << 4) != 0,
                  defaultBig: a & (1 << 14) != 0, long: a & (1 << 13) != 0, granularity: a & (1 << 15) != 0,
                  available: a & (1 << 12) != 0, unusable: a & (1 << 16) != 0)
    }

    init(_ s: kvm_segment) {
        self.init(base: s.base, limit: s.limit, selector: s.selector, type: s.type, present: s.present != 0,
                  dpl: s.dpl, codeOrData: s.s != 0, defaultBig: s.db != 0, long: s.l != 0,
                  granularity: s.g != 0, available: s.avl != 0, unusable: s.unusable != 0)
    }

    var raw: kvm_segment {
        var s = kvm_segment()
        s.base = base; s.limit = limit; s.selector = selector; s.type = type
        s.present = present ? 1 : 0; s.dpl = dpl; s.s = codeOrData ? 1 : 0; s.db = defaultBig ? 1 : 0
        s.l = long ? 1 : 0; s.g = granularity ? 1 : 0; s.avl = available ? 1 : 0; s.unusable = unusable ? 1 : 0
        return s
    }
}

/// GDTR or IDTR.
public struct DescriptorTable: Sendable, Equatable {
    public var base: UInt64
    public var limit: UInt16

    public init(base: UInt64 = 0, limit: UInt16 = 0xFFFF) {
        self.base = base; self.limit = limit
    }
}

/// Segment, control and system registers of a vCPU (`struct kvm_sregs`).
public struct SpecialRegisters: Sendable, Equatable {
    public var cs = Segment(), ds = Segment(), es = Segment(), fs = Segment(), gs = Segment(), ss = Segment()
    public var tr = Segment(type: 0xB, codeOrData: false)
    public var ldt = Segment(type: 0x2, codeOrData: false)
    public var gdt = DescriptorTable(), idt = DescriptorTable()
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0
    /// KVM's pending external interrupt bitmap; kept so that a get/set round trip is lossless.
    public var interruptBitmap: [UInt64] = [0, 0, 0, 0]

    public init() {}

    init(_ s: kvm_sregs) {
        cs = Segment(s.cs); ds = Segment(s.ds); es = Segment(s.es); fs = Segment(s.fs)
        gs = Segment(s.gs); ss = Segment(s.ss); tr = Segment(s.tr); ldt = Segment(s.ldt)
        gdt = DescriptorTable(base: s.gdt.base, limit: s.gdt.limit)
        idt = DescriptorTable(base: s.idt.base, limit: s.idt.limit)
        cr0 = s.cr0; cr2 = s.cr2; cr3 = s.cr3; cr4 = s.cr4; cr8 = s.cr8
        efer = s.efer; apicBase = s.apic_base
        interruptBitmap = [s.interrupt_bitmap.0, s.interrupt_bitmap.1, s.interrupt_bitmap.2, s.interrupt_bitmap.3]
    }

    var raw: kvm_sregs {
        var s = kvm_sregs()
        s.cs = cs.raw; s.ds = ds.raw; s.es = es.raw; s.fs = fs.raw
        s.gs = gs.raw; s.ss = ss.raw; s.tr = tr.raw; s.ldt = ldt.raw
        s.gdt.base = gdt.base; s.gdt.limit = gdt.limit
        s.idt.base = idt.base; s.idt.limit = idt.limit
        s.cr0 = cr0; s.cr2 = cr2; s.cr3 = cr3; s.cr4 = cr4; s.cr8 = cr8
        s.efer = efer; s.apic_base = apicBase
        s.interrupt_bitmap = (interruptBitmap[0], interruptBitmap[1], interruptBitmap[2], interruptBitmap[3])
        return s
    }
}
