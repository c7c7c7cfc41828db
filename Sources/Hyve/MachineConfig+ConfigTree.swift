import Boot
import VMM

extension MachineConfig {
    /// A machine described by bhyve's configuration variables (bhyve_config(5)), those Hyve
    /// implements:
    ///
    /// - `name`; `cpus`, `sockets`, `cores`, `threads` (as bhyve: `sockets` defaults to `cpus`, and
    ///   `cpus`, when given, must equal their product; a given topology also goes to CPUID);
    /// - `memory.size`, `memory.wired`; `vcpu.N.cpuset` (one host CPU per vCPU);
    /// - `x86.strictio`, `x86.x2apic` (as `-x`), `rtc.use_localtime` (absent means UTC, Hyve's default; bhyve's is local
    ///   time); `x86.vmexit_on_hlt` and `destroy_on_poweroff` are checked and ignored: KVM gives
    ///   the host CPU back while a vCPU halts anyway, and the VM always ends with `hyve`;
    /// - `lpc.comN.path` (what `-l comN,` takes: `stdio`, `file=PATH`, `socket=PATH`), `lpc.fwcfg`
    ///   (`qemu`, or `none`/`bhyve` for nothing);
    /// - `pci.B.S.F.device` and the function's options below it (`pci.0.31.0.pcireg.vendor`), as `-s`;
    /// - Hyve's own: `hyve.program`, `hyve.mode`, `hyve.load_address`, `hyve.kernel`, `hyve.initrd`,
    ///   `hyve.append`, `hyve.cpuid` (`--cpuid` directives separated by spaces), `hyve.lapic`
    ///   (`kernel` or `user`, as `--lapic`), `hyve.no_reboot`,
    ///   `hyve.host_workarounds`, `hyve.boot_timer`, and `hyve.fwcfg.LABEL` (what `-f` takes;
    ///   applied in order of LABEL).
    ///
    /// Any other variable is an error naming it: a misspelt key must not be silently ignored.
    /// Booleans are bhyve's: true, on, yes, 1 / false, off, no, 0, in any case.
    public init(_ tree: ConfigTree) throws(HyveError) {
        self.init()
        var reader = ConfigReader(tree)
        if let name = try reader.string("name") { self.name = name }
        let topology = try reader.topology()
        if let cpus = topology.cpus { self.cpus = cpus }
        memorySize = try reader.parsed("memory.size", MemorySize.parse) ?? memorySize
        wired = try reader.bool("memory.wired") ?? wired
        pinning = try reader.pinning()
        strictIO = try reader.bool("x86.strictio") ?? strictIO
        x2APIC = try reader.bool("x86.x2apic") ?? x2APIC
        localAPIC = try reader.parsed("hyve.lapic") { (text: String) throws(HyveError) -> LocalAPICMode in
            guard let mode = LocalAPICMode(rawValue: text) else { throw HyveError("expected kernel or user, not '\(text)'") }
            return mode
        } ?? localAPIC
        _ = try reader.bool("x86.vmexit_on_hlt")
        _ = try reader.bool("destroy_on_poweroff")
        rtcLocalTime = try reader.bool("rtc.use_localtime") ?? rtcLocalTime
        noReboot = try reader.bool("hyve.no_reboot") ?? noReboot
        hostWorkarounds = try reader.bool("hyve.host_workarounds") ?? hostWorkarounds
        bootTimer = try reader.bool("hyve.boot_timer") ?? bootTimer
        serialPorts = try reader.serialPorts()
        fwCfg = try reader.parsed("lpc.fwcfg") { (text: String) throws(HyveError) -> FwCfgMode in
            if text == "bhyve" { return .none }
            guard let mode = FwCfgMode(rawValue: text) else { throw HyveError("expected qemu, bhyve or none, not '\(text)'") }
            return mode
        }
        fwCfgFiles = try reader.fwCfgFiles()
        pciSlots = try reader.pciSlots()
        let directives = (try reader.string("hyve.cpuid") ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
        do {
            cpuid = try CPUIDPolicy.parse(topology.directives + directives)
        } catch {
            let message = error.description
            throw reader.failure("hyve.cpuid", message.hasPrefix("--cpuid: ") ? String(message.dropFirst("--cpuid: ".count)) : message)
        }
        try reader.guest(into: &self)
        try reader.rejectUnread()
    }
}

/// Reads a ``ConfigTree`` for ``MachineConfig/init(_:)``, remembering which variables it read so
/// that the rest can be reported, and naming the variable and its origin in every error.
private struct ConfigReader {
    let tree: ConfigTree
    private var read: Set<String> = []

    init(_ tree: ConfigTree) { self.tree = tree }

    mutating func string(_ path: String) throws(HyveError) -> String? {
        read.insert(path)
        return try tree.value(path)
    }

    /// `path`'s value through `parse`, whose errors are prefixed with the variable and its origin.
    mutating func parsed<T>(_ path: String, _ parse: (String) throws(HyveError) -> T) throws(HyveError) -> T? {
        guard let text = try string(path) else { return nil }
        do {
            return try parse(text)
        } catch {
            throw failure(path, error.description)
        }
    }

    mutating func bool(_ path: String) throws(HyveError) -> Bool? {
        try parsed(path) { (text: String) throws(HyveError) -> Bool in
            switch text.lowercased() {
            case "true", "on", "yes", "1": return true
            case "false", "off", "no", "0": return false
            default: throw HyveError("invalid boolean '\(text)'")
            }
        }
    }

    /// An integer as bhyve's `parse_int_value` reads one (decimal, or hexadecimal with 0x).
    mutating func integer(_ path: String, in range: ClosedRange<Int>) throws(HyveError) -> Int? {
        try parsed(path) { (text: String) throws(HyveError) -> Int in
            let lower = text.lowercased()
            let value = lower.hasPrefix("0x") ? Int(lower.dropFirst(2), radix: 16) : Int(lower)
            guard let value, range.contains(value) else {
                throw HyveError("invalid value '\(text)' (expected \(range.lowerBound)-\(range.upperBound))")
            }
            return value
        }
    }

    func failure(_ path: String, _ message: String) -> HyveError {
        let origin = tree.origin(path).map { " (\($0))" } ?? ""
        return HyveError("\(path)\(origin): \(message)")
    }

    /// The variables below `node`, as paths relative to it, sorted.
    func children(of node: String) -> [String] {
        tree.paths.filter { $0.hasPrefix(node + ".") }.map { String($0.dropFirst(node.count + 1)) }
    }

    /// bhyve's `calc_topology`: the vCPU count, and a CPUID topology directive when any of
    /// `sockets`, `cores` and `threads` is given.
    mutating func topology() throws(HyveError) -> (cpus: Int?, directives: [String]) {
        let limit = 1...Int(UInt16.max)
        let cpus = try integer("cpus", in: limit)
        let cores = try integer("cores", in: limit)
        let threads = try integer("threads", in: limit)
        let sockets = try integer("sockets", in: limit)
        guard sockets != nil || cores != nil || threads != nil else { return (cpus, []) }
        let (s, c, t) = (sockets ?? cpus ?? 1, cores ?? 1, threads ?? 1)
        let product = s * c * t
        guard product <= limit.upperBound else { throw failure("sockets", "\(product) vCPUs is too many") }
        if let cpus, cpus != product {
            throw failure("cpus", "the topology (\(s) sockets, \(c) cores, \(t) threads) does not match \(cpus) vCPUs")
        }
        return (product, ["topology=sockets=\(s),cores=\(c),threads=\(t)"])
    }

    /// `vcpu.N.cpuset`, which Hyve takes only as a single host CPU.
    mutating func pinning() throws(HyveError) -> [Int: Int] {
        var pinning: [Int: Int] = [:]
        for child in children(of: "vcpu") {
            let parts = child.split(separator: ".")
            guard parts.count == 2, parts[1] == "cpuset", let vcpu = Int(parts[0]), vcpu >= 0 else { continue }
            pinning[vcpu] = try parsed("vcpu.\(child)") { (text: String) throws(HyveError) -> Int in
                guard let host = Int(text), host >= 0 else {
                    throw HyveError("invalid value '\(text)' (Hyve pins a vCPU to one host CPU, given by its number)")
                }
                return host
            }
        }
        return pinning
    }

    /// `lpc.com1.path` … `lpc.com4.path`.
    mutating func serialPorts() throws(HyveError) -> [SerialPortSpec] {
        var specs: [SerialPortSpec] = []
        for port in 1...4 {
            let path = "lpc.com\(port).path"
            if let spec = try parsed(path, { (text: String) throws(HyveError) in try SerialPortSpec.parse("com\(port),\(text)") }) {
                specs.append(spec)
            }
        }
        guard specs.filter({ $0.backend == .stdio }).count <= 1 else {
            throw HyveError("only one serial port can use stdio")
        }
        return specs
    }

    /// `hyve.fwcfg.LABEL`, in numeric order of the labels that are numbers, then the others by name.
    mutating func fwCfgFiles() throws(HyveError) -> [FwCfgFileSpec] {
        let labels = children(of: "hyve.fwcfg").sorted { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }
        var files: [FwCfgFileSpec] = []
        for label in labels {
            let path = "hyve.fwcfg.\(label)"
            guard let file = try parsed(path, FwCfgFileSpec.parse) else { continue }
            if files.contains(where: { $0.name == file.name }) {
                throw failure(path, "fw_cfg file '\(file.name)' is given twice")
            }
            files.append(file)
        }
        return files
    }

    /// `pci.B.S.F.device` with the function's options below `pci.B.S.F`, read as the `-s` option
    /// `B:S:F,device,option=value,…`.
    mutating func pciSlots() throws(HyveError) -> [PCISlotSpec] {
        var functions: [[Int]: [String]] = [:]
        for child in children(of: "pci") {
            let parts = child.split(separator: ".", maxSplits: 3)
            let numbers = parts.prefix(3).compactMap { $0.allSatisfy(\.isNumber) ? Int($0) : nil }
            guard parts.count == 4, numbers.count == 3 else {
                throw failure("pci.\(child)", "expected pci.BUS.SLOT.FUNCTION.device or an option of that function")
            }
            functions[numbers, default: []].append(String(parts[3]))
        }
        var texts: [String] = []
        for (address, keys) in functions.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let node = "pci." + address.map(String.init).joined(separator: ".")
            guard keys.contains("device") else { throw failure(node + "." + keys[0], "\(node) has no device") }
            var options = ""
            for key in keys.sorted() where key != "device" {
                options += ",\(key)=\(try string("\(node).\(key)")!)"
            }
            let text = try parsed(node + ".device") { (device: String) throws(HyveError) -> String in
                let text = address.map(String.init).joined(separator: ":") + "," + device + options
                _ = try PCISlotSpec.parse(text)
                return text
            }
            texts.append(text!)
        }
        return try PCISlotSpec.parse(texts)
    }

    /// `hyve.program` with `hyve.mode` and `hyve.load_address`, or `hyve.kernel` with `hyve.initrd`
    /// and `hyve.append`.
    mutating func guest(into config: inout MachineConfig) throws(HyveError) {
        let mode = try parsed("hyve.mode") { (text: String) throws(HyveError) -> CPUMode in
            guard let mode = CPUMode(rawValue: text) else { throw HyveError("expected real, protected or long, not '\(text)'") }
            return mode
        }
        let loadAddress = try parsed("hyve.load_address") { (text: String) throws(HyveError) -> UInt64 in
            let lower = text.lowercased()
            guard let value = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower) else {
                throw HyveError("invalid address '\(text)'")
            }
            return value
        }
        let initrd = try string("hyve.initrd")
        let append = try string("hyve.append")
        switch (try string("hyve.program"), try string("hyve.kernel")) {
        case (.some, .some):
            throw failure("hyve.kernel", "hyve.program and hyve.kernel cannot both be set")
        case (let program?, nil):
            guard initrd == nil, append == nil else {
                throw failure(initrd != nil ? "hyve.initrd" : "hyve.append", "applies to hyve.kernel, not hyve.program")
            }
            config.program = ProgramSource(path: program, loadAddress: loadAddress, mode: mode)
        case (nil, let kernel?):
            guard mode == nil, loadAddress == nil else {
                throw failure(mode != nil ? "hyve.mode" : "hyve.load_address", "applies to hyve.program, not hyve.kernel")
            }
            config.kernel = KernelSource(kernel: kernel, initrd: initrd, commandLine: append ?? "")
        case (nil, nil):
            if let path = ["hyve.mode", "hyve.load_address", "hyve.initrd", "hyve.append"].first(where: { tree.origin($0) != nil }) {
                throw failure(path, "no hyve.program or hyve.kernel to apply it to")
            }
        }
    }

    /// Fails on the first variable nothing read.
    func rejectUnread() throws(HyveError) {
        if let path = tree.paths.first(where: { !read.contains($0) }) {
            throw failure(path, "unknown configuration variable (or one Hyve does not implement)")
        }
    }
}
