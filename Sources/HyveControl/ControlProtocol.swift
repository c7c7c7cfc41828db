#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Constants of Hyve's control protocol: JSON objects, one per message, over a Unix stream socket.
///
/// Every request and response carries `"version"`. A request names its operation in `"request"`
/// after the bhyve ioctl or bhyvectl option it mirrors; a response names its payload in
/// `"result"` (`"error"` for a failure). All other fields sit beside those two, flat, so a message
/// can be typed by hand: `{"version":1,"request":"getRegister","vcpu":0,"register":"rip"}`.
public enum ControlProtocol {
    /// The protocol version this library speaks.
    public static let version = 1

    /// The largest message, in bytes, either side accepts; a longer one ends its connection.
    public static let maximumMessageSize = 1 << 20

    /// The most bytes one `copyIn` or `copyOut` moves: hex-encoded, they fit a message.
    public static let maximumCopyLength = 64 * 1024

    /// `bytes` as lowercase hexadecimal, two digits a byte: how guest data travels in `"data"`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of a hexadecimal string (either case, an even number of digits), or nil.
    public static func bytes(hex text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// How `suspend` stops the VM, as `VM_SUSPEND`'s `how`; it also decides `hyve`'s exit status,
/// 0, 1, 2 or 3 in the order listed, as bhyve's.
public enum ControlSuspendHow: String, Codable, Sendable, CaseIterable {
    case reset, poweroff, halt, triplefault
}

/// The registers `getRegister` / `setRegister` address, spelt as bhyvectl's `--get-REG` options.
public enum ControlRegister: String, Codable, Sendable, CaseIterable {
    case rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp
    case r8, r9, r10, r11, r12, r13, r14, r15
    case rip, rflags
    case cr0, cr2, cr3, cr4
    case dr0, dr1, dr2, dr3, dr6, dr7
    case efer
    case cs, ds, es, fs, gs, ss, tr, ldtr
}

/// The descriptor registers `getSegmentDescriptor` / `setSegmentDescriptor` address, as
/// bhyvectl's `--get-desc-NAME` options.
public enum ControlDescriptorName: String, Codable, Sendable, CaseIterable {
    case es, cs, ss, ds, fs, gs, ldtr, tr, gdtr, idtr
}

/// A segment descriptor's hidden part, as `struct seg_desc`: `access` is the VMX
/// access-rights layout bhyve uses on both VMX and SVM (type, S, DPL, P, AVL, L, D/B, G, unusable).
public struct ControlSegmentDescriptor: Codable, Sendable, Hashable {
    /// The segment's linear base address.
    public var base: UInt64
    /// The segment's limit in bytes, granularity already applied.
    public var limit: UInt32
    /// The access rights.
    public var access: UInt32

    /// A descriptor with the given fields.
    public init(base: UInt64, limit: UInt32, access: UInt32) {
        self.base = base
        self.limit = limit
        self.access = access
    }
}

/// The access a `gla2gpa` translation is checked for, as the walk's `prot` (PROT_READ,
/// PROT_WRITE or PROT_EXEC).
public enum ControlAccess: String, Codable, Sendable, CaseIterable {
    case read, write, execute
}

/// An exception a guest-linear access raised: what `gla2gpa` and the guest copies report when
/// the walk faults.
public struct ControlGuestFault: Codable, Sendable, Hashable {
    /// 14 (#PF) or 13 (#GP, for a non-canonical address).
    public var vector: Int
    /// The error code the exception pushes.
    public var errorCode: UInt32
    /// The faulting linear address (CR2) of a #PF.
    public var address: UInt64?
    /// Whether the exception was injected into the guest (`VM_GLA2GPA`) or only reported.
    public var injected: Bool

    /// A fault with the given fields.
    public init(vector: Int, errorCode: UInt32, address: UInt64?, injected: Bool) {
        self.vector = vector
        self.errorCode = errorCode
        self.address = address
        self.injected = injected
    }
}

/// One vCPU's registers and descriptors, read in one stop of the vCPU: `getAll`'s answer (the
/// seed's "dump of hypervisor register state", bhyvectl's `--get-all`).
public struct ControlVCPUState: Codable, Sendable, Hashable {
    /// Values by ``ControlRegister`` name.
    public var registers: [String: UInt64]
    /// Descriptors by ``ControlDescriptorName`` name.
    public var descriptors: [String: ControlSegmentDescriptor]

    /// A state with every register and descriptor given.
    public init(registers: [ControlRegister: UInt64], descriptors: [ControlDescriptorName: ControlSegmentDescriptor]) {
        self.registers = Dictionary(uniqueKeysWithValues: registers.map { ($0.key.rawValue, $0.value) })
        self.descriptors = Dictionary(uniqueKeysWithValues: descriptors.map { ($0.key.rawValue, $0.value) })
    }

    /// The value of `register`, if the state holds it.
    public subscript(register: ControlRegister) -> UInt64? { registers[register.rawValue] }

    /// The descriptor `name`, if the state holds it.
    public subscript(descriptor name: ControlDescriptorName) -> ControlSegmentDescriptor? { descriptors[name.rawValue] }
}

/// Which vCPUs `lapicLocalIRQ` reaches: one, or all of them (bhyve's vcpuid −1).
public enum ControlCPUTarget: Sendable, Hashable {
    case vcpu(Int)
    case all
}

/// One guest-physical mapping, as `VM_MMAP_GETNEXT` reports it and bhyvectl's `--get-memmap`
/// prints it.
public struct ControlMemoryMapEntry: Codable, Sendable, Hashable {
    /// Guest-physical start.
    public var gpa: UInt64
    /// Length in bytes.
    public var length: UInt64
    /// The memory segment mapped: `"sysmem"` for guest RAM, else the device memory's name.
    public var segment: String
    /// Offset of the mapping within its segment.
    public var offset: UInt64
    /// Protection as `r`, `w`, `x` or `-` in three places, as bhyvectl prints it.
    public var protection: String
    /// Whether the host memory behind it is wired (`VM_MEMMAP_F_WIRED`).
    public var wired: Bool

    /// A mapping with the given fields.
    public init(gpa: UInt64, length: UInt64, segment: String, offset: UInt64, protection: String, wired: Bool) {
        self.gpa = gpa
        self.length = length
        self.segment = segment
        self.offset = offset
        self.protection = protection
        self.wired = wired
    }
}

/// The CPU topology the guest sees, as `VM_GET_TOPOLOGY`.
public struct ControlTopology: Codable, Sendable, Hashable {
    /// Sockets (packages).
    public var sockets: Int
    /// Cores per socket.
    public var cores: Int
    /// Threads per core.
    public var threads: Int
    /// The most vCPUs the VM can have.
    public var maxCPUs: Int

    /// A topology with the given counts.
    public init(sockets: Int, cores: Int, threads: Int, maxCPUs: Int) {
        self.sockets = sockets
        self.cores = cores
        self.threads = threads
        self.maxCPUs = maxCPUs
    }
}

/// A failure as an errno value and one line for a person; both travel in an `"error"` response
/// and are what this library throws.
public struct ControlError: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    /// An errno value (`EINVAL`, `ENOSYS`, `EBUSY`, ...).
    public var code: Int32
    /// One line, without a trailing newline.
    public var message: String

    /// A failure with errno `code`; line breaks in `message` become spaces so it stays one line.
    public init(code: Int32, message: String) {
        self.code = code
        self.message = String(message.map { $0.isNewline ? " " : $0 })
    }

    public var description: String { message }
}

/// One operation on a running VM, named after the bhyve ioctl or bhyvectl option it mirrors.
public enum ControlRequest: Sendable, Hashable {
    /// `VM_GET_CPUS` (ACTIVE): the vCPUs that have started.
    case getActiveCPUs
    /// `VM_GET_CPUS` (SUSPENDED): the vCPUs that stopped for a VM-wide suspend.
    case getSuspendedCPUs
    /// `VM_SUSPEND`: bhyvectl's `--force-reset` (`reset`) and `--force-poweroff` (`poweroff`).
    case suspend(how: ControlSuspendHow)
    /// `VM_REINIT`: reset the VM's devices and vCPUs once all have suspended.
    case reinit
    /// `VM_GET_REGISTER`.
    case getRegister(vcpu: Int, register: ControlRegister)
    /// `VM_SET_REGISTER`.
    case setRegister(vcpu: Int, register: ControlRegister, value: UInt64)
    /// `VM_GET_SEGMENT_DESCRIPTOR`.
    case getSegmentDescriptor(vcpu: Int, name: ControlDescriptorName)
    /// `VM_SET_SEGMENT_DESCRIPTOR`.
    case setSegmentDescriptor(vcpu: Int, name: ControlDescriptorName, descriptor: ControlSegmentDescriptor)
    /// `VM_GET_INTINFO`: the event a VM exit interrupted and the pending exception.
    case getIntinfo(vcpu: Int)
    /// `VM_INJECT_NMI`.
    case injectNMI(vcpu: Int)
    /// `VM_INJECT_EXCEPTION`; `restart` re-executes the faulting instruction afterwards.
    case injectException(vcpu: Int, vector: Int, errorCode: UInt32?, restart: Bool)
    /// `VM_LAPIC_IRQ`: an edge interrupt at `vector` to one vCPU's local APIC.
    case lapicIRQ(vcpu: Int, vector: Int)
    /// `VM_LAPIC_LOCAL_IRQ`: fire LVT entry `pin` on one vCPU or all (bhyvectl's `--assert-lapic-lvt`).
    case lapicLocalIRQ(target: ControlCPUTarget, pin: Int)
    /// `VM_ISA_ASSERT_IRQ`: the 8259 IRQ, and the I/O APIC pin when one is given.
    case isaAssert(irq: Int, ioapicPin: Int?)
    /// `VM_ISA_DEASSERT_IRQ`.
    case isaDeassert(irq: Int, ioapicPin: Int?)
    /// `VM_ISA_PULSE_IRQ`.
    case isaPulse(irq: Int, ioapicPin: Int?)
    /// `VM_IOAPIC_ASSERT_IRQ`.
    case ioapicAssert(pin: Int)
    /// `VM_IOAPIC_DEASSERT_IRQ`.
    case ioapicDeassert(pin: Int)
    /// `VM_IOAPIC_PULSE_IRQ`.
    case ioapicPulse(pin: Int)
    /// `VM_LAPIC_MSI`.
    case lapicMSI(address: UInt64, data: UInt64)
    /// `VM_STATS`: one vCPU's counters by name.
    case getStats(vcpu: Int)
    /// `VM_MMAP_GETNEXT`, iterated: the whole guest-physical map.
    case getMemoryMap
    /// `VM_GET_TOPOLOGY`.
    case getTopology
    /// `VM_RTC_GETTIME`: the RTC's time in seconds since the epoch.
    case rtcGetTime
    /// `VM_RTC_SETTIME`.
    case rtcSetTime(seconds: Int64)
    /// `VM_RTC_READ`: one CMOS byte.
    case rtcRead(offset: Int)
    /// `VM_RTC_WRITE`: one CMOS byte.
    case rtcWrite(offset: Int, value: UInt8)
    /// `VM_GLA2GPA`: translate a guest-linear address with the vCPU's paging state, setting
    /// Accessed/Dirty bits as the access would and injecting the fault if it faults.
    case gla2gpa(vcpu: Int, gla: UInt64, access: ControlAccess)
    /// `VM_GLA2GPA_NOFAULT`: translate without side effects (no A/D updates, nothing injected).
    case gla2gpaNoFault(vcpu: Int, gla: UInt64, access: ControlAccess)
    /// bhyve's `vm_copyin`: `length` bytes (at most ``ControlProtocol/maximumCopyLength``) read
    /// through the vCPU's page tables from guest-linear `gla`. A fault is reported, not injected.
    case copyIn(vcpu: Int, gla: UInt64, length: Int)
    /// bhyve's `vm_copyout`: `bytes` written through the vCPU's page tables at guest-linear `gla`;
    /// every page is translated before a byte moves. A fault is reported, not injected.
    case copyOut(vcpu: Int, gla: UInt64, bytes: [UInt8])
    /// Every register and descriptor of one vCPU in one stop (bhyvectl's `--get-all`).
    case getAll(vcpu: Int)
    /// `VM_GET_X2APIC_STATE`: 1 when the vCPU may use x2APIC mode (CPUID offers it), else 0.
    case getX2APICState(vcpu: Int)
    /// `VM_SUSPEND` with `VM_SUSPEND_DESTROY` (bhyvectl's `--destroy`): the VM stops and its
    /// `hyve` process ends with status 4, as bhyve's does.
    case destroy

    /// The operation's name, the value of the message's `"request"` field.
    public var kind: String {
        switch self {
        case .getActiveCPUs: "getActiveCPUs"
        case .getSuspendedCPUs: "getSuspendedCPUs"
        case .suspend: "suspend"
        case .reinit: "reinit"
        case .getRegister: "getRegister"
        case .setRegister: "setRegister"
        case .getSegmentDescriptor: "getSegmentDescriptor"
        case .setSegmentDescriptor: "setSegmentDescriptor"
        case .getIntinfo: "getIntinfo"
        case .injectNMI: "injectNMI"
        case .injectException: "injectException"
        case .lapicIRQ: "lapicIRQ"
        case .lapicLocalIRQ: "lapicLocalIRQ"
        case .isaAssert: "isaAssert"
        case .isaDeassert: "isaDeassert"
        case .isaPulse: "isaPulse"
        case .ioapicAssert: "ioapicAssert"
        case .ioapicDeassert: "ioapicDeassert"
        case .ioapicPulse: "ioapicPulse"
        case .lapicMSI: "lapicMSI"
        case .getStats: "getStats"
        case .getMemoryMap: "getMemoryMap"
        case .getTopology: "getTopology"
        case .rtcGetTime: "rtcGetTime"
        case .rtcSetTime: "rtcSetTime"
        case .rtcRead: "rtcRead"
        case .rtcWrite: "rtcWrite"
        case .gla2gpa: "gla2gpa"
        case .gla2gpaNoFault: "gla2gpaNoFault"
        case .copyIn: "copyIn"
        case .copyOut: "copyOut"
        case .getAll: "getAll"
        case .getX2APICState: "getX2APICState"
        case .destroy: "destroy"
        }
    }

    /// Every request name this version knows.
    public static let kinds: Set<String> = [
        "getActiveCPUs", "getSuspendedCPUs", "suspend", "reinit", "getRegister", "setRegister",
        "getSegmentDescriptor", "setSegmentDescriptor", "getIntinfo", "injectNMI", "injectException",
        "lapicIRQ", "lapicLocalIRQ", "isaAssert", "isaDeassert", "isaPulse", "ioapicAssert",
        "ioapicDeassert", "ioapicPulse", "lapicMSI", "getStats", "getMemoryMap", "getTopology",
        "rtcGetTime", "rtcSetTime", "rtcRead", "rtcWrite", "gla2gpa", "gla2gpaNoFault", "copyIn", "copyOut",
        "getAll", "getX2APICState", "destroy",
    ]
}

/// A response: a typed payload, or an error.
public enum ControlResponse: Sendable, Hashable {
    /// The operation was done and has nothing to report.
    case done
    /// A set of vCPU ids, ascending.
    case cpus([Int])
    /// A register's or CMOS byte's value.
    case value(UInt64)
    /// A segment descriptor.
    case descriptor(ControlSegmentDescriptor)
    /// `VM_GET_INTINFO`'s two words.
    case intinfo(info1: UInt64, info2: UInt64)
    /// Counters by name.
    case stats([String: UInt64])
    /// The guest-physical map, by ascending address.
    case memoryMap([ControlMemoryMapEntry])
    /// The CPU topology.
    case topology(ControlTopology)
    /// A time in seconds since the epoch.
    case time(seconds: Int64)
    /// A `gla2gpa` result: the guest-physical address, or nil when the walk faulted.
    case translation(gpa: UInt64?)
    /// Guest memory read by `copyIn`.
    case bytes([UInt8])
    /// The guest access faulted: `gla2gpa` (injected) or a guest copy (only reported).
    case guestFault(ControlGuestFault)
    /// A vCPU's registers and descriptors.
    case vcpuState(ControlVCPUState)
    /// The operation failed.
    case error(ControlError)

    /// An error response with errno `code` and one line of `message`.
    public static func failure(_ code: Int32, _ message: String) -> ControlResponse {
        .error(ControlError(code: code, message: message))
    }
}

private enum ControlField: String, CodingKey {
    case version, request, result
    case vcpu, register, value, name, descriptor, vector, errorCode, restart, pin, irq, ioapicPin
    case address, data, seconds, offset, gla, access, how
    case cpus, info1, info2, stats, memoryMap, topology, gpa, code, message
    case length, fault, state
}

extension ControlRequest: Codable {
    public func encode(to encoder: any Encoder) throws {
        var fields = encoder.container(keyedBy: ControlField.self)
        try fields.encode(ControlProtocol.version, forKey: .version)
        try fields.encode(kind, forKey: .request)
        switch self {
        case .getActiveCPUs, .getSuspendedCPUs, .reinit, .getMemoryMap, .getTopology, .rtcGetTime, .destroy:
            break
        case .suspend(let how):
            try fields.encode(how, forKey: .how)
        case .getRegister(let vcpu, let register):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(register, forKey: .register)
        case .setRegister(let vcpu, let register, let value):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(register, forKey: .register)
            try fields.encode(value, forKey: .value)
        case .getSegmentDescriptor(let vcpu, let name):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(name, forKey: .name)
        case .setSegmentDescriptor(let vcpu, let name, let descriptor):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(name, forKey: .name)
            try fields.encode(descriptor, forKey: .descriptor)
        case .getIntinfo(let vcpu), .injectNMI(let vcpu), .getStats(let vcpu), .getAll(let vcpu), .getX2APICState(let vcpu):
            try fields.encode(vcpu, forKey: .vcpu)
        case .injectException(let vcpu, let vector, let errorCode, let restart):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(vector, forKey: .vector)
            try fields.encodeIfPresent(errorCode, forKey: .errorCode)
            try fields.encode(restart, forKey: .restart)
        case .lapicIRQ(let vcpu, let vector):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(vector, forKey: .vector)
        case .lapicLocalIRQ(let target, let pin):
            switch target {
            case .vcpu(let vcpu): try fields.encode(vcpu, forKey: .vcpu)
            case .all: try fields.encode("all", forKey: .vcpu)
            }
            try fields.encode(pin, forKey: .pin)
        case .isaAssert(let irq, let ioapicPin), .isaDeassert(let irq, let ioapicPin), .isaPulse(let irq, let ioapicPin):
            try fields.encode(irq, forKey: .irq)
            try fields.encodeIfPresent(ioapicPin, forKey: .ioapicPin)
        case .ioapicAssert(let pin), .ioapicDeassert(let pin), .ioapicPulse(let pin):
            try fields.encode(pin, forKey: .pin)
        case .lapicMSI(let address, let data):
            try fields.encode(address, forKey: .address)
            try fields.encode(data, forKey: .data)
        case .rtcSetTime(let seconds):
            try fields.encode(seconds, forKey: .seconds)
        case .rtcRead(let offset):
            try fields.encode(offset, forKey: .offset)
        case .rtcWrite(let offset, let value):
            try fields.encode(offset, forKey: .offset)
            try fields.encode(value, forKey: .value)
        case .gla2gpa(let vcpu, let gla, let access), .gla2gpaNoFault(let vcpu, let gla, let access):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(gla, forKey: .gla)
            try fields.encode(access, forKey: .access)
        case .copyIn(let vcpu, let gla, let length):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(gla, forKey: .gla)
            try fields.encode(length, forKey: .length)
        case .copyOut(let vcpu, let gla, let bytes):
            try fields.encode(vcpu, forKey: .vcpu)
            try fields.encode(gla, forKey: .gla)
            try fields.encode(ControlProtocol.hex(bytes), forKey: .data)
        }
    }

    /// Decodes a request; ``ControlRequest/decode(_:)`` sorts the failures into responses.
    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: ControlField.self)
        let version = try fields.decode(Int.self, forKey: .version)
        guard version == ControlProtocol.version else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: fields,
                                                   debugDescription: "unsupported protocol version \(version)")
        }
        let kind = try fields.decode(String.self, forKey: .request)
        // JSONDecoder throws a private error type for a number its type cannot hold; name the field.
        func number<T: FixedWidthInteger & Decodable>(_ key: ControlField, as type: T.Type = T.self) throws -> T {
            do {
                return try fields.decode(T.self, forKey: key)
            } catch let error as DecodingError {
                throw error
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: fields,
                                                       debugDescription: "out of range for \(T.self)")
            }
        }
        func vcpu() throws -> Int { try number(.vcpu) }
        func int(_ key: ControlField) throws -> Int { try number(key) }
        func u64(_ key: ControlField) throws -> UInt64 { try number(key) }
        switch kind {
        case "getActiveCPUs": self = .getActiveCPUs
        case "getSuspendedCPUs": self = .getSuspendedCPUs
        case "suspend": self = .suspend(how: try fields.decode(ControlSuspendHow.self, forKey: .how))
        case "reinit": self = .reinit
        case "getRegister":
            self = .getRegister(vcpu: try vcpu(), register: try fields.decode(ControlRegister.self, forKey: .register))
        case "setRegister":
            self = .setRegister(vcpu: try vcpu(), register: try fields.decode(ControlRegister.self, forKey: .register),
                                value: try u64(.value))
        case "getSegmentDescriptor":
            self = .getSegmentDescriptor(vcpu: try vcpu(), name: try fields.decode(ControlDescriptorName.self, forKey: .name))
        case "setSegmentDescriptor":
            self = .setSegmentDescriptor(vcpu: try vcpu(), name: try fields.decode(ControlDescriptorName.self, forKey: .name),
                                         descriptor: try fields.decode(ControlSegmentDescriptor.self, forKey: .descriptor))
        case "getIntinfo": self = .getIntinfo(vcpu: try vcpu())
        case "injectNMI": self = .injectNMI(vcpu: try vcpu())
        case "injectException":
            self = .injectException(vcpu: try vcpu(), vector: try int(.vector),
                                    errorCode: try !fields.contains(.errorCode) || fields.decodeNil(forKey: .errorCode) ? nil : try number(.errorCode, as: UInt32.self),
                                    restart: try fields.decodeIfPresent(Bool.self, forKey: .restart) ?? false)
        case "lapicIRQ": self = .lapicIRQ(vcpu: try vcpu(), vector: try int(.vector))
        case "lapicLocalIRQ":
            let target: ControlCPUTarget
            if let all = try? fields.decode(String.self, forKey: .vcpu) {
                guard all == "all" else {
                    throw DecodingError.dataCorruptedError(forKey: .vcpu, in: fields,
                                                           debugDescription: "expected a vCPU number or \"all\"")
                }
                target = .all
            } else {
                target = .vcpu(try vcpu())
            }
            self = .lapicLocalIRQ(target: target, pin: try int(.pin))
        case "isaAssert": self = .isaAssert(irq: try int(.irq), ioapicPin: try fields.decodeIfPresent(Int.self, forKey: .ioapicPin))
        case "isaDeassert": self = .isaDeassert(irq: try int(.irq), ioapicPin: try fields.decodeIfPresent(Int.self, forKey: .ioapicPin))
        case "isaPulse": self = .isaPulse(irq: try int(.irq), ioapicPin: try fields.decodeIfPresent(Int.self, forKey: .ioapicPin))
        case "ioapicAssert": self = .ioapicAssert(pin: try int(.pin))
        case "ioapicDeassert": self = .ioapicDeassert(pin: try int(.pin))
        case "ioapicPulse": self = .ioapicPulse(pin: try int(.pin))
        case "lapicMSI": self = .lapicMSI(address: try u64(.address), data: try u64(.data))
        case "getStats": self = .getStats(vcpu: try vcpu())
        case "getMemoryMap": self = .getMemoryMap
        case "getTopology": self = .getTopology
        case "rtcGetTime": self = .rtcGetTime
        case "rtcSetTime": self = .rtcSetTime(seconds: try number(.seconds))
        case "rtcRead": self = .rtcRead(offset: try int(.offset))
        case "rtcWrite": self = .rtcWrite(offset: try int(.offset), value: try number(.value))
        case "gla2gpa":
            self = .gla2gpa(vcpu: try vcpu(), gla: try u64(.gla), access: try fields.decode(ControlAccess.self, forKey: .access))
        case "gla2gpaNoFault":
            self = .gla2gpaNoFault(vcpu: try vcpu(), gla: try u64(.gla),
                                   access: try fields.decode(ControlAccess.self, forKey: .access))
        case "copyIn": self = .copyIn(vcpu: try vcpu(), gla: try u64(.gla), length: try int(.length))
        case "copyOut":
            self = .copyOut(vcpu: try vcpu(), gla: try u64(.gla), bytes: try Self.hexField(.data, in: fields))
        case "getAll": self = .getAll(vcpu: try vcpu())
        case "getX2APICState": self = .getX2APICState(vcpu: try vcpu())
        case "destroy": self = .destroy
        default:
            throw DecodingError.dataCorruptedError(forKey: .request, in: fields, debugDescription: "unknown request '\(kind)'")
        }
    }

    fileprivate static func hexField(_ key: ControlField, in fields: KeyedDecodingContainer<ControlField>) throws -> [UInt8] {
        guard let bytes = ControlProtocol.bytes(hex: try fields.decode(String.self, forKey: key)) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: fields, debugDescription: "expected hexadecimal digits in pairs")
        }
        return bytes
    }
}

extension ControlResponse: Codable {
    public func encode(to encoder: any Encoder) throws {
        var fields = encoder.container(keyedBy: ControlField.self)
        try fields.encode(ControlProtocol.version, forKey: .version)
        switch self {
        case .done:
            try fields.encode("done", forKey: .result)
        case .cpus(let cpus):
            try fields.encode("cpus", forKey: .result)
            try fields.encode(cpus, forKey: .cpus)
        case .value(let value):
            try fields.encode("value", forKey: .result)
            try fields.encode(value, forKey: .value)
        case .descriptor(let descriptor):
            try fields.encode("descriptor", forKey: .result)
            try fields.encode(descriptor, forKey: .descriptor)
        case .intinfo(let info1, let info2):
            try fields.encode("intinfo", forKey: .result)
            try fields.encode(info1, forKey: .info1)
            try fields.encode(info2, forKey: .info2)
        case .stats(let stats):
            try fields.encode("stats", forKey: .result)
            try fields.encode(stats, forKey: .stats)
        case .memoryMap(let entries):
            try fields.encode("memoryMap", forKey: .result)
            try fields.encode(entries, forKey: .memoryMap)
        case .topology(let topology):
            try fields.encode("topology", forKey: .result)
            try fields.encode(topology, forKey: .topology)
        case .time(let seconds):
            try fields.encode("time", forKey: .result)
            try fields.encode(seconds, forKey: .seconds)
        case .translation(let gpa):
            try fields.encode("translation", forKey: .result)
            try fields.encodeIfPresent(gpa, forKey: .gpa)
        case .bytes(let bytes):
            try fields.encode("bytes", forKey: .result)
            try fields.encode(ControlProtocol.hex(bytes), forKey: .data)
        case .guestFault(let fault):
            try fields.encode("guestFault", forKey: .result)
            try fields.encode(fault, forKey: .fault)
        case .vcpuState(let state):
            try fields.encode("vcpuState", forKey: .result)
            try fields.encode(state, forKey: .state)
        case .error(let error):
            try fields.encode("error", forKey: .result)
            try fields.encode(error.code, forKey: .code)
            try fields.encode(error.message, forKey: .message)
        }
    }

    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: ControlField.self)
        let version = try fields.decode(Int.self, forKey: .version)
        guard version == ControlProtocol.version else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: fields,
                                                   debugDescription: "unsupported protocol version \(version)")
        }
        let result = try fields.decode(String.self, forKey: .result)
        switch result {
        case "done": self = .done
        case "cpus": self = .cpus(try fields.decode([Int].self, forKey: .cpus))
        case "value": self = .value(try fields.decode(UInt64.self, forKey: .value))
        case "descriptor": self = .descriptor(try fields.decode(ControlSegmentDescriptor.self, forKey: .descriptor))
        case "intinfo":
            self = .intinfo(info1: try fields.decode(UInt64.self, forKey: .info1), info2: try fields.decode(UInt64.self, forKey: .info2))
        case "stats": self = .stats(try fields.decode([String: UInt64].self, forKey: .stats))
        case "memoryMap": self = .memoryMap(try fields.decode([ControlMemoryMapEntry].self, forKey: .memoryMap))
        case "topology": self = .topology(try fields.decode(ControlTopology.self, forKey: .topology))
        case "time": self = .time(seconds: try fields.decode(Int64.self, forKey: .seconds))
        case "translation": self = .translation(gpa: try fields.decodeIfPresent(UInt64.self, forKey: .gpa))
        case "bytes": self = .bytes(try ControlRequest.hexField(.data, in: fields))
        case "guestFault": self = .guestFault(try fields.decode(ControlGuestFault.self, forKey: .fault))
        case "vcpuState": self = .vcpuState(try fields.decode(ControlVCPUState.self, forKey: .state))
        case "error":
            self = .error(ControlError(code: try fields.decode(Int32.self, forKey: .code),
                                       message: try fields.decode(String.self, forKey: .message)))
        default:
            throw DecodingError.dataCorruptedError(forKey: .result, in: fields, debugDescription: "unknown result '\(result)'")
        }
    }
}

/// What became of one incoming request message.
public enum ControlDecodedRequest: Sendable, Hashable {
    /// A request this version understands.
    case request(ControlRequest)
    /// A JSON object the peer should hear about: the response to send back.
    case rejected(ControlResponse)
    /// Not a JSON object at all: the connection it came on should end.
    case malformed
}

/// The two fields every request has; any JSON object decodes, so that only bytes that are not
/// one count as malformed.
private struct ControlHeader: Decodable {
    var version: Int?
    var request: String?

    init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: ControlField.self)
        version = try? fields.decode(Int.self, forKey: .version)
        request = try? fields.decode(String.self, forKey: .request)
    }
}

extension ControlRequest {
    /// Decodes one message: a newer or older version (`EPROTONOSUPPORT`), an unknown request
    /// (`ENOSYS`) and missing or ill-typed fields (`EINVAL`) become error responses; bytes that
    /// are not a JSON object are `malformed`.
    public static func decode(_ message: some Collection<UInt8>) -> ControlDecodedRequest {
        let data = Data(message)
        guard let header = try? JSONDecoder().decode(ControlHeader.self, from: data) else { return .malformed }
        guard let version = header.version else {
            return .rejected(.failure(EINVAL, "the message has no integer 'version'"))
        }
        guard version == ControlProtocol.version else {
            return .rejected(.failure(EPROTONOSUPPORT,
                                      "protocol version \(version) is not supported; this side speaks version \(ControlProtocol.version)"))
        }
        guard let kind = header.request else {
            return .rejected(.failure(EINVAL, "the message has no string 'request'"))
        }
        guard kinds.contains(kind) else {
            return .rejected(.failure(ENOSYS, "unknown request '\(kind)'"))
        }
        do {
            return .request(try JSONDecoder().decode(ControlRequest.self, from: data))
        } catch let error as DecodingError {
            return .rejected(.failure(EINVAL, "bad '\(kind)' request: \(error.summary)"))
        } catch {
            return .rejected(.failure(EINVAL, "bad '\(kind)' request"))
        }
    }
}

extension DecodingError {
    /// One line naming the offending field, for an error response.
    var summary: String {
        func path(_ context: Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field '\(path(context))' has the wrong type"
        case .dataCorrupted(let context):
            return "field '\(path(context))': \(context.debugDescription)"
        @unknown default:
            return "undecodable"
        }
    }
}
