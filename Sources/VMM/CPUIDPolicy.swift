import KVM

/// A CPUID output register.
public enum CPUIDRegister: Sendable, Equatable {
    case eax, ebx, ecx, edx
}

/// Where a feature flag lives: leaf, sub-leaf (significant for leaf 7 only), register and bit.
public struct CPUIDBit: Sendable, Equatable {
    public var leaf: UInt32
    public var subleaf: UInt32
    public var register: CPUIDRegister
    public var bit: Int

    public init(leaf: UInt32, subleaf: UInt32 = 0, register: CPUIDRegister, bit: Int) {
        self.leaf = leaf; self.subleaf = subleaf; self.register = register; self.bit = bit
    }

    /// Whether `entry` is the leaf (and, for leaf 7, the sub-leaf) holding this bit.
    func holds(_ entry: CPUIDEntry) -> Bool {
        entry.function == leaf && (leaf != 0x7 || entry.index == subleaf)
    }
}

/// A CPU feature that a `CPUIDPolicy` can hide by name. Raw values are the option words, which are also
/// Linux's `/proc/cpuinfo` names except for `tsc-deadline` (Linux: `tsc_deadline_timer`) and `lzcnt` (`abm`).
public enum CPUFeature: String, CaseIterable, Sendable, Hashable {
    case aes, avx, avx2, avx512f, xsave, osxsave, cx16, popcnt, movbe, x2apic, rdrand, pcid, hypervisor
    case tscDeadline = "tsc-deadline"
    case fsgsbase, bmi1, bmi2, smep, smap, erms, invpcid, rdseed, adx, clflushopt, clwb, sha
    case rdpid, fsrm
    case lzcnt, pdpe1gb, rdtscp

    /// The CPUID bit that advertises the feature.
    public var location: CPUIDBit {
        switch self {
        case .pcid: CPUIDBit(leaf: 0x1, register: .ecx, bit: 17)
        case .x2apic: CPUIDBit(leaf: 0x1, register: .ecx, bit: 21)
        case .movbe: CPUIDBit(leaf: 0x1, register: .ecx, bit: 22)
        case .cx16: CPUIDBit(leaf: 0x1, register: .ecx, bit: 13)
        case .popcnt: CPUIDBit(leaf: 0x1, register: .ecx, bit: 23)
        case .tscDeadline: CPUIDBit(leaf: 0x1, register: .ecx, bit: 24)
        case .aes: CPUIDBit(leaf: 0x1, register: .ecx, bit: 25)
        case .xsave: CPUIDBit(leaf: 0x1, register: .ecx, bit: 26)
        case .osxsave: CPUIDBit(leaf: 0x1, register: .ecx, bit: 27)
        case .avx: CPUIDBit(leaf: 0x1, register: .ecx, bit: 28)
        case .rdrand: CPUIDBit(leaf: 0x1, register: .ecx, bit: 30)
        case .hypervisor: CPUIDBit(leaf: 0x1, register: .ecx, bit: 31)
        case .fsgsbase: CPUIDBit(leaf: 0x7, register: .ebx, bit: 0)
        case .bmi1: CPUIDBit(leaf: 0x7, register: .ebx, bit: 3)
        case .avx2: CPUIDBit(leaf: 0x7, register: .ebx, bit: 5)
        case .smep: CPUIDBit(leaf: 0x7, register: .ebx, bit: 7)
        case .bmi2: CPUIDBit(leaf: 0x7, register: .ebx, bit: 8)
        case .erms: CPUIDBit(leaf: 0x7, register: .ebx, bit: 9)
        case .invpcid: CPUIDBit(leaf: 0x7, register: .ebx, bit: 10)
        case .avx512f: CPUIDBit(leaf: 0x7, register: .ebx, bit: 16)
        case .rdseed: CPUIDBit(leaf: 0x7, register: .ebx, bit: 18)
        case .adx: CPUIDBit(leaf: 0x7, register: .ebx, bit: 19)
        case .smap: CPUIDBit(leaf: 0x7, register: .ebx, bit: 20)
        case .clflushopt: CPUIDBit(leaf: 0x7, register: .ebx, bit: 23)
        case .clwb: CPUIDBit(leaf: 0x7, register: .ebx, bit: 24)
        case .sha: CPUIDBit(leaf: 0x7, register: .ebx, bit: 29)
        case .rdpid: CPUIDBit(leaf: 0x7, register: .ecx, bit: 22)
        case .fsrm: CPUIDBit(leaf: 0x7, register: .edx, bit: 4)
        case .lzcnt: CPUIDBit(leaf: 0x8000_0001, register: .ecx, bit: 5)
        case .pdpe1gb: CPUIDBit(leaf: 0x8000_0001, register: .edx, bit: 26)
        case .rdtscp: CPUIDBit(leaf: 0x8000_0001, register: .edx, bit: 27)
        }
    }
}

/// A KVM paravirtual feature (CPUID 0x40000001 EAX, `KVM_FEATURE_*`) the policy may advertise.
public enum KVMParavirtFeature: String, CaseIterable, Sendable, Hashable {
    case clocksource, nopIODelay = "nop-io-delay", clocksource2, asyncPF = "async-pf", stealTime = "steal-time"
    case pvEOI = "pv-eoi", pvUnhalt = "pv-unhalt", pvTLBFlush = "pv-tlb-flush", asyncPFVMExit = "async-pf-vmexit"
    case pvSendIPI = "pv-send-ipi", pollControl = "poll-control", pvSchedYield = "pv-sched-yield"
    case clocksourceStable = "clocksource-stable"

    /// The feature's bit in CPUID 0x40000001 EAX.
    public var bit: Int {
        switch self {
        case .clocksource: 0
        case .nopIODelay: 1
        case .clocksource2: 3
        case .asyncPF: 4
        case .stealTime: 5
        case .pvEOI: 6
        case .pvUnhalt: 7
        case .pvTLBFlush: 9
        case .asyncPFVMExit: 10
        case .pvSendIPI: 11
        case .pollControl: 12
        case .pvSchedYield: 13
        case .clocksourceStable: 24
        }
    }
}

/// The guest's CPU topology: sockets × cores per socket × threads per core.
public struct CPUTopology: Sendable, Equatable {
    public var sockets: Int
    public var cores: Int
    public var threads: Int

    public init(sockets: Int = 1, cores: Int = 1, threads: Int = 1) {
        self.sockets = sockets; self.cores = cores; self.threads = threads
    }

    /// bhyve's default: every vCPU a core of one socket.
    public static func flat(cpus: Int) -> CPUTopology {
        CPUTopology(sockets: 1, cores: min(max(1, cpus), maxCount), threads: 1)
    }

    /// The largest count of each level: bhyve keeps them in `uint16_t`s.
    public static let maxCount = Int(UInt16.max)

    /// Whether every count is in 1...`maxCount`.
    public var isValid: Bool {
        [sockets, cores, threads].allSatisfy { (1...Self.maxCount).contains($0) }
    }

    /// How many logical processors the topology has room for.
    public var capacity: Int { sockets * cores * threads }

    /// Logical processors in one package.
    public var threadsPerPackage: Int { cores * threads }
}

/// A `--cpuid` option that could not be understood; `description` is one line naming the bad word.
public enum CPUIDPolicyError: Error, Equatable, CustomStringConvertible {
    case unknownDirective(String)
    case unknownFeature(String)
    case unknownParavirtFeature(String)
    case badValue(directive: String, value: String)
    case topologyTooSmall(CPUTopology, cpus: Int)
    case invalidTopology(CPUTopology)

    public var description: String {
        switch self {
        case .unknownDirective(let word):
            "--cpuid: unknown directive '\(word)' (expected -FEATURE, +FEATURE, hide=, show=, x2apic=, topology= or pv=)"
        case .unknownFeature(let word):
            "--cpuid: unknown CPU feature '\(word)'"
        case .unknownParavirtFeature(let word):
            "--cpuid: unknown KVM paravirtual feature '\(word)'"
        case .badValue(let directive, let value):
            "--cpuid: bad value '\(value)' for \(directive)"
        case .topologyTooSmall(let t, let cpus):
            "--cpuid: topology \(t.sockets)x\(t.cores)x\(t.threads) holds \(t.capacity) CPUs, fewer than the \(cpus) vCPUs"
        case .invalidTopology(let t):
            "--cpuid: topology \(t.sockets)x\(t.cores)x\(t.threads) needs counts from 1 to \(CPUTopology.maxCount)"
        }
    }
}

/// bhyve's CPUID policy (`x86_emulate_cpuid` in `sys/amd64/vmm/x86.c`) as a pure function from what KVM
/// supports to the table one vCPU is given.
///
/// Option syntax (`--cpuid WORD`, one directive per option, applied in order):
/// - `-FEATURE` or `hide=FEATURE[,FEATURE…]`: hide named features (`CPUFeature` raw values);
/// - `+FEATURE` or `show=FEATURE[,FEATURE…]`: undo an earlier hide;
/// - `x2apic=on|off`;
/// - `topology=[sockets=S][,cores=C][,threads=T]`: unnamed counts are 1;
/// - `pv=NAME[,NAME…]` or `pv=none`: the KVM paravirtual features to advertise (`KVMParavirtFeature`).
public struct CPUIDPolicy: Sendable, Equatable {
    /// The topology; `nil` means `CPUTopology.flat(cpus:)`.
    public var topology: CPUTopology?
    /// Whether leaf 1 advertises x2APIC. bhyve's default is off (`-x` turns it on); KVM's in-kernel
    /// local APIC implements x2APIC, so Hyve advertises it unless told otherwise.
    public var x2APIC: Bool
    /// Features cleared wherever they live, after every other rule (hiding `hypervisor` or `x2apic` wins).
    public var hiddenFeatures: Set<CPUFeature>
    /// KVM paravirtual features advertised in 0x40000001. Empty by default: on the restricted host PV
    /// unhalt, PV IPIs and PV sched-yield hang SMP guests.
    public var paravirtFeatures: Set<KVMParavirtFeature>

    /// A policy; the defaults are bhyve's, except x2APIC (see `x2APIC`).
    public init(topology: CPUTopology? = nil, x2APIC: Bool = true,
                hiddenFeatures: Set<CPUFeature> = [], paravirtFeatures: Set<KVMParavirtFeature> = []) {
        self.topology = topology; self.x2APIC = x2APIC
        self.hiddenFeatures = hiddenFeatures; self.paravirtFeatures = paravirtFeatures
    }

    /// The vendor string of leaf 0x40000000 (EBX, ECX, EDX).
    public static let hypervisorVendor = "HyveHyveHyve"
    /// The highest hypervisor leaf.
    public static let maxHypervisorLeaf: UInt32 = 0x4000_0001

    /// Builds a policy from `--cpuid` options (syntax in the type's documentation), applied in order
    /// over `base`.
    public static func parse(_ options: [String], onto base: CPUIDPolicy = CPUIDPolicy()) throws(CPUIDPolicyError) -> CPUIDPolicy {
        var policy = base
        for option in options {
            if let name = option.dropPrefix("-") {
                policy.hiddenFeatures.insert(try feature(name))
                continue
            }
            if let name = option.dropPrefix("+") {
                policy.hiddenFeatures.remove(try feature(name))
                continue
            }
            guard let equals = option.firstIndex(of: "=") else { throw .unknownDirective(option) }
            let key = String(option[..<equals])
            let value = String(option[option.index(after: equals)...])
            switch key {
            case "hide":
                for name in try list(value, directive: key) { policy.hiddenFeatures.insert(try feature(name)) }
            case "show":
                for name in try list(value, directive: key) { policy.hiddenFeatures.remove(try feature(name)) }
            case "x2apic":
                switch value {
                case "on": policy.x2APIC = true
                case "off": policy.x2APIC = false
                default: throw .badValue(directive: key, value: value)
                }
            case "topology":
                policy.topology = try parseTopology(value)
            case "pv":
                policy.paravirtFeatures = []
                if value == "none" { continue }
                for name in try list(value, directive: key) {
                    guard let pv = KVMParavirtFeature(rawValue: name) else { throw .unknownParavirtFeature(name) }
                    policy.paravirtFeatures.insert(pv)
                }
            default:
                throw .unknownDirective(key)
            }
        }
        return policy
    }

    private static func feature(_ name: String) throws(CPUIDPolicyError) -> CPUFeature {
        guard let feature = CPUFeature(rawValue: name) else { throw .unknownFeature(name) }
        return feature
    }

    private static func list(_ value: String, directive: String) throws(CPUIDPolicyError) -> [String] {
        let words = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if words.contains(where: \.isEmpty) { throw .badValue(directive: directive, value: value) }
        return words
    }

    private static func parseTopology(_ value: String) throws(CPUIDPolicyError) -> CPUTopology {
        var topology = CPUTopology()
        for field in try list(value, directive: "topology") {
            let parts = field.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2, let count = Int(parts[1]), (1...CPUTopology.maxCount).contains(count) else {
                throw .badValue(directive: "topology", value: field)
            }
            switch parts[0] {
            case "sockets": topology.sockets = count
            case "cores": topology.cores = count
            case "threads": topology.threads = count
            default: throw .badValue(directive: "topology", value: field)
            }
        }
        return topology
    }

    /// Checks that the topology's counts are valid and that it has room for `cpus` vCPUs (bhyve allows
    /// more room than vCPUs).
    public func validate(cpus: Int) throws(CPUIDPolicyError) {
        guard let topology else { return }
        if !topology.isValid { throw .invalidTopology(topology) }
        if topology.capacity < cpus { throw .topologyTooSmall(topology, cpus: cpus) }
    }

    /// The topology used for `cpus` vCPUs: the configured one if `validate` accepts it, else the flat default.
    public func effectiveTopology(cpus: Int) -> CPUTopology {
        if let topology, topology.isValid, topology.capacity >= cpus { return topology }
        return .flat(cpus: cpus)
    }

    /// The CPUID table for vCPU `vcpu` (whose APIC id is `vcpu`) of `cpus`, from KVM's supported table.
    public func entries(for vcpu: Int, cpus: Int, supported: [CPUIDEntry]) -> [CPUIDEntry] {
        let topology = effectiveTopology(cpus: cpus)
        let id = UInt32(truncatingIfNeeded: vcpu)
        let amd = Self.isAMD(supported)
        var out: [CPUIDEntry] = []
        var synthesized: Set<UInt32> = []
        for var entry in supported {
            switch entry.function {
            case 0x1:
                Self.leaf1(&entry, apicID: id, topology: topology, x2APIC: x2APIC)
            case 0x4:
                Self.cacheSharing(&entry, topology: topology, coresField: true)
            case 0x6:
                // Thermal and power management stay with the host; the local APIC timer keeps running in
                // every C-state the guest can enter, so ARAT may stay.
                entry.eax &= Leaf6.arat
                entry.ebx = 0; entry.ecx = 0; entry.edx = 0
            case 0xA, 0xF, 0x10, 0x15:
                // Performance monitoring, resource director, and the TSC/crystal ratio from which a
                // guest would derive a wrong local APIC frequency.
                entry.clearRegisters()
            case 0xB, 0x1F:
                if synthesized.insert(entry.function).inserted {
                    out += Self.extendedTopology(leaf: entry.function, apicID: id, topology: topology)
                }
                continue
            case 0x4000_0000...0x4FFF_FFFF:
                // KVM's own signature and features are replaced below.
                continue
            case 0x8000_0001:
                entry.ecx &= ~Leaf8000_0001.hiddenECX
            case 0x8000_0007:
                entry.eax = 0; entry.ebx = 0; entry.ecx = 0
                entry.edx &= Leaf8000_0007.invariantTSC
            case 0x8000_0008 where amd:
                let width = UInt32(Self.shift(topology.threadsPerPackage))
                // bhyve leaves ApicIdCoreIdSize 0 below 4 bits, telling the guest to use the legacy count.
                let coreIDSize = width < 4 ? 0 : min(0xF, width)
                entry.ecx = coreIDSize << 12 | UInt32(min(0xFF, topology.threadsPerPackage - 1))
            case 0x8000_001D where amd:
                Self.cacheSharing(&entry, topology: topology, coresField: false)
            case 0x8000_001E where amd:
                entry.eax = id
                entry.ebx = UInt32(min(0xFF, topology.threads - 1)) << 8
                    | (id >> UInt32(Self.shift(topology.threads))) & 0xFF
                entry.ecx = (id / UInt32(topology.threadsPerPackage)) & 0xFF
                entry.edx = 0
            default:
                break
            }
            out.append(entry)
        }
        out += hypervisorLeaves()
        return out.map(hidingFeatures)
    }

    private func hidingFeatures(_ entry: CPUIDEntry) -> CPUIDEntry {
        var entry = entry
        for feature in hiddenFeatures {
            let location = feature.location
            if location.holds(entry) { entry.clear(location.register, bit: location.bit) }
        }
        return entry
    }

    private func hypervisorLeaves() -> [CPUIDEntry] {
        let vendor = Array(Self.hypervisorVendor.utf8)
        func word(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | UInt32(vendor[at + $1]) << (8 * $1) }
        }
        let features = paravirtFeatures.reduce(UInt32(0)) { $0 | 1 << $1.bit }
        return [
            CPUIDEntry(function: 0x4000_0000, eax: Self.maxHypervisorLeaf, ebx: word(0), ecx: word(4), edx: word(8)),
            CPUIDEntry(function: 0x4000_0001, eax: features),
        ]
    }

    private static func leaf1(_ entry: inout CPUIDEntry, apicID: UInt32, topology: CPUTopology, x2APIC: Bool) {
        let perPackage = UInt32(topology.threadsPerPackage) & 0xFF
        entry.ebx = entry.ebx & 0xFFFF | perPackage << 16 | (apicID & 0xFF) << 24
        entry.ecx &= ~Leaf1.hiddenECX
        entry.ecx |= Leaf1.hypervisor
        if x2APIC { entry.ecx |= Leaf1.x2APIC } else { entry.ecx &= ~Leaf1.x2APIC }
        entry.edx &= ~Leaf1.hiddenEDX
        // The logical-processor count in EBX[23:16] is only meaningful with HTT set.
        entry.edx |= Leaf1.htt
    }

    /// Leaf 4 / 0x8000001D: L1 and L2 are private to a core, L3 and beyond shared by the package.
    private static func cacheSharing(_ entry: inout CPUIDEntry, topology: CPUTopology, coresField: Bool) {
        guard entry.eax | entry.ebx | entry.ecx | entry.edx != 0 else { return }
        let level = (entry.eax >> 5) & 0x7
        let sharing = level >= 3 ? topology.threadsPerPackage : topology.threads
        entry.eax &= 0x3FF
        entry.eax |= UInt32(min(0xFFF, sharing - 1)) << 14
        if coresField { entry.eax |= UInt32(min(0x3F, topology.cores - 1)) << 26 }
    }

    /// Leaf 0xB / 0x1F: an SMT level, a core level, then the invalid level that ends the list.
    private static func extendedTopology(leaf: UInt32, apicID: UInt32, topology: CPUTopology) -> [CPUIDEntry] {
        let levels: [(count: Int, type: UInt32)] = [(topology.threads, 1), (topology.threadsPerPackage, 2), (0, 0)]
        return levels.enumerated().map { index, level in
            CPUIDEntry(function: leaf, index: UInt32(index), flags: significantIndex,
                       eax: level.type == 0 ? 0 : UInt32(shift(level.count)),
                       ebx: UInt32(min(0xFFFF, level.count)),
                       ecx: level.type << 8 | UInt32(index),
                       edx: apicID)
        }
    }

    /// Bits of APIC id needed for `count` ids: log2 rounded up. bhyve's APIC ids are dense (id = vCPU
    /// index), so the guest's split of an id into fields is exact only for power-of-two counts.
    private static func shift(_ count: Int) -> Int {
        count <= 1 ? 0 : Int.bitWidth - (count - 1).leadingZeroBitCount
    }

    private static func isAMD(_ supported: [CPUIDEntry]) -> Bool {
        guard let leaf0 = supported.first(where: { $0.function == 0 }) else { return false }
        // "AuthenticAMD" and "HygonGenuine" as EBX (first 4 bytes).
        return leaf0.ebx == 0x6874_7541 || leaf0.ebx == 0x6F67_7948
    }

    /// `KVM_CPUID_FLAG_SIGNIFCANT_INDEX`.
    private static let significantIndex: UInt32 = 1
}

/// What KVM on this host lets a CPUID table change, and the guest kernel command-line additions that
/// work around what it cannot (see `shared/reference/guest-kernel.md`). Kept apart from `CPUIDPolicy`:
/// it describes one host's defects, not bhyve's policy.
public struct HostProfile: Sendable, Equatable {
    /// Leaf 1 ECX bits KVM honours from the VMM's table: all of them on an ordinary KVM; on a restricted
    /// host only those `KVM_GET_SUPPORTED_CPUID` lists.
    public var controllableLeaf1ECX: UInt32
    /// Whether this is a KVM that honours only the leaf 1/7 bits it lists (the `kvm_pvm` kind), recognised
    /// by a leaf 1 ECX that lists nothing beyond CX16, x2APIC, TSC-deadline and hypervisor.
    public var isRestricted: Bool
    /// Defect features the table can hide here (CX16 on the restricted host).
    public var tableHiddenFeatures: Set<CPUFeature>
    /// Words to append to a Linux guest's command line; empty on an ordinary host.
    public var kernelCommandLine: [String]

    /// Whether hiding `feature` in the table reaches the guest on this host. Leaves 0x8000000x are
    /// always honoured; leaf 1 ECX only for listed bits; leaf 1 EDX and leaf 7 never on a restricted host.
    public func canControl(_ feature: CPUFeature) -> Bool {
        guard isRestricted else { return true }
        let location = feature.location
        switch (location.leaf, location.register) {
        case (0x1, .ecx): return controllableLeaf1ECX & 1 << location.bit != 0
        case (0x8000_0000..., _): return true
        default: return false
        }
    }

    /// Features whose instructions the restricted host cannot emulate at guest CPL0, or emulates
    /// ruinously slowly (`erms`, `fsrm`), in the order of the measured boot line.
    public static let defectFeatures: [CPUFeature] = [
        .cx16, .popcnt, .smap, .erms, .fsrm, .fsgsbase, .rdrand, .rdseed, .invpcid, .clflushopt, .clwb, .rdpid,
    ]
}

extension CPUIDPolicy {
    /// Profiles the host from `KVM_GET_SUPPORTED_CPUID`.
    public static func hostProfile(supported: [CPUIDEntry]) -> HostProfile {
        let ecx = supported.first(where: { $0.function == 0x1 })?.ecx
        let listedOnly = Leaf1.cx16 | Leaf1.x2APIC | Leaf1.tscDeadline | Leaf1.hypervisor
        guard let ecx, ecx & ~listedOnly == 0 else {
            return HostProfile(controllableLeaf1ECX: ecx ?? 0, isRestricted: false,
                               tableHiddenFeatures: [], kernelCommandLine: [])
        }
        var profile = HostProfile(controllableLeaf1ECX: ecx, isRestricted: true,
                                  tableHiddenFeatures: [], kernelCommandLine: [])
        profile.tableHiddenFeatures = Set(HostProfile.defectFeatures.filter(profile.canControl))
        // XSAVE cannot be hidden by the table here; Linux's `noxsave` keeps the guest off the XSAVE family.
        profile.kernelCommandLine = [
            "noxsave", "clearcpuid=" + HostProfile.defectFeatures.map(\.rawValue).joined(separator: ","),
        ]
        return profile
    }
}

private enum Leaf1 {
    static let monitor: UInt32 = 1 << 3
    static let vmx: UInt32 = 1 << 5
    static let smx: UInt32 = 1 << 6
    static let est: UInt32 = 1 << 7
    static let tm2: UInt32 = 1 << 8
    static let cx16: UInt32 = 1 << 13
    static let pdcm: UInt32 = 1 << 15
    static let x2APIC: UInt32 = 1 << 21
    static let tscDeadline: UInt32 = 1 << 24
    static let hypervisor: UInt32 = 1 << 31
    static let hiddenECX = monitor | vmx | smx | est | tm2 | pdcm | tscDeadline

    static let ds: UInt32 = 1 << 21
    static let acpi: UInt32 = 1 << 22
    static let htt: UInt32 = 1 << 28
    static let tm: UInt32 = 1 << 29
    static let pbe: UInt32 = 1 << 31
    static let hiddenEDX = ds | acpi | tm | pbe
}

private enum Leaf6 {
    static let arat: UInt32 = 1 << 2
}

private enum Leaf8000_0001 {
    // SVM, OSVW, IBS, NodeId, core/NB performance counters, L2I performance counter, MONITORX.
    static let hiddenECX: UInt32 = 1 << 2 | 1 << 9 | 1 << 10 | 1 << 19 | 1 << 23 | 1 << 24 | 1 << 28 | 1 << 29
}

private enum Leaf8000_0007 {
    static let invariantTSC: UInt32 = 1 << 8
}

private extension CPUIDEntry {
    mutating func clearRegisters() {
        eax = 0; ebx = 0; ecx = 0; edx = 0
    }

    mutating func clear(_ register: CPUIDRegister, bit: Int) {
        let mask = ~(UInt32(1) << bit)
        switch register {
        case .eax: eax &= mask
        case .ebx: ebx &= mask
        case .ecx: ecx &= mask
        case .edx: edx &= mask
        }
    }
}

private extension String {
    func dropPrefix(_ prefix: Character) -> String? {
        first == prefix && count > 1 ? String(dropFirst()) : nil
    }
}
