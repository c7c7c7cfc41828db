import Glibc
import HyveControl
import KVM
import VMM

/// Answers control requests against a ``Machine``: what vmm_dev.c's ioctl handlers are to
/// bhyvectl. `hyve --name NAME` serves it on the VM's control socket.
///
/// Requests about one vCPU's state run on that vCPU's thread between two entries
/// (``VCPU/perform(timeout:_:)``), so a running guest is stopped only for the moment it takes;
/// VM-wide requests (interrupt lines, RTC, CPU sets) need no vCPU. The control server calls the
/// handler from one thread, one request at a time, which serialises its clients.
public final class ControlHandler: Sendable {
    public let machine: Machine

    /// What `hyve` reports when `destroy` ends it, as its last line.
    public static let destroyedMessage = "the VM was destroyed (hyvectl --destroy)"

    public init(machine: Machine) {
        self.machine = machine
    }

    private var vm: VirtualMachine { machine.vm }

    /// The response to `request`; failures come back as error responses with bhyve's errno.
    public func handle(_ request: ControlRequest) -> ControlResponse {
        do {
            return try respond(to: request)
        } catch let error as ControlError {
            return .error(error)
        } catch let error as EventInjectionError {
            return .failure(error.errno, error.description)
        } catch let error as VCPURequestError {
            return .failure(EBUSY, error.description)
        } catch let error as KVMError {
            return .failure(error.errno == 0 ? EIO : error.errno, error.description)
        } catch let error as GuestPagingError {
            return .failure(EFAULT, Self.describe(error))
        } catch let error as RTCError {
            return .failure(EINVAL, error.description)
        } catch {
            return .failure(EIO, "\(error)")
        }
    }

    private func respond(to request: ControlRequest) throws -> ControlResponse {
        let memory = vm.memory
        switch request {
        case .getActiveCPUs:
            return .cpus(Array(vm.activeCPUs))
        case .getSuspendedCPUs:
            return .cpus(Array(vm.suspendedCPUs))
        case .suspend(let how):
            guard vm.suspend(Self.reason(how)) else {
                throw ControlError(code: EALREADY, message: "the VM is already suspending (\(vm.suspendReason.map { "\($0)" } ?? "unknown"))")
            }
            return .done
        case .destroy:
            vm.suspend(.failure(Self.destroyedMessage))
            return .done
        case .reinit:
            do {
                try vm.reinitialize()
            } catch let error as ConfigurationError {
                throw ControlError(code: EBUSY, message: error.description)
            }
            return .done
        case .getRegister(let id, let register):
            return .value(try onVCPU(id) { try ControlRegisterFile.read(register, of: $0.kvm) })
        case .setRegister(let id, let register, let value):
            try onVCPU(id) { try ControlRegisterFile.write(register, value, to: $0.kvm) }
            return .done
        case .getSegmentDescriptor(let id, let name):
            return .descriptor(try onVCPU(id) { ControlRegisterFile.descriptor(name, in: try $0.kvm.specialRegisters()) })
        case .setSegmentDescriptor(let id, let name, let descriptor):
            try onVCPU(id) { vcpu in
                var special = try vcpu.kvm.specialRegisters()
                try ControlRegisterFile.setDescriptor(name, descriptor, in: &special)
                try vcpu.kvm.setSpecialRegisters(special)
            }
            return .done
        case .getAll(let id):
            return .vcpuState(try onVCPU(id) { try ControlRegisterFile.state(of: $0.kvm) })
        case .getIntinfo(let id):
            let (exit, pending) = try onVCPU(id) { try $0.interruptionInfo() }
            return .intinfo(info1: exit.raw, info2: pending.raw)
        case .injectNMI(let id):
            try onVCPU(id) { try $0.injectNMI() }
            return .done
        case .injectException(let id, let vector, let errorCode, let restart):
            try onVCPU(id) { try $0.injectException(vector: vector, errorCode: errorCode, restartInstruction: restart) }
            return .done
        case .lapicIRQ(let id, let vector):
            try sendFixedInterrupt(vector: vector, to: try vcpu(id))
            return .done
        case .lapicLocalIRQ(let target, let pin):
            try fireLocalInterrupt(pin: pin, target: target)
            return .done
        case .isaAssert(let irq, let pin), .isaDeassert(let irq, let pin), .isaPulse(let irq, let pin):
            try Self.checkISA(irq, pin)
            switch request {
            case .isaAssert: vm.interrupts.isaAssert(irq, ioapicPin: pin)
            case .isaDeassert: vm.interrupts.isaDeassert(irq, ioapicPin: pin)
            default: vm.interrupts.isaPulse(irq, ioapicPin: pin)
            }
            return .done
        case .ioapicAssert(let pin), .ioapicDeassert(let pin), .ioapicPulse(let pin):
            try Self.checkPin(pin)
            switch request {
            case .ioapicAssert: vm.interrupts.ioapicAssert(pin)
            case .ioapicDeassert: vm.interrupts.ioapicDeassert(pin)
            default: vm.interrupts.ioapicPulse(pin)
            }
            return .done
        case .lapicMSI(let address, let data):
            guard let data = UInt32(exactly: data) else {
                throw ControlError(code: EINVAL, message: "MSI data 0x\(String(data, radix: 16)) does not fit 32 bits")
            }
            vm.interrupts.sendMSI(address: address, data: data)
            return .done
        case .getStats(let id):
            return .stats(try vcpu(id).statistics)
        case .getMemoryMap:
            return .memoryMap(memoryMap)
        case .getTopology:
            let cpus = vm.configuration.cpus
            let topology = vm.configuration.cpuid.topology ?? .flat(cpus: cpus)
            return .topology(ControlTopology(sockets: topology.sockets, cores: topology.cores,
                                             threads: topology.threads, maxCPUs: cpus))
        case .getX2APICState(let id):
            _ = try vcpu(id)
            let policy = vm.configuration.cpuid
            return .value(policy.x2APIC && !policy.hiddenFeatures.contains(.x2apic) ? 1 : 0)
        case .rtcGetTime:
            return .time(seconds: vm.rtc.time)
        case .rtcSetTime(let seconds):
            vm.rtc.setTime(seconds)
            return .done
        case .rtcRead(let offset):
            return .value(UInt64(try vm.rtc.readNVRAM(offset)))
        case .rtcWrite(let offset, let value):
            try vm.rtc.writeNVRAM(offset, value)
            return .done
        case .gla2gpa(let id, let gla, let access):
            return try onVCPU(id) { vcpu in
                let paging = GuestPaging(try vcpu.kvm.specialRegisters())
                switch try paging.translate(gla, for: Self.protection(access), in: memory) {
                case .success(let gpa):
                    return .translation(gpa: gpa)
                case .failure(let fault):
                    try vcpu.inject(fault)
                    return .guestFault(Self.describe(fault, injected: true))
                }
            }
        case .gla2gpaNoFault(let id, let gla, let access):
            return .translation(gpa: try onVCPU(id) { vcpu in
                try GuestPaging(try vcpu.kvm.specialRegisters())
                    .translateNoFault(gla, for: Self.protection(access), in: memory)
            })
        case .copyIn(let id, let gla, let length):
            try Self.checkCopyLength(length)
            return try onVCPU(id) { vcpu in
                switch try GuestPaging(try vcpu.kvm.specialRegisters()).copyIn(from: gla, count: length, in: memory) {
                case .success(let bytes): .bytes(bytes)
                case .failure(let fault): .guestFault(Self.describe(fault, injected: false))
                }
            }
        case .copyOut(let id, let gla, let bytes):
            try Self.checkCopyLength(bytes.count)
            return try onVCPU(id) { vcpu in
                guard let fault = try GuestPaging(try vcpu.kvm.specialRegisters()).copyOut(bytes, to: gla, in: memory) else {
                    return .done
                }
                return .guestFault(Self.describe(fault, injected: false))
            }
        }
    }

    // MARK: vCPUs

    private func vcpu(_ id: Int) throws(ControlError) -> VCPU {
        let vcpus = vm.vcpus
        guard vcpus.indices.contains(id) else {
            throw ControlError(code: EINVAL, message: "no vCPU \(id) (the VM has vCPUs 0-\(vcpus.count - 1))")
        }
        return vcpus[id]
    }

    private func onVCPU<T: Sendable>(_ id: Int, _ body: @escaping @Sendable (VCPU) throws -> T) throws -> T {
        try vcpu(id).perform(body)
    }

    // MARK: Interrupts

    /// `VM_LAPIC_IRQ`: an edge interrupt at `vector` to one local APIC, sent as a fixed,
    /// physically addressed MSI to the vCPU's APIC ID (KVM gives vCPU N APIC ID N).
    private func sendFixedInterrupt(vector: Int, to vcpu: VCPU) throws(ControlError) {
        guard (16...255).contains(vector) else {
            throw ControlError(code: EINVAL, message: "vector \(vector) cannot be sent to a local APIC (16-255)")
        }
        guard vcpu.id <= 0xFF else {
            throw ControlError(code: ENOSYS, message: "vCPU \(vcpu.id) has an APIC ID an xAPIC message cannot address")
        }
        vm.interrupts.sendMSI(address: Self.msiBase | UInt64(vcpu.id) << 12, data: UInt32(vector))
    }

    /// `VM_LAPIC_LOCAL_IRQ`: fires LVT entry `pin` the way the guest programmed it in KVM's local
    /// APIC, as bhyve's `vlapic_trigger_lvt`: nothing while masked, fixed delivery as an
    /// interrupt at the entry's vector, NMI delivery with `KVM_NMI`. With the APIC disabled,
    /// LINT1 is the processor's NMI pin. KVM's local APIC offers no way to raise SMI, INIT or
    /// ExtINT from outside, nor LINT0's ExtINT with the APIC disabled: those are `ENOSYS`. With
    /// `--lapic user` Hyve's local APICs raise the entry themselves.
    private func fireLocalInterrupt(pin: Int, target: ControlCPUTarget) throws {
        guard Self.lvtNames.indices.contains(pin), let entry = LocalInterrupt(bhyvePin: pin) else {
            throw ControlError(code: EINVAL, message: "LVT pin \(pin) does not exist (0-6: \(Self.lvtNames.joined(separator: ", ")))")
        }
        if let localAPICs = vm.localAPICs {
            switch target {
            case .vcpu(let id): localAPICs.trigger(entry, vcpus: CPUSet([try vcpu(id).id]))
            case .all: localAPICs.trigger(entry)
            }
            return
        }
        let vcpus: [VCPU]
        switch target {
        case .vcpu(let id): vcpus = [try vcpu(id)]
        case .all: vcpus = vm.vcpus
        }
        for vcpu in vcpus {
            let action = try vcpu.perform { vcpu -> LocalInterruptAction in
                let page = try vcpu.kvm.kernelLocalAPICRegisters()
                let apicBase = try vcpu.kvm.specialRegisters().apicBase
                return Self.localInterruptAction(pin: pin, page: page, apicBase: apicBase)
            }
            switch action {
            case .none:
                break
            case .nmi:
                try vcpu.perform { try $0.injectNMI() }
            case .fixed(let vector):
                try sendFixedInterrupt(vector: vector, to: vcpu)
            case .unsupported(let what):
                throw ControlError(code: ENOSYS, message: "\(Self.lvtNames[pin]) on vCPU \(vcpu.id) would deliver \(what), "
                                   + "which KVM's local APIC cannot take from user space (a user-space local APIC can)")
            }
        }
    }

    enum LocalInterruptAction: Sendable, Equatable {
        case none
        case nmi
        case fixed(vector: Int)
        case unsupported(String)
    }

    /// What firing LVT `pin` does, from the local APIC's register page and IA32_APIC_BASE.
    static func localInterruptAction(pin: Int, page: [UInt8], apicBase: UInt64) -> LocalInterruptAction {
        func register(_ offset: Int) -> UInt32 {
            page[offset..<offset + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        let enabled = apicBase & Self.apicBaseEnable != 0 && register(Self.spuriousVectorOffset) & Self.apicSoftwareEnable != 0
        guard enabled else {
            switch pin {
            case 0: return .unsupported("ExtINT (the local APIC is disabled)")
            case 1: return .nmi
            default: return .none
            }
        }
        let entry = register(Self.lvtOffsets[pin])
        guard entry & Self.lvtMasked == 0 else { return .none }
        switch (entry >> 8) & 7 {
        case 0: return .fixed(vector: Int(entry & 0xFF))
        case 4: return .nmi
        case 2: return .unsupported("an SMI")
        case 5: return .unsupported("an INIT")
        case 7: return .unsupported("ExtINT")
        default: return .unsupported("delivery mode \((entry >> 8) & 7)")
        }
    }

    private static func checkISA(_ irq: Int, _ pin: Int?) throws(ControlError) {
        guard (0..<16).contains(irq) else { throw ControlError(code: EINVAL, message: "ISA IRQ \(irq) is outside 0-15") }
        if let pin { try checkPin(pin) }
    }

    private static func checkPin(_ pin: Int) throws(ControlError) {
        guard (0..<InterruptRouter.ioapicPinCount).contains(pin) else {
            throw ControlError(code: EINVAL, message: "I/O APIC pin \(pin) is outside 0-\(InterruptRouter.ioapicPinCount - 1)")
        }
    }

    /// The MSI address of physical destination 0, fixed delivery.
    static let msiBase: UInt64 = 0xFEE0_0000
    static let apicBaseEnable: UInt64 = 1 << 11
    static let spuriousVectorOffset = 0xF0
    static let apicSoftwareEnable: UInt32 = 1 << 8
    static let lvtMasked: UInt32 = 1 << 16
    /// bhyve's LVT pin numbers (`APIC_LVT_LINT0` ...) and their registers in the APIC page.
    static let lvtNames = ["LINT0", "LINT1", "the timer LVT", "the error LVT", "the performance-counter LVT",
                           "the thermal LVT", "the CMCI LVT"]
    static let lvtOffsets = [0x350, 0x360, 0x320, 0x370, 0x340, 0x330, 0x2F0]

    // MARK: Memory

    /// bhyve's memory map: guest RAM is `sysmem`, below 3 GiB and from 4 GiB up.
    private var memoryMap: [ControlMemoryMapEntry] {
        var offset: UInt64 = 0
        return vm.memory.segments.map { segment in
            defer { offset += segment.size }
            return ControlMemoryMapEntry(gpa: segment.guestAddress, length: segment.size, segment: "sysmem",
                                         offset: offset, protection: "rwx", wired: vm.memory.isWired)
        }
    }

    private static func checkCopyLength(_ length: Int) throws(ControlError) {
        guard (0...ControlProtocol.maximumCopyLength).contains(length) else {
            throw ControlError(code: EINVAL, message: "a guest copy moves 0-\(ControlProtocol.maximumCopyLength) bytes, not \(length)")
        }
    }

    private static func protection(_ access: ControlAccess) -> GuestPaging.Protection {
        switch access {
        case .read: .read
        case .write: .write
        case .execute: .execute
        }
    }

    private static func describe(_ fault: GuestFault, injected: Bool) -> ControlGuestFault {
        var address: UInt64?
        if case .pageFault(_, let linear) = fault { address = linear }
        return ControlGuestFault(vector: Int(fault.vector), errorCode: fault.errorCode, address: address, injected: injected)
    }

    private static func describe(_ error: GuestPagingError) -> String {
        switch error {
        case .notRAM(let error): "the walk left guest RAM: \(error)"
        case .entryKeptChanging(let address): "the guest kept rewriting the paging entry at 0x\(String(address, radix: 16))"
        }
    }

    static func reason(_ how: ControlSuspendHow) -> SuspendReason {
        switch how {
        case .reset: .reset
        case .poweroff: .powerOff
        case .halt: .halt
        case .triplefault: .tripleFault
        }
    }
}
