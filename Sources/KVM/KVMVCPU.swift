import CKVM
import Glibc

/// One vCPU of a KVM VM.
///
/// Threading: `run()` and the state accessors belong to the thread that runs this vCPU (KVM
/// serialises vCPU ioctls on a mutex, so calling them from elsewhere while the vCPU runs would
/// block until it exits). ``requestImmediateExit()`` is the one operation meant for other threads.
public final class KVMVCPU: @unchecked Sendable {
    public let id: Int
    let fd: OwnedFD
    let runPage: UnsafeMutableRawPointer
    let runPageSize: Int
    let runArea: UnsafeMutablePointer<kvm_run>

    init(id: Int, fd: OwnedFD, runPage: UnsafeMutableRawPointer, runPageSize: Int) {
        self.id = id
        self.fd = fd
        self.runPage = runPage
        self.runPageSize = runPageSize
        runArea = ckvm_run(runPage)
    }

    deinit { munmap(runPage, runPageSize) }

    /// Makes the next (or current) `KVM_RUN` return `.interrupted` at once. Pair it with a signal to
    /// the vCPU thread to kick a vCPU that is already inside the guest.
    public func requestImmediateExit() {
        runArea.pointee.immediate_exit = 1
    }

    /// Clears a previous ``requestImmediateExit()``.
    public func clearImmediateExit() {
        runArea.pointee.immediate_exit = 0
    }

    /// Asks KVM to exit as soon as the guest can take an external interrupt.
    public var requestInterruptWindow: Bool {
        get { runArea.pointee.request_interrupt_window != 0 }
        set { runArea.pointee.request_interrupt_window = newValue ? 1 : 0 }
    }

    /// Whether the guest can take an external interrupt now (valid after an exit).
    public var readyForInterruptInjection: Bool { runArea.pointee.ready_for_interrupt_injection != 0 }

    /// RFLAGS.IF as of the last exit.
    public var interruptFlag: Bool { runArea.pointee.if_flag != 0 }

    /// CR8 without an in-kernel local APIC: KVM reports the guest's value after each exit and
    /// loads the value found here on each entry, so user space keeps it equal to its TPR.
    public var cr8: UInt64 {
        get { runArea.pointee.cr8 }
        set { runArea.pointee.cr8 = newValue }
    }

    /// Enters the guest until it exits to user space.
    public func run() throws(KVMError) -> VCPUExit {
        if ckvm_ioctl_val(fd.raw, CKVM_RUN, 0) < 0 {
            let code = errno
            if code == EINTR || code == EAGAIN { return .interrupted }
            throw KVMError("KVM_RUN on vCPU \(id)", errno: code)
        }
        return decodeExit()
    }

    private func decodeExit() -> VCPUExit {
        switch Int32(runArea.pointee.exit_reason) {
        case KVM_EXIT_IO:
            let io = ckvm_run_io(runArea)!
            let size = Int(io.pointee.size)
            let count = Int(io.pointee.count)
            let data = UnsafeMutableRawBufferPointer(start: runPage + Int(io.pointee.data_offset), count: size * count)
            return .io(PortIO(isWrite: io.pointee.direction == UInt8(KVM_EXIT_IO_OUT), port: io.pointee.port,
                              size: size, count: count, data: data))
        case KVM_EXIT_MMIO:
            let mmio = ckvm_run_mmio(runArea)!
            let length = min(Int(mmio.pointee.len), 8)
            let data = UnsafeMutableRawBufferPointer(
                start: UnsafeMutableRawPointer(mutating: withUnsafeMutablePointer(to: &mmio.pointee.data) { UnsafeMutableRawPointer($0) }),
                count: length)
            return .mmio(MMIOAccess(address: mmio.pointee.phys_addr, isWrite: mmio.pointee.is_write != 0, data: data))
        case KVM_EXIT_HLT:
            return .halt
        case KVM_EXIT_SHUTDOWN:
            return .shutdown
        case KVM_EXIT_INTR:
            return .interrupted
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            return .interruptWindowOpen
        case KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR:
            let msr = ckvm_run_msr(runArea)!
            msr.pointee.error = 0
            return .msr(MSRAccess(isWrite: runArea.pointee.exit_reason == UInt32(KVM_EXIT_X86_WRMSR),
                                  index: msr.pointee.index, run: runArea))
        case KVM_EXIT_SET_TPR:
            return .tprLowered
        case KVM_EXIT_IOAPIC_EOI:
            return .ioapicEOI(vector: runArea.pointee.eoi.vector)
        case KVM_EXIT_SYSTEM_EVENT:
            return .systemEvent(type: ckvm_run_system_event(runArea)!.pointee.type)
        case KVM_EXIT_INTERNAL_ERROR:
            let failure = ckvm_run_internal(runArea)!
            let count = min(Int(failure.pointee.ndata), 16)
            let words = withUnsafeBytes(of: &failure.pointee.data) { raw in
                (0..<count).map { raw.load(fromByteOffset: $0 * 8, as: UInt64.self) }
            }
            return .internalError(InternalError(suberror: failure.pointee.suberror, data: words))
        case KVM_EXIT_FAIL_ENTRY:
            let fail = ckvm_run_fail_entry(runArea)!
            return .failedEntry(hardwareReason: fail.pointee.hardware_entry_failure_reason, cpu: fail.pointee.cpu)
        case KVM_EXIT_EXCEPTION:
            let ex = ckvm_run_ex(runArea)!
            return .exception(vector: ex.pointee.exception, errorCode: ex.pointee.error_code)
        case KVM_EXIT_UNKNOWN:
            return .hardwareFailure(reason: ckvm_run_hw(runArea)!.pointee.hardware_exit_reason)
        case KVM_EXIT_DEBUG:
            return .debug
        default:
            return .unknown(reason: runArea.pointee.exit_reason)
        }
    }

    // MARK: State

    public func registers() throws(KVMError) -> Registers {
        var raw = kvm_regs()
        _ = try syscallRetrying("KVM_GET_REGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_REGS, &raw) }
        return Registers(raw)
    }

    public func setRegisters(_ registers: Registers) throws(KVMError) {
        var raw = registers.raw
        _ = try syscallRetrying("KVM_SET_REGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_REGS, &raw) }
    }

    public func specialRegisters() throws(KVMError) -> SpecialRegisters {
        var raw = kvm_sregs()
        _ = try syscallRetrying("KVM_GET_SREGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_SREGS, &raw) }
        return SpecialRegisters(raw)
    }

    public func setSpecialRegisters(_ registers: SpecialRegisters) throws(KVMError) {
        var raw = registers.raw
        _ = try syscallRetrying("KVM_SET_SREGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_SREGS, &raw) }
    }

    public func fpu() throws(KVMError) -> FPUState {
        var raw = kvm_fpu()
        _ = try syscallRetrying("KVM_GET_FPU on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_FPU, &raw) }
        return FPUState(raw: raw)
    }

    public func setFPU(_ state: FPUState) throws(KVMError) {
        var raw = state.raw
        _ = try syscallRetrying("KVM_SET_FPU on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_FPU, &raw) }
    }

    /// Reads the given MSRs; an MSR KVM does not know is absent from the result.
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [UInt32: UInt64] {
        var result: [UInt32: UInt64] = [:]
        for chunkStart in stride(from: 0, to: indices.count, by: Int(CKVM_MAX_MSR_ENTRIES)) {
            let chunk = indices[chunkStart..<min(indices.count, chunkStart + Int(CKVM_MAX_MSR_ENTRIES))]
            var table = ckvm_msrs()
            table.nmsrs = UInt32(chunk.count)
            withUnsafeMutableBytes(of: &table.entries) { raw in
                let entries = raw.bindMemory(to: kvm_msr_entry.self)
                for (i, index) in chunk.enumerated() { entries[i].index = index }
            }
            let read = try syscallRetrying("KVM_GET_MSRS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_MSRS, &table) }
            withUnsafeBytes(of: &table.entries) { raw in
                let entries = raw.bindMemory(to: kvm_msr_entry.self)
                // KVM stops at the first MSR it cannot read.
                for i in 0..<Int(read) { result[entries[i].index] = entries[i].data }
            }
        }
        return result
    }

    /// Writes MSRs; throws naming the first MSR KVM refused.
    public func setMSRs(_ values: [(index: UInt32, value: UInt64)]) throws(KVMError) {
        for chunkStart in stride(from: 0, to: values.count, by: Int(CKVM_MAX_MSR_ENTRIES)) {
            let chunk = Array(values[chunkStart..<min(values.count, chunkStart + Int(CKVM_MAX_MSR_ENTRIES))])
            var table = ckvm_msrs()
            table.nmsrs = UInt32(chunk.count)
            withUnsafeMutableBytes(of: &table.entries) { raw in
                let entries = raw.bindMemory(to: kvm_msr_entry.self)
                for (i, msr) in chunk.enumerated() {
                    entries[i].index = msr.index
                    entries[i].data = msr.value
                }
            }
            let written = try syscallRetrying("KVM_SET_MSRS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_MSRS, &table) }
            if Int(written) < chunk.count {
                let refused = chunk[Int(written)].index
                throw KVMError("KVM_SET_MSRS on vCPU \(id)", errno: 0,
                               detail: "KVM refused MSR 0x\(String(refused, radix: 16))")
            }
        }
    }

    public func debugRegisters() throws(KVMError) -> DebugRegisters {
        var raw = kvm_debugregs()
        _ = try syscallRetrying("KVM_GET_DEBUGREGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_DEBUGREGS, &raw) }
        return DebugRegisters(db: [raw.db.0, raw.db.1, raw.db.2, raw.db.3], dr6: raw.dr6, dr7: raw.dr7)
    }

    public func setDebugRegisters(_ registers: DebugRegisters) throws(KVMError) {
        var raw = kvm_debugregs()
        raw.db = (registers.db[0], registers.db[1], registers.db[2], registers.db[3])
        raw.dr6 = registers.dr6
        raw.dr7 = registers.dr7
        _ = try syscallRetrying("KVM_SET_DEBUGREGS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_DEBUGREGS, &raw) }
    }

    public func events() throws(KVMError) -> VCPUEvents {
        var raw = kvm_vcpu_events()
        _ = try syscallRetrying("KVM_GET_VCPU_EVENTS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_VCPU_EVENTS, &raw) }
        return VCPUEvents(raw: raw)
    }

    public func setEvents(_ events: VCPUEvents) throws(KVMError) {
        var raw = events.raw
        _ = try syscallRetrying("KVM_SET_VCPU_EVENTS on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_VCPU_EVENTS, &raw) }
    }

    public func mpState() throws(KVMError) -> MPState {
        var raw = kvm_mp_state()
        _ = try syscallRetrying("KVM_GET_MP_STATE on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_GET_MP_STATE, &raw) }
        return MPState(rawValue: raw.mp_state) ?? .runnable
    }

    public func setMPState(_ state: MPState) throws(KVMError) {
        var raw = kvm_mp_state(mp_state: state.rawValue)
        _ = try syscallRetrying("KVM_SET_MP_STATE on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_MP_STATE, &raw) }
    }

    /// Sets the CPUID table the guest sees on this vCPU.
    public func setCPUID(_ entries: [CPUIDEntry]) throws(KVMError) {
        guard entries.count <= Int(CKVM_MAX_CPUID_ENTRIES) else {
            throw KVMError("KVM_SET_CPUID2 on vCPU \(id)", errno: E2BIG, detail: "\(entries.count) CPUID entries is too many")
        }
        var table = ckvm_cpuid()
        table.nent = UInt32(entries.count)
        withUnsafeMutableBytes(of: &table.entries) { raw in
            let slots = raw.bindMemory(to: kvm_cpuid_entry2.self)
            for (i, entry) in entries.enumerated() { slots[i] = entry.raw }
        }
        _ = try syscallRetrying("KVM_SET_CPUID2 on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_SET_CPUID2, &table) }
    }

    /// Queues an external interrupt vector (only without an in-kernel local APIC).
    public func interrupt(vector: UInt8) throws(KVMError) {
        var irq = kvm_interrupt(irq: UInt32(vector))
        _ = try syscallRetrying("KVM_INTERRUPT on vCPU \(id)") { ckvm_ioctl_ptr(fd.raw, CKVM_INTERRUPT, &irq) }
    }

    /// Queues an NMI.
    public func nmi() throws(KVMError) {
        _ = try syscallRetrying("KVM_NMI on vCPU \(id)") { ckvm_ioctl_val(fd.raw, CKVM_NMI, 0) }
    }
}
