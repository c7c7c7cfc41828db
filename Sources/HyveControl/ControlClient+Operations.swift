import Glibc

/// Typed calls, the counterpart of libvmmapi's `vm_get_register`, `vm_inject_nmi` and the rest:
/// each sends one request, turns an error response into a thrown ``ControlError`` and a response
/// of the wrong kind into `EPROTO`.
extension ControlClient {
    /// Connects to the VM called `name` in `directory` (see ``ControlSocketPath``); a VM that is
    /// not running is reported as `ENOENT` with its name.
    public convenience init(vm name: String, directory: String = ControlSocketPath.directory(),
                            timeout: Duration = .seconds(5)) throws(ControlError) {
        let path = try ControlSocketPath.path(for: name, in: directory)
        do {
            try self.init(path: path, timeout: timeout)
        } catch where error.code == ENOENT || error.code == ECONNREFUSED {
            throw ControlError(code: ENOENT, message: "no VM named '\(name)' is running (no control socket at '\(path)')")
        }
    }

    /// Sends `request`; an error response is thrown.
    public func call(_ request: ControlRequest) throws(ControlError) -> ControlResponse {
        let response = try send(request)
        if case .error(let error) = response { throw error }
        return response
    }

    /// `VM_GET_CPUS` (ACTIVE).
    public func activeCPUs() throws(ControlError) -> [Int] {
        try cpus(.getActiveCPUs)
    }

    /// `VM_GET_CPUS` (SUSPENDED).
    public func suspendedCPUs() throws(ControlError) -> [Int] {
        try cpus(.getSuspendedCPUs)
    }

    /// `VM_GET_REGISTER`.
    public func register(_ register: ControlRegister, vcpu: Int = 0) throws(ControlError) -> UInt64 {
        try value(.getRegister(vcpu: vcpu, register: register))
    }

    /// `VM_SET_REGISTER`.
    public func setRegister(_ register: ControlRegister, to value: UInt64, vcpu: Int = 0) throws(ControlError) {
        try done(.setRegister(vcpu: vcpu, register: register, value: value))
    }

    /// `VM_GET_SEGMENT_DESCRIPTOR`.
    public func descriptor(_ name: ControlDescriptorName, vcpu: Int = 0) throws(ControlError) -> ControlSegmentDescriptor {
        let response = try call(.getSegmentDescriptor(vcpu: vcpu, name: name))
        guard case .descriptor(let descriptor) = response else { throw Self.unexpected(response) }
        return descriptor
    }

    /// Every register and descriptor of `vcpu`, read in one stop.
    public func vcpuState(vcpu: Int = 0) throws(ControlError) -> ControlVCPUState {
        let response = try call(.getAll(vcpu: vcpu))
        guard case .vcpuState(let state) = response else { throw Self.unexpected(response) }
        return state
    }

    /// `VM_INJECT_NMI`.
    public func injectNMI(vcpu: Int = 0) throws(ControlError) {
        try done(.injectNMI(vcpu: vcpu))
    }

    /// `VM_INJECT_EXCEPTION`.
    public func injectException(_ vector: Int, errorCode: UInt32? = nil, restart: Bool = true, vcpu: Int = 0) throws(ControlError) {
        try done(.injectException(vcpu: vcpu, vector: vector, errorCode: errorCode, restart: restart))
    }

    /// `VM_SUSPEND`.
    public func suspend(_ how: ControlSuspendHow) throws(ControlError) {
        try done(.suspend(how: how))
    }

    /// `VM_GLA2GPA_NOFAULT`: the guest-physical address, or nil where the access would fault.
    public func translate(_ gla: UInt64, for access: ControlAccess = .read, vcpu: Int = 0) throws(ControlError) -> UInt64? {
        let response = try call(.gla2gpaNoFault(vcpu: vcpu, gla: gla, access: access))
        guard case .translation(let gpa) = response else { throw Self.unexpected(response) }
        return gpa
    }

    /// `vm_copyin`: `length` bytes at guest-linear `gla`; a fault is thrown as `EFAULT`.
    public func copyIn(from gla: UInt64, length: Int, vcpu: Int = 0) throws(ControlError) -> [UInt8] {
        let response = try call(.copyIn(vcpu: vcpu, gla: gla, length: length))
        switch response {
        case .bytes(let bytes): return bytes
        case .guestFault(let fault): throw Self.faultError(fault, at: gla)
        default: throw Self.unexpected(response)
        }
    }

    /// `vm_copyout`: writes `bytes` at guest-linear `gla`; a fault is thrown as `EFAULT`.
    public func copyOut(_ bytes: [UInt8], to gla: UInt64, vcpu: Int = 0) throws(ControlError) {
        let response = try call(.copyOut(vcpu: vcpu, gla: gla, bytes: bytes))
        switch response {
        case .done: return
        case .guestFault(let fault): throw Self.faultError(fault, at: gla)
        default: throw Self.unexpected(response)
        }
    }

    private func cpus(_ request: ControlRequest) throws(ControlError) -> [Int] {
        let response = try call(request)
        guard case .cpus(let cpus) = response else { throw Self.unexpected(response) }
        return cpus
    }

    private func value(_ request: ControlRequest) throws(ControlError) -> UInt64 {
        let response = try call(request)
        guard case .value(let value) = response else { throw Self.unexpected(response) }
        return value
    }

    private func done(_ request: ControlRequest) throws(ControlError) {
        let response = try call(request)
        guard case .done = response else { throw Self.unexpected(response) }
    }

    private static func unexpected(_ response: ControlResponse) -> ControlError {
        ControlError(code: EPROTO, message: "unexpected control response \(response)")
    }

    private static func faultError(_ fault: ControlGuestFault, at gla: UInt64) -> ControlError {
        let address = fault.address.map { " at 0x\(String($0, radix: 16))" } ?? ""
        return ControlError(code: EFAULT, message: "guest access to 0x\(String(gla, radix: 16)) faults: vector \(fault.vector), "
                            + "error code 0x\(String(fault.errorCode, radix: 16))\(address)")
    }
}
