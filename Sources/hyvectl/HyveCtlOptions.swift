import Hyve
import HyveControl

/// What one `hyvectl` invocation asks for, in bhyvectl's option language: `--vm=NAME` and any
/// number of `--get-…`, `--set-…=VALUE` and action options, gathered first and carried out
/// afterwards in a fixed order, as bhyvectl does: sets and guest writes, then injections, then
/// gets, then the VM-ending actions. Numbers are decimal or `0x` hexadecimal.
struct HyveCtlOptions {
    var vm: String?
    var cpu = 0
    var list = false
    var hostCapabilities = false
    var help = false

    var reinit = false
    var forceReset = false
    var forcePoweroff = false
    var destroy = false

    var getAll = false
    var getRegisters: Set<ControlRegister> = []
    var setRegisters: [(ControlRegister, UInt64)] = []
    var getDescriptors: Set<ControlDescriptorName> = []
    var setDescriptors: [ControlDescriptorName] = []
    var descriptorBase: UInt64 = 0
    var descriptorLimit: UInt32 = 0
    var descriptorAccess: UInt32 = 0

    var getActiveCPUs = false
    var getSuspendedCPUs = false
    var getIntinfo = false
    var getStats = false
    var getLowmem = false
    var getHighmem = false
    var getMemmap = false
    var getTopology = false
    var getX2APICState = false

    var getRTCTime = false
    var setRTCTime: Int64?
    var getRTCNVRAM = false
    var setRTCNVRAM: UInt8?
    var rtcNVRAMOffset = 0

    var injectNMI = false
    var injectException: Int?
    var errorCode: UInt32?
    var restartInstruction = true
    var assertLAPICLVT: Int?
    var lapicIRQ: Int?
    var interruptLines: [ControlRequest] = []

    var gla: UInt64?
    var gla2gpa = false
    var gla2gpaNoFault = false
    var access = ControlAccess.read
    var copyIn: Int?
    var copyOut: [UInt8]?

    /// Whether anything was asked of a VM (rather than of the host, or `--list`).
    var asksVM: Bool {
        reinit || forceReset || forcePoweroff || destroy || getAll || !getRegisters.isEmpty || !setRegisters.isEmpty
            || !getDescriptors.isEmpty || !setDescriptors.isEmpty || getActiveCPUs || getSuspendedCPUs || getIntinfo
            || getStats || getLowmem || getHighmem || getMemmap || getTopology || getX2APICState || getRTCTime
            || setRTCTime != nil || getRTCNVRAM || setRTCNVRAM != nil || injectNMI || injectException != nil
            || assertLAPICLVT != nil || lapicIRQ != nil || !interruptLines.isEmpty || gla2gpa || gla2gpaNoFault
            || copyIn != nil || copyOut != nil
    }

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws -> HyveCtlOptions {
        var options = HyveCtlOptions()
        let table = Dictionary(uniqueKeysWithValues: ordered)
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "list" {
                options.list = true
                continue
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw HyveError("unexpected argument '\(argument)' (options start with --; see --help)")
            }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            var value = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            guard let option = table[name] else { throw HyveError("unknown option '--\(name)' (see --help)") }
            if option.takesValue {
                if value == nil {
                    guard index < arguments.count else { throw HyveError("--\(name) needs a value (--\(name)=\(option.placeholder))") }
                    value = arguments[index]
                    index += 1
                }
                try option.apply(&options, value!)
            } else {
                guard value == nil else { throw HyveError("--\(name) takes no value") }
                try option.apply(&options, "")
            }
        }
        if (options.gla2gpa || options.gla2gpaNoFault || options.copyIn != nil || options.copyOut != nil) && options.gla == nil {
            throw HyveError("--gla2gpa, --gla2gpa-nofault, --copyin and --copyout need --gla=ADDRESS")
        }
        if options.errorCode != nil && options.injectException == nil {
            throw HyveError("--error-code needs --inject-exception=VECTOR")
        }
        return options
    }

    /// One option: whether it takes a value, what to call the value in messages, and its effect.
    struct Option {
        let takesValue: Bool
        let placeholder: String
        let help: String
        let apply: (inout HyveCtlOptions, String) throws -> Void

        static func flag(_ help: String, _ apply: @escaping (inout HyveCtlOptions) -> Void) -> Option {
            Option(takesValue: false, placeholder: "", help: help) { options, _ in apply(&options) }
        }

        static func value(_ placeholder: String, _ help: String,
                          _ apply: @escaping (inout HyveCtlOptions, String) throws -> Void) -> Option {
            Option(takesValue: true, placeholder: placeholder, help: help, apply: apply)
        }
    }

    /// Every option by name, in the order `--help` lists them.
    static var ordered: [(String, Option)] {
        var options: [(String, Option)] = [
            ("vm", .value("NAME", "the VM to talk to (required for everything but --list and --get-host-caps)") { $0.vm = $1 }),
            ("cpu", .value("N", "the vCPU the per-vCPU options address (default 0; -1 = every vCPU for --assert-lapic-lvt)") {
                $0.cpu = try number($1, as: Int.self, "--cpu")
            }),
            ("list", .flag("list the running VMs (also: hyvectl list)") { $0.list = true }),
            ("get-host-caps", .flag("the host KVM's API version, vCPU limits and the capabilities Hyve uses") { $0.hostCapabilities = true }),
            ("help", .flag("this list") { $0.help = true }),
            ("get-all", .flag("everything below that can be read") { $0.getAll = true }),
            ("get-active-cpus", .flag("the vCPUs that run (VM_GET_CPUS ACTIVE)") { $0.getActiveCPUs = true }),
            ("get-suspended-cpus", .flag("the vCPUs stopped by a suspend") { $0.getSuspendedCPUs = true }),
            ("force-reset", .flag("reset the VM through its suspend state machine") { $0.forceReset = true }),
            ("force-poweroff", .flag("power the VM off (hyve exits with status 1)") { $0.forcePoweroff = true }),
            ("destroy", .flag("destroy the VM (hyve exits with status 4)") { $0.destroy = true }),
            ("reinit", .flag("re-initialise a suspended VM (VM_REINIT)") { $0.reinit = true }),
            ("get-intinfo", .flag("the event being delivered and the pending exception") { $0.getIntinfo = true }),
            ("get-stats", .flag("the vCPU's counters") { $0.getStats = true }),
            ("get-lowmem", .flag("guest RAM below 4 GiB") { $0.getLowmem = true }),
            ("get-highmem", .flag("guest RAM from 4 GiB") { $0.getHighmem = true }),
            ("get-memmap", .flag("the guest-physical memory map") { $0.getMemmap = true }),
            ("get-cpu-topology", .flag("sockets, cores, threads and vCPU limit") { $0.getTopology = true }),
            ("get-x2apic-state", .flag("whether the vCPU may use x2APIC mode") { $0.getX2APICState = true }),
            ("get-rtc-time", .flag("the RTC's time") { $0.getRTCTime = true }),
            ("set-rtc-time", .value("SECONDS", "set the RTC's time (seconds since 1970)") {
                $0.setRTCTime = try number($1, as: Int64.self, "--set-rtc-time")
            }),
            ("get-rtc-nvram", .flag("the CMOS byte at --rtc-nvram-offset") { $0.getRTCNVRAM = true }),
            ("set-rtc-nvram", .value("BYTE", "write the CMOS byte at --rtc-nvram-offset") {
                $0.setRTCNVRAM = try number($1, as: UInt8.self, "--set-rtc-nvram")
            }),
            ("rtc-nvram-offset", .value("OFFSET", "the CMOS offset for the two options above (default 0)") {
                $0.rtcNVRAMOffset = try number($1, as: Int.self, "--rtc-nvram-offset")
            }),
            ("inject-nmi", .flag("inject an NMI") { $0.injectNMI = true }),
            ("inject-exception", .value("VECTOR", "inject exception VECTOR (0-31, not 8)") {
                $0.injectException = try number($1, as: Int.self, "--inject-exception")
            }),
            ("error-code", .value("CODE", "the error code --inject-exception pushes") {
                $0.errorCode = try number($1, as: UInt32.self, "--error-code")
            }),
            ("no-restart-instruction", .flag("inject the exception as a trap rather than a fault") { $0.restartInstruction = false }),
            ("assert-lapic-lvt", .value("PIN", "fire local APIC LVT entry PIN (0 LINT0, 1 LINT1, 2 timer, ...)") {
                $0.assertLAPICLVT = try number($1, as: Int.self, "--assert-lapic-lvt")
            }),
            ("lapic-irq", .value("VECTOR", "send an edge interrupt at VECTOR to the vCPU's local APIC") {
                $0.lapicIRQ = try number($1, as: Int.self, "--lapic-irq")
            }),
        ]
        for (name, make) in [("isa-assert", ControlRequest.isaAssert), ("isa-deassert", ControlRequest.isaDeassert),
                             ("isa-pulse", ControlRequest.isaPulse)] {
            options.append((name, .value("IRQ[,PIN]", "drive 8259A IRQ (and I/O APIC PIN) (\(name.dropFirst(4)))") { options, text in
                let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard parts.count <= 2 else { throw HyveError("--\(name) takes IRQ or IRQ,PIN, not '\(text)'") }
                let pin = parts.count == 2 ? try number(parts[1], as: Int.self, "--\(name)") : nil
                options.interruptLines.append(make(try number(parts[0], as: Int.self, "--\(name)"), pin))
            }))
        }
        for (name, make) in [("ioapic-assert", ControlRequest.ioapicAssert), ("ioapic-deassert", ControlRequest.ioapicDeassert),
                             ("ioapic-pulse", ControlRequest.ioapicPulse)] {
            options.append((name, .value("PIN", "drive I/O APIC PIN (\(name.dropFirst(7)))") { options, text in
                options.interruptLines.append(make(try number(text, as: Int.self, "--\(name)")))
            }))
        }
        options.append(("msi", .value("ADDRESS,DATA", "send a message-signalled interrupt") { options, text in
            let parts = text.split(separator: ",").map(String.init)
            guard parts.count == 2 else { throw HyveError("--msi takes ADDRESS,DATA, not '\(text)'") }
            options.interruptLines.append(.lapicMSI(address: try number(parts[0], as: UInt64.self, "--msi"),
                                                    data: try number(parts[1], as: UInt64.self, "--msi")))
        }))
        options += [
            ("gla", .value("ADDRESS", "the guest-linear address for the four options below") {
                $0.gla = try number($1, as: UInt64.self, "--gla")
            }),
            ("access", .value("read|write|execute", "the access --gla2gpa checks (default read)") { options, text in
                guard let access = ControlAccess(rawValue: text) else { throw HyveError("--access takes read, write or execute, not '\(text)'") }
                options.access = access
            }),
            ("gla2gpa", .flag("translate --gla as the access would: A/D bits set, a fault injected") { $0.gla2gpa = true }),
            ("gla2gpa-nofault", .flag("translate --gla without side effects") { $0.gla2gpaNoFault = true }),
            ("copyin", .value("LENGTH", "read LENGTH bytes of guest memory at --gla") {
                $0.copyIn = try number($1, as: Int.self, "--copyin")
            }),
            ("copyout", .value("HEX", "write the bytes HEX (pairs of hex digits) to guest memory at --gla") { options, text in
                guard let bytes = ControlProtocol.bytes(hex: text) else { throw HyveError("--copyout takes pairs of hex digits, not '\(text)'") }
                options.copyOut = bytes
            }),
            ("desc-base", .value("BASE", "the base for --set-desc-NAME") {
                $0.descriptorBase = try number($1, as: UInt64.self, "--desc-base")
            }),
            ("desc-limit", .value("LIMIT", "the limit for --set-desc-NAME") {
                $0.descriptorLimit = try number($1, as: UInt32.self, "--desc-limit")
            }),
            ("desc-access", .value("ACCESS", "the VMX access rights for --set-desc-NAME") {
                $0.descriptorAccess = try number($1, as: UInt32.self, "--desc-access")
            }),
        ]
        for register in ControlRegister.allCases {
            options.append(("get-\(register.rawValue)", .flag("read \(register.rawValue)") { _ = $0.getRegisters.insert(register) }))
            options.append(("set-\(register.rawValue)", .value("VALUE", "write \(register.rawValue)") { options, text in
                options.setRegisters.append((register, try number(text, as: UInt64.self, "--set-\(register.rawValue)")))
            }))
        }
        for name in ControlDescriptorName.allCases {
            options.append(("get-desc-\(name.rawValue)", .flag("read the \(name.rawValue) descriptor") { _ = $0.getDescriptors.insert(name) }))
            options.append(("set-desc-\(name.rawValue)", .flag("write the \(name.rawValue) descriptor from --desc-base/-limit/-access") {
                $0.setDescriptors.append(name)
            }))
        }
        return options
    }

    /// `text` as a number of type `T`: decimal, or hexadecimal after `0x`, or negative decimal.
    static func number<T: FixedWidthInteger>(_ text: String, as type: T.Type, _ option: String) throws(HyveError) -> T {
        let lower = text.lowercased()
        let value: T? = if lower.hasPrefix("0x") {
            T(lower.dropFirst(2), radix: 16)
        } else if lower.hasPrefix("-0x") {
            T("-" + lower.dropFirst(3), radix: 16)
        } else {
            T(lower)
        }
        guard let value else { throw HyveError("\(option): '\(text)' is not a number that fits \(T.bitWidth) bits\(T.isSigned ? "" : " unsigned")") }
        return value
    }

    /// The `--help` text.
    static var usage: String {
        var lines = ["usage: hyvectl --vm=NAME [--cpu=N] [options]", "       hyvectl --list | list", "       hyvectl --get-host-caps", ""]
        for (name, option) in ordered {
            let left = option.takesValue ? "--\(name)=\(option.placeholder)" : "--\(name)"
            lines.append("  " + left.padding(28) + option.help)
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// The string, padded with spaces to `width`, and at least one space.
    func padding(_ width: Int) -> String {
        count < width ? self + String(repeating: " ", count: width - count) : self + " "
    }
}
