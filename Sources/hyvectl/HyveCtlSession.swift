import Glibc
import Hyve
import HyveControl

/// Carries out one invocation's options against one VM, in bhyvectl's order, printing as it goes.
/// The first failure ends the run (bhyvectl's `if (!error && …)` chain).
struct HyveCtlSession {
    let client: ControlClient
    let options: HyveCtlOptions

    private var vcpu: Int { options.cpu }

    func run() throws(ControlError) {
        if options.reinit { try done(.reinit) }
        for (register, value) in options.setRegisters { try done(.setRegister(vcpu: vcpu, register: register, value: value)) }
        for name in options.setDescriptors {
            let descriptor = ControlSegmentDescriptor(base: options.descriptorBase, limit: options.descriptorLimit,
                                                      access: options.descriptorAccess)
            try done(.setSegmentDescriptor(vcpu: vcpu, name: name, descriptor: descriptor))
        }
        if let bytes = options.copyOut, let gla = options.gla {
            let response = try client.call(.copyOut(vcpu: vcpu, gla: gla, bytes: bytes))
            if case .guestFault(let fault) = response { print(HyveCtlFormat.translation(vcpu: vcpu, gla: gla, fault: fault)) }
        }
        if options.injectNMI { try done(.injectNMI(vcpu: vcpu)) }
        if let pin = options.assertLAPICLVT {
            try done(.lapicLocalIRQ(target: vcpu == -1 ? .all : .vcpu(vcpu), pin: pin))
        }
        if let vector = options.injectException {
            try done(.injectException(vcpu: vcpu, vector: vector, errorCode: options.errorCode,
                                      restart: options.restartInstruction))
        }
        if let vector = options.lapicIRQ { try done(.lapicIRQ(vcpu: vcpu, vector: vector)) }
        for request in options.interruptLines { try done(request) }
        try printMemory()
        try printRegisters()
        if options.getX2APICState || options.getAll {
            print("x2apic_state[\(vcpu)]\t\(try value(.getX2APICState(vcpu: vcpu)))")
        }
        try printGuestMemory()
        if let value = options.setRTCNVRAM { try done(.rtcWrite(offset: options.rtcNVRAMOffset, value: value)) }
        if options.getRTCNVRAM || options.getAll {
            print(HyveCtlFormat.rtcNVRAM(offset: options.rtcNVRAMOffset, try value(.rtcRead(offset: options.rtcNVRAMOffset))))
        }
        if let seconds = options.setRTCTime { try done(.rtcSetTime(seconds: seconds)) }
        if options.getRTCTime || options.getAll {
            guard case .time(let seconds) = try client.call(.rtcGetTime) else { throw Self.unexpected }
            print(HyveCtlFormat.rtcTime(seconds))
        }
        if options.getActiveCPUs || options.getAll { print(HyveCtlFormat.cpus("active cpus", try cpus(.getActiveCPUs))) }
        if options.getSuspendedCPUs || options.getAll { print(HyveCtlFormat.cpus("suspended cpus", try cpus(.getSuspendedCPUs))) }
        if options.getIntinfo || options.getAll {
            guard case .intinfo(let info1, let info2) = try client.call(.getIntinfo(vcpu: vcpu)) else { throw Self.unexpected }
            print(HyveCtlFormat.intinfo("pending", info1))
            print(HyveCtlFormat.intinfo("current", info2))
        }
        if options.getStats || options.getAll {
            guard case .stats(let stats) = try client.call(.getStats(vcpu: vcpu)) else { throw Self.unexpected }
            HyveCtlFormat.stats(vcpu: vcpu, stats).forEach { print($0) }
        }
        if options.getTopology || options.getAll {
            guard case .topology(let topology) = try client.call(.getTopology) else { throw Self.unexpected }
            print(HyveCtlFormat.topology(topology))
        }
        if options.forceReset { try done(.suspend(how: .reset)) }
        if options.forcePoweroff { try done(.suspend(how: .poweroff)) }
        if options.destroy { try done(.destroy) }
    }

    private func printMemory() throws(ControlError) {
        guard options.getMemmap || options.getLowmem || options.getHighmem || options.getAll else { return }
        guard case .memoryMap(let entries) = try client.call(.getMemoryMap) else { throw Self.unexpected }
        if options.getLowmem || options.getAll {
            let low = entries.first { $0.segment == "sysmem" && $0.gpa < Self.highMemoryBase }
            print(HyveCtlFormat.memory("lowmem", gpa: 0, length: low?.length ?? 0, wired: low?.wired ?? false))
        }
        if options.getHighmem || options.getAll {
            let high = entries.first { $0.segment == "sysmem" && $0.gpa >= Self.highMemoryBase }
            print(HyveCtlFormat.memory("highmem", gpa: Self.highMemoryBase, length: high?.length ?? 0, wired: high?.wired ?? false))
        }
        if options.getMemmap || options.getAll { HyveCtlFormat.memoryMap(entries).forEach { print($0) } }
    }

    /// `--get-all` reads every register in one stop; single `--get-REG` options read one each.
    private func printRegisters() throws(ControlError) {
        let registers = options.getAll ? Set(ControlRegister.allCases) : options.getRegisters
        let descriptors = options.getAll ? Set(ControlDescriptorName.allCases) : options.getDescriptors
        guard !registers.isEmpty || !descriptors.isEmpty else { return }
        var state: ControlVCPUState?
        if options.getAll {
            guard case .vcpuState(let all) = try client.call(.getAll(vcpu: vcpu)) else { throw Self.unexpected }
            state = all
        }
        for register in HyveCtlFormat.registerOrder where registers.contains(register) {
            print(HyveCtlFormat.register(register, vcpu: vcpu, try registerValue(register, in: state)))
        }
        for name in HyveCtlFormat.descriptorOrder where descriptors.contains(name) {
            var descriptor = state?[descriptor: name]
            if descriptor == nil {
                guard case .descriptor(let one) = try client.call(.getSegmentDescriptor(vcpu: vcpu, name: name)) else {
                    throw Self.unexpected
                }
                descriptor = one
            }
            print(HyveCtlFormat.descriptor(name, vcpu: vcpu, descriptor!))
        }
        for register in HyveCtlFormat.selectorOrder where registers.contains(register) {
            print(HyveCtlFormat.register(register, vcpu: vcpu, try registerValue(register, in: state)))
        }
    }

    private func registerValue(_ register: ControlRegister, in state: ControlVCPUState?) throws(ControlError) -> UInt64 {
        if let value = state?[register] { return value }
        return try value(.getRegister(vcpu: vcpu, register: register))
    }

    private func printGuestMemory() throws(ControlError) {
        guard let gla = options.gla else { return }
        for (asked, request) in [(options.gla2gpa, ControlRequest.gla2gpa(vcpu: vcpu, gla: gla, access: options.access)),
                                 (options.gla2gpaNoFault, .gla2gpaNoFault(vcpu: vcpu, gla: gla, access: options.access))] where asked {
            switch try client.call(request) {
            case .translation(let gpa): print(HyveCtlFormat.translation(vcpu: vcpu, gla: gla, gpa: gpa))
            case .guestFault(let fault): print(HyveCtlFormat.translation(vcpu: vcpu, gla: gla, fault: fault))
            default: throw Self.unexpected
            }
        }
        if let length = options.copyIn {
            switch try client.call(.copyIn(vcpu: vcpu, gla: gla, length: length)) {
            case .bytes(let bytes): HyveCtlFormat.dump(bytes, at: gla).forEach { print($0) }
            case .guestFault(let fault): print(HyveCtlFormat.translation(vcpu: vcpu, gla: gla, fault: fault))
            default: throw Self.unexpected
            }
        }
    }

    private func done(_ request: ControlRequest) throws(ControlError) {
        guard case .done = try client.call(request) else { throw Self.unexpected }
    }

    private func value(_ request: ControlRequest) throws(ControlError) -> UInt64 {
        guard case .value(let value) = try client.call(request) else { throw Self.unexpected }
        return value
    }

    private func cpus(_ request: ControlRequest) throws(ControlError) -> [Int] {
        guard case .cpus(let cpus) = try client.call(request) else { throw Self.unexpected }
        return cpus
    }

    private static let unexpected = ControlError(code: EPROTO, message: "the VM answered with an unexpected response")
    private static let highMemoryBase: UInt64 = 4 << 30
}
