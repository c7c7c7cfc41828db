import KVM
import Testing
import VMM

/// A hand-built `KVM_GET_SUPPORTED_CPUID` table with every bit the policy touches set.
private func supportedTable(vendor: String = "GenuineIntel") -> [CPUIDEntry] {
    let v = Array(vendor.utf8)
    func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(v[at + $1]) << (8 * $1) } }
    return [
        CPUIDEntry(function: 0x0, eax: 0x1F, ebx: word(0), ecx: word(8), edx: word(4)),
        CPUIDEntry(function: 0x1, eax: 0x000A_0F11, ebx: 0xAB_CD_08_07, ecx: 0xFFFF_FFFF, edx: 0xFFFF_FFFF),
        // L1d (level 1, type 1) and L3 (level 3, type 3), with the host's own sharing fields set.
        CPUIDEntry(function: 0x4, index: 0, flags: 1, eax: 0xFC00_4121, ebx: 0x01C0_003F, ecx: 0x3F),
        CPUIDEntry(function: 0x4, index: 1, flags: 1, eax: 0xFC3F_C163, ebx: 0x03C0_003F, ecx: 0x3FFF),
        CPUIDEntry(function: 0x4, index: 2, flags: 1),
        CPUIDEntry(function: 0x6, eax: 0xFFFF_FFFF, ebx: 1, ecx: 1, edx: 1),
        CPUIDEntry(function: 0x7, index: 0, flags: 1, eax: 1, ebx: 0xFFFF_FFFF, ecx: 0xFFFF_FFFF, edx: 0xFFFF_FFFF),
        CPUIDEntry(function: 0x7, index: 1, flags: 1, eax: 0xFFFF_FFFF, ebx: 0xFFFF_FFFF),
        CPUIDEntry(function: 0xA, eax: 0x0730_0805, ebx: 1, ecx: 1, edx: 0x603),
        CPUIDEntry(function: 0xB, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 77),
        CPUIDEntry(function: 0xB, index: 1, flags: 1, eax: 7, ebx: 64, ecx: 0x201, edx: 77),
        CPUIDEntry(function: 0x15, eax: 2, ebx: 0xA8, ecx: 38_400_000),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B, ecx: 0x564B_4D56, edx: 0x4D),
        CPUIDEntry(function: 0x4000_0001, eax: 0x01FF_FFFF, edx: 1),
        CPUIDEntry(function: 0x8000_0000, eax: 0x8000_001E),
        CPUIDEntry(function: 0x8000_0001, ecx: 0xFFFF_FFFF, edx: 0xFFFF_FFFF),
        CPUIDEntry(function: 0x8000_0007, eax: 1, ebx: 1, ecx: 1, edx: 0xFFFF_FFFF),
        CPUIDEntry(function: 0x8000_0008, eax: 0x3030, ebx: 0x1234, ecx: 0x7007),
        CPUIDEntry(function: 0x8000_001D, index: 0, flags: 1, eax: 0x0000_0121, ebx: 0x01C0_003F, ecx: 0x3F),
        CPUIDEntry(function: 0x8000_001D, index: 1, flags: 1, eax: 0x0003_C163, ebx: 0x03C0_003F, ecx: 0x3FFF),
        CPUIDEntry(function: 0x8000_001E, eax: 9, ebx: 0x109, ecx: 0x301),
    ]
}

private extension Array where Element == CPUIDEntry {
    func leaf(_ function: UInt32, _ index: UInt32 = 0) -> CPUIDEntry? {
        first { $0.function == function && $0.index == index }
    }
    func all(_ function: UInt32) -> [CPUIDEntry] { filter { $0.function == function } }
}

private func bit(_ n: Int) -> UInt32 { 1 << n }

@Suite struct CPUIDPolicyTests {
    let policy = CPUIDPolicy()

    @Test func leaf1SetsTheHypervisorBitEvenWhenTheHostClearsIt() throws {
        var table = supportedTable()
        table[1].ecx = 0
        let leaf = try #require(policy.entries(for: 0, cpus: 1, supported: table).leaf(0x1))
        #expect(leaf.ecx & bit(31) != 0)
    }

    @Test func leaf1HidesVMXSMXESTTM2PDCMMonitorAndTSCDeadline() throws {
        let leaf = try #require(policy.entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x1))
        for n in [3, 5, 6, 7, 8, 15, 24] { #expect(leaf.ecx & bit(n) == 0, "ECX bit \(n)") }
        // OSXSAVE stays as KVM reports it, and unrelated bits pass through.
        for n in [0, 13, 26, 27, 28] { #expect(leaf.ecx & bit(n) != 0, "ECX bit \(n)") }
    }

    @Test func leaf1HidesDSACPITMAndPBEAndSetsHTT() throws {
        let leaf = try #require(policy.entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x1))
        #expect(leaf.edx == 0xFFFF_FFFF & ~(bit(21) | bit(22) | bit(29) | bit(31)))
        var table = supportedTable()
        table[1].edx = 0
        let cleared = try #require(policy.entries(for: 0, cpus: 1, supported: table).leaf(0x1))
        #expect(cleared.edx == bit(28))
    }

    @Test func leaf1X2APICFollowsThePolicy() throws {
        var table = supportedTable()
        table[1].ecx = 0
        let on = try #require(CPUIDPolicy(x2APIC: true).entries(for: 0, cpus: 1, supported: table).leaf(0x1))
        #expect(on.ecx & bit(21) != 0)
        let off = try #require(CPUIDPolicy(x2APIC: false).entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x1))
        #expect(off.ecx & bit(21) == 0)
    }

    @Test func leaf1CarriesEachVCPUsAPICIdAndThePackageSize() throws {
        for vcpu in 0..<4 {
            let leaf = try #require(policy.entries(for: vcpu, cpus: 4, supported: supportedTable()).leaf(0x1))
            #expect(leaf.ebx >> 24 == UInt32(vcpu))
            #expect((leaf.ebx >> 16) & 0xFF == 4)
            #expect(leaf.ebx & 0xFFFF == 0x0807, "brand index and CLFLUSH size pass through")
        }
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 2, cores: 2, threads: 2))
        let leaf = try #require(smt.entries(for: 5, cpus: 8, supported: supportedTable()).leaf(0x1))
        #expect(leaf.ebx >> 16 == 0x05_04)
    }

    @Test func leaf6KeepsOnlyARATAndLeaf0xAIsZero() throws {
        let table = policy.entries(for: 0, cpus: 1, supported: supportedTable())
        #expect(table.leaf(0x6) == CPUIDEntry(function: 0x6, eax: bit(2)))
        #expect(table.leaf(0xA) == CPUIDEntry(function: 0xA))
        #expect(table.leaf(0x15) == CPUIDEntry(function: 0x15))
    }

    @Test func leaf4SharesL1PerCoreAndL3PerPackage() throws {
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 2, threads: 2))
        let table = smt.entries(for: 0, cpus: 4, supported: supportedTable())
        let l1 = try #require(table.leaf(0x4, 0)), l3 = try #require(table.leaf(0x4, 1))
        #expect(l1.eax == 0x121 | 1 << 14 | 1 << 26)
        #expect(l3.eax == 0x163 | 3 << 14 | 1 << 26)
        #expect(l1.ebx == 0x01C0_003F && l3.ecx == 0x3FFF)
        #expect(table.leaf(0x4, 2) == CPUIDEntry(function: 0x4, index: 2, flags: 1), "the terminating leaf stays empty")
    }

    @Test func leaf0xBDescribesOneSocketOfTwoCores() throws {
        let table = policy.entries(for: 1, cpus: 2, supported: supportedTable())
        #expect(table.all(0xB) == [
            CPUIDEntry(function: 0xB, index: 0, flags: 1, eax: 0, ebx: 1, ecx: 0x100, edx: 1),
            CPUIDEntry(function: 0xB, index: 1, flags: 1, eax: 1, ebx: 2, ecx: 0x201, edx: 1),
            CPUIDEntry(function: 0xB, index: 2, flags: 1, eax: 0, ebx: 0, ecx: 0x002, edx: 1),
        ])
    }

    @Test func leaf0xBDescribesTwoCoresOfTwoThreads() throws {
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 2, threads: 2))
        let table = smt.entries(for: 3, cpus: 4, supported: supportedTable())
        #expect(table.all(0xB) == [
            CPUIDEntry(function: 0xB, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 3),
            CPUIDEntry(function: 0xB, index: 1, flags: 1, eax: 2, ebx: 4, ecx: 0x201, edx: 3),
            CPUIDEntry(function: 0xB, index: 2, flags: 1, eax: 0, ebx: 0, ecx: 0x002, edx: 3),
        ])
    }

    @Test func leaf0x1FIsSynthesizedOnlyWhenKVMListsIt() {
        #expect(policy.entries(for: 0, cpus: 2, supported: supportedTable()).all(0x1F).isEmpty)
        let table = supportedTable() + [CPUIDEntry(function: 0x1F, index: 0, flags: 1, eax: 9, edx: 50)]
        let leaves = policy.entries(for: 1, cpus: 2, supported: table).all(0x1F)
        #expect(leaves.map(\.ecx) == [0x100, 0x201, 0x002])
        #expect(leaves.map(\.edx) == [1, 1, 1])
    }

    @Test func topologyShiftsRoundUpToPowersOfTwo() throws {
        let odd = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 3, threads: 3))
        let table = odd.entries(for: 0, cpus: 9, supported: supportedTable())
        #expect(table.all(0xB).map(\.eax) == [2, 4, 0])
    }

    @Test func hypervisorLeavesNameHyveAndAdvertiseNoParavirtFeatures() throws {
        let table = policy.entries(for: 0, cpus: 1, supported: supportedTable())
        let vendor = try #require(table.leaf(0x4000_0000))
        #expect(vendor.eax == 0x4000_0001)
        let bytes = [vendor.ebx, vendor.ecx, vendor.edx].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        #expect(String(decoding: bytes, as: UTF8.self) == "HyveHyveHyve")
        #expect(table.leaf(0x4000_0001) == CPUIDEntry(function: 0x4000_0001))
        #expect(table.all(0x4000_0000).count == 1 && table.all(0x4000_0001).count == 1)
    }

    @Test func hypervisorLeavesAreAddedWhenKVMListsNone() {
        let table = supportedTable().filter { $0.function & 0xF000_0000 != 0x4000_0000 }
        let out = policy.entries(for: 0, cpus: 1, supported: table)
        #expect(out.leaf(0x4000_0000)?.eax == 0x4000_0001)
    }

    @Test func paravirtFeaturesAppearOnlyWhenThePolicyAllowsThem() throws {
        let pv = CPUIDPolicy(paravirtFeatures: [.clocksource2, .clocksourceStable])
        let leaf = try #require(pv.entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x4000_0001))
        #expect(leaf.eax == bit(3) | bit(24))
    }

    @Test func extendedLeaf1HidesSVMOSVWIBSAndPerformanceCounters() throws {
        let leaf = try #require(policy.entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x8000_0001))
        for n in [2, 9, 10, 19, 23, 24, 28, 29] { #expect(leaf.ecx & bit(n) == 0, "ECX bit \(n)") }
        #expect(leaf.ecx & bit(0) != 0 && leaf.edx == 0xFFFF_FFFF)
    }

    @Test func leaf0x80000007KeepsOnlyInvariantTSC() {
        let out = policy.entries(for: 0, cpus: 1, supported: supportedTable())
        #expect(out.leaf(0x8000_0007) == CPUIDEntry(function: 0x8000_0007, edx: bit(8)))
    }

    @Test func amdLeaf0x80000008CountsThePackagesThreads() throws {
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 2, threads: 2))
        let small = try #require(smt.entries(for: 0, cpus: 4, supported: supportedTable(vendor: "AuthenticAMD")).leaf(0x8000_0008))
        #expect(small.ecx == 3 && small.eax == 0x3030 && small.ebx == 0x1234)
        let wide = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 16, threads: 2))
        let big = try #require(wide.entries(for: 0, cpus: 32, supported: supportedTable(vendor: "AuthenticAMD")).leaf(0x8000_0008))
        #expect(big.ecx == 5 << 12 | 31)
        let intel = try #require(smt.entries(for: 0, cpus: 4, supported: supportedTable()).leaf(0x8000_0008))
        #expect(intel.ecx == 0x7007, "Intel's ECX is reserved and passes through")
    }

    @Test func amdLeaf0x8000001EGivesCoreAndNodeIds() throws {
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 2, cores: 2, threads: 2))
        let leaf = try #require(smt.entries(for: 7, cpus: 8, supported: supportedTable(vendor: "AuthenticAMD")).leaf(0x8000_001E))
        #expect(leaf == CPUIDEntry(function: 0x8000_001E, eax: 7, ebx: 1 << 8 | 3, ecx: 1))
    }

    @Test func amdLeaf0x8000001DSharesL3PerPackage() throws {
        let smt = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 4, threads: 2))
        let table = smt.entries(for: 0, cpus: 8, supported: supportedTable(vendor: "AuthenticAMD"))
        let l1 = try #require(table.leaf(0x8000_001D, 0)), l3 = try #require(table.leaf(0x8000_001D, 1))
        #expect(l1.eax == 0x121 | 1 << 14)
        #expect(l3.eax == 0x163 | 7 << 14)
    }

    @Test func hiddenFeaturesAreClearedInLeaf1Leaf7AndExtendedLeaf1() throws {
        let hidden = CPUIDPolicy(hiddenFeatures: [.avx, .cx16, .avx2, .smap, .rdpid, .fsrm, .rdtscp, .lzcnt])
        let table = hidden.entries(for: 0, cpus: 1, supported: supportedTable())
        let l1 = try #require(table.leaf(0x1)), l7 = try #require(table.leaf(0x7, 0))
        let l7s1 = try #require(table.leaf(0x7, 1)), ext = try #require(table.leaf(0x8000_0001))
        #expect(l1.ecx & (bit(28) | bit(13)) == 0 && l1.ecx & bit(26) != 0)
        #expect(l7.ebx == 0xFFFF_FFFF & ~(bit(5) | bit(20)))
        #expect(l7.ecx == 0xFFFF_FFFF & ~bit(22))
        #expect(l7.edx == 0xFFFF_FFFF & ~bit(4))
        #expect(l7s1.ebx == 0xFFFF_FFFF, "other sub-leaves of leaf 7 are untouched")
        #expect(ext.edx == 0xFFFF_FFFF & ~bit(27) && ext.ecx & bit(5) == 0)
    }

    @Test func hidingHypervisorOrX2APICOverridesTheRules() throws {
        let hidden = CPUIDPolicy(x2APIC: true, hiddenFeatures: [.hypervisor, .x2apic])
        let leaf = try #require(hidden.entries(for: 0, cpus: 1, supported: supportedTable()).leaf(0x1))
        #expect(leaf.ecx & (bit(31) | bit(21)) == 0)
    }

    @Test func everyNamedFeatureIsClearedWhereItLives() throws {
        for feature in CPUFeature.allCases {
            let table = CPUIDPolicy(hiddenFeatures: [feature]).entries(for: 0, cpus: 1, supported: supportedTable())
            let location = feature.location
            let entry = try #require(table.leaf(location.leaf, location.subleaf))
            let value = switch location.register {
            case .eax: entry.eax
            case .ebx: entry.ebx
            case .ecx: entry.ecx
            case .edx: entry.edx
            }
            #expect(value & bit(location.bit) == 0, "\(feature)")
        }
    }

    @Test func otherLeavesPassThroughUnchanged() {
        let table = policy.entries(for: 0, cpus: 1, supported: supportedTable())
        #expect(table.leaf(0x0) == supportedTable()[0])
        #expect(table.leaf(0x8000_0000) == CPUIDEntry(function: 0x8000_0000, eax: 0x8000_001E))
    }

    @Test func defaultsAreFlatTopologyX2APICOnNothingHiddenNoParavirt() throws {
        #expect(policy.topology == nil)
        #expect(policy.effectiveTopology(cpus: 3) == CPUTopology(sockets: 1, cores: 3, threads: 1))
        #expect(policy.x2APIC && policy.hiddenFeatures.isEmpty && policy.paravirtFeatures.isEmpty)
        #expect(try CPUIDPolicy.parse([]) == policy)
    }

    @Test func topologyTooSmallForTheVCPUsIsRejectedAndFallsBackToFlat() {
        let small = CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 2, threads: 1))
        #expect(throws: CPUIDPolicyError.topologyTooSmall(CPUTopology(sockets: 1, cores: 2, threads: 1), cpus: 3)) {
            try small.validate(cpus: 3)
        }
        #expect(small.effectiveTopology(cpus: 3) == .flat(cpus: 3))
        let roomy = CPUIDPolicy(topology: CPUTopology(sockets: 2, cores: 2, threads: 1))
        #expect(throws: Never.self) { try roomy.validate(cpus: 3) }
        #expect(roomy.effectiveTopology(cpus: 3).capacity == 4)
    }

    @Test func invalidTopologyCountsAreRejectedAndNeverTrap() {
        for bad in [CPUTopology(cores: 0), CPUTopology(sockets: -1), CPUTopology(threads: 70_000)] {
            let policy = CPUIDPolicy(topology: bad)
            #expect(throws: CPUIDPolicyError.invalidTopology(bad)) { try policy.validate(cpus: 1) }
            #expect(policy.effectiveTopology(cpus: 2) == .flat(cpus: 2))
            #expect(policy.entries(for: 1, cpus: 2, supported: supportedTable(vendor: "AuthenticAMD")).all(0xB).count == 3)
        }
    }

    @Test func hugeAndEmptyVCPUCountsNeverTrap() {
        let table = supportedTable(vendor: "AuthenticAMD")
        let huge = CPUIDPolicy().entries(for: 1_000_000, cpus: 1_000_000, supported: table)
        #expect(huge.leaf(0x1)?.ebx == 0x40FF_0807, "APIC id and package count are truncated to their 8-bit fields")
        #expect(CPUIDPolicy().entries(for: 0, cpus: 0, supported: table).leaf(0xB, 1)?.ebx == 1)
        #expect(CPUIDPolicy().entries(for: 0, cpus: 1, supported: []).map(\.function) == [0x4000_0000, 0x4000_0001])
    }
}

@Suite struct CPUIDPolicyParseTests {
    @Test func parsesEveryDirective() throws {
        let policy = try CPUIDPolicy.parse([
            "-avx", "hide=xsave,tsc-deadline", "x2apic=off", "topology=sockets=1,cores=2,threads=2", "pv=clocksource2,pv-eoi",
        ])
        #expect(policy == CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 2, threads: 2), x2APIC: false,
                                      hiddenFeatures: [.avx, .xsave, .tscDeadline], paravirtFeatures: [.clocksource2, .pvEOI]))
    }

    @Test func laterDirectivesOverrideEarlierOnes() throws {
        let policy = try CPUIDPolicy.parse(["hide=avx,avx2", "+avx", "-cx16", "show=cx16", "x2apic=off", "x2apic=on",
                                            "pv=pv-eoi", "pv=none", "topology=cores=4", "topology=threads=2"])
        #expect(policy == CPUIDPolicy(topology: CPUTopology(sockets: 1, cores: 1, threads: 2), hiddenFeatures: [.avx2]))
    }

    @Test func errorsNameTheBadWord() {
        let cases: [(String, CPUIDPolicyError)] = [
            ("-avx9", .unknownFeature("avx9")),
            ("hide=avx,bogus", .unknownFeature("bogus")),
            ("hide=avx,,sha", .badValue(directive: "hide", value: "avx,,sha")),
            ("frobnicate", .unknownDirective("frobnicate")),
            ("-", .unknownDirective("-")),
            ("color=blue", .unknownDirective("color")),
            ("x2apic=maybe", .badValue(directive: "x2apic", value: "maybe")),
            ("topology=cores=0", .badValue(directive: "topology", value: "cores=0")),
            ("topology=dies=2", .badValue(directive: "topology", value: "dies=2")),
            ("topology=cores=70000", .badValue(directive: "topology", value: "cores=70000")),
            ("pv=warp-drive", .unknownParavirtFeature("warp-drive")),
        ]
        for (option, error) in cases {
            #expect(throws: error) { try CPUIDPolicy.parse([option]) }
        }
    }

    @Test func errorDescriptionsAreOneLineAndQuoteTheWord() {
        let errors: [CPUIDPolicyError] = [
            .unknownFeature("avx9"), .unknownDirective("frobnicate"), .unknownParavirtFeature("warp"),
            .badValue(directive: "x2apic", value: "maybe"), .topologyTooSmall(CPUTopology(cores: 2), cpus: 3),
            .invalidTopology(CPUTopology(cores: 0)),
        ]
        for error in errors {
            #expect(!error.description.contains("\n") && error.description.hasPrefix("--cpuid: "))
        }
        #expect(CPUIDPolicyError.unknownFeature("avx9").description.contains("'avx9'"))
        #expect(CPUIDPolicyError.topologyTooSmall(CPUTopology(cores: 2), cpus: 3).description.contains("1x2x1"))
    }

    @Test func everyFeatureNameParses() throws {
        for feature in CPUFeature.allCases { #expect(try CPUIDPolicy.parse(["-\(feature.rawValue)"]).hiddenFeatures == [feature]) }
        for pv in KVMParavirtFeature.allCases { #expect(try CPUIDPolicy.parse(["pv=\(pv.rawValue)"]).paravirtFeatures == [pv]) }
    }
}

@Suite struct CPUIDPolicyHostProfileTests {
    /// The restricted host lists only CX16, x2APIC, TSC-deadline and hypervisor in leaf 1 ECX.
    let restricted = [CPUIDEntry(function: 0x1, ecx: 1 << 13 | 1 << 21 | 1 << 24 | 1 << 31, edx: 0x0789_FBFF)]

    @Test func restrictedHostControlsOnlyTheListedLeaf1Bits() {
        let profile = CPUIDPolicy.hostProfile(supported: restricted)
        #expect(profile.isRestricted)
        #expect(profile.controllableLeaf1ECX == 1 << 13 | 1 << 21 | 1 << 24 | 1 << 31)
        #expect(profile.canControl(.cx16) && profile.canControl(.x2apic) && profile.canControl(.tscDeadline))
        #expect(!profile.canControl(.xsave) && !profile.canControl(.avx) && !profile.canControl(.popcnt))
        #expect(!profile.canControl(.smap) && !profile.canControl(.fsrm), "leaf 7 is the host's")
        #expect(profile.canControl(.rdtscp), "leaves 0x8000000x are honoured")
    }

    @Test func restrictedHostGetsTheMeasuredKernelCommandLine() {
        let profile = CPUIDPolicy.hostProfile(supported: restricted)
        #expect(profile.tableHiddenFeatures == [.cx16])
        #expect(profile.kernelCommandLine == [
            "noxsave", "clearcpuid=cx16,popcnt,smap,erms,fsrm,fsgsbase,rdrand,rdseed,invpcid,clflushopt,clwb,rdpid",
        ])
    }

    @Test func ordinaryHostNeedsNoWorkArounds() {
        let profile = CPUIDPolicy.hostProfile(supported: [CPUIDEntry(function: 0x1, ecx: 0xF7FA_3223)])
        #expect(!profile.isRestricted && profile.kernelCommandLine.isEmpty && profile.tableHiddenFeatures.isEmpty)
        #expect(profile.controllableLeaf1ECX == 0xF7FA_3223)
        #expect(CPUFeature.allCases.allSatisfy(profile.canControl))
    }
}
