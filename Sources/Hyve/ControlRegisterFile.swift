import Glibc
import HyveControl
import KVM

/// bhyve's register and descriptor names (`VM_REG_GUEST_*`) over KVM's three register sets:
/// `kvm_regs` for the GPRs, RIP and RFLAGS, `kvm_sregs` for control registers, EFER, segments and
/// tables, `kvm_debugregs` for DR0–3, DR6 and DR7. Every function must run on the vCPU's thread.
enum ControlRegisterFile {
    /// `VM_GET_REGISTER`; a segment register reads as its selector.
    static func read(_ register: ControlRegister, of kvm: KVMVCPU) throws(KVMError) -> UInt64 {
        if let path = general(register) { return try kvm.registers()[keyPath: path] }
        if let path = control(register) { return try kvm.specialRegisters()[keyPath: path] }
        if let path = segment(register) { return UInt64(try kvm.specialRegisters()[keyPath: path].selector) }
        return try kvm.debugRegisters()[keyPath: debug(register)!]
    }

    /// `VM_SET_REGISTER`; a segment register's selector changes, its descriptor does not, as in bhyve.
    static func write(_ register: ControlRegister, _ value: UInt64, to kvm: KVMVCPU) throws {
        if let path = general(register) {
            var registers = try kvm.registers()
            registers[keyPath: path] = value
            try kvm.setRegisters(registers)
        } else if let path = control(register) {
            var special = try kvm.specialRegisters()
            special[keyPath: path] = value
            try kvm.setSpecialRegisters(special)
        } else if let path = segment(register) {
            guard let selector = UInt16(exactly: value) else {
                throw ControlError(code: EINVAL, message: "selector 0x\(String(value, radix: 16)) does not fit 16 bits")
            }
            var special = try kvm.specialRegisters()
            special[keyPath: path].selector = selector
            try kvm.setSpecialRegisters(special)
        } else {
            var debugRegisters = try kvm.debugRegisters()
            debugRegisters[keyPath: debug(register)!] = value
            try kvm.setDebugRegisters(debugRegisters)
        }
    }

    /// `VM_GET_SEGMENT_DESCRIPTOR`: base, limit and VMX access rights; GDTR and IDTR have no
    /// access rights and read 0 there.
    static func descriptor(_ name: ControlDescriptorName, in special: SpecialRegisters) -> ControlSegmentDescriptor {
        if let path = segment(name) {
            let segment = special[keyPath: path]
            return ControlSegmentDescriptor(base: segment.base, limit: segment.limit, access: segment.accessRights)
        }
        let table = name == .gdtr ? special.gdt : special.idt
        return ControlSegmentDescriptor(base: table.base, limit: UInt32(table.limit), access: 0)
    }

    /// `VM_SET_SEGMENT_DESCRIPTOR`: the selector stays; GDTR and IDTR ignore `access`.
    static func setDescriptor(_ name: ControlDescriptorName, _ descriptor: ControlSegmentDescriptor,
                              in special: inout SpecialRegisters) throws(ControlError) {
        if let path = segment(name) {
            special[keyPath: path] = Segment(base: descriptor.base, limit: descriptor.limit,
                                             selector: special[keyPath: path].selector, accessRights: descriptor.access)
            return
        }
        guard let limit = UInt16(exactly: descriptor.limit) else {
            throw ControlError(code: EINVAL, message: "a \(name.rawValue) limit of 0x\(String(descriptor.limit, radix: 16)) does not fit 16 bits")
        }
        let table = DescriptorTable(base: descriptor.base, limit: limit)
        if name == .gdtr { special.gdt = table } else { special.idt = table }
    }

    /// Every register and descriptor, from one read of each register set.
    static func state(of kvm: KVMVCPU) throws(KVMError) -> ControlVCPUState {
        let registers = try kvm.registers()
        let special = try kvm.specialRegisters()
        let debugRegisters = try kvm.debugRegisters()
        var values: [ControlRegister: UInt64] = [:]
        for register in ControlRegister.allCases {
            if let path = general(register) {
                values[register] = registers[keyPath: path]
            } else if let path = control(register) {
                values[register] = special[keyPath: path]
            } else if let path = segment(register) {
                values[register] = UInt64(special[keyPath: path].selector)
            } else if let path = debug(register) {
                values[register] = debugRegisters[keyPath: path]
            }
        }
        var descriptors: [ControlDescriptorName: ControlSegmentDescriptor] = [:]
        for name in ControlDescriptorName.allCases { descriptors[name] = descriptor(name, in: special) }
        return ControlVCPUState(registers: values, descriptors: descriptors)
    }

    private static func general(_ register: ControlRegister) -> WritableKeyPath<Registers, UInt64>? {
        switch register {
        case .rax: \.rax
        case .rbx: \.rbx
        case .rcx: \.rcx
        case .rdx: \.rdx
        case .rsi: \.rsi
        case .rdi: \.rdi
        case .rbp: \.rbp
        case .rsp: \.rsp
        case .r8: \.r8
        case .r9: \.r9
        case .r10: \.r10
        case .r11: \.r11
        case .r12: \.r12
        case .r13: \.r13
        case .r14: \.r14
        case .r15: \.r15
        case .rip: \.rip
        case .rflags: \.rflags
        default: nil
        }
    }

    private static func control(_ register: ControlRegister) -> WritableKeyPath<SpecialRegisters, UInt64>? {
        switch register {
        case .cr0: \.cr0
        case .cr2: \.cr2
        case .cr3: \.cr3
        case .cr4: \.cr4
        case .efer: \.efer
        default: nil
        }
    }

    private static func segment(_ register: ControlRegister) -> WritableKeyPath<SpecialRegisters, Segment>? {
        switch register {
        case .cs: \.cs
        case .ds: \.ds
        case .es: \.es
        case .fs: \.fs
        case .gs: \.gs
        case .ss: \.ss
        case .tr: \.tr
        case .ldtr: \.ldt
        default: nil
        }
    }

    private static func segment(_ name: ControlDescriptorName) -> WritableKeyPath<SpecialRegisters, Segment>? {
        switch name {
        case .es: \.es
        case .cs: \.cs
        case .ss: \.ss
        case .ds: \.ds
        case .fs: \.fs
        case .gs: \.gs
        case .ldtr: \.ldt
        case .tr: \.tr
        case .gdtr, .idtr: nil
        }
    }

    private static func debug(_ register: ControlRegister) -> WritableKeyPath<DebugRegisters, UInt64>? {
        switch register {
        case .dr0: \.db[0]
        case .dr1: \.db[1]
        case .dr2: \.db[2]
        case .dr3: \.db[3]
        case .dr6: \.dr6
        case .dr7: \.dr7
        default: nil
        }
    }
}
