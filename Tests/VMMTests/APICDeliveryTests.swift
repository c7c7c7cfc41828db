import Testing
@testable import VMM

/// Destination matching, IPIs, INIT/SIPI and local interrupts between user-space local APICs.
@Suite struct APICDeliveryTests {
    /// Eight APICs: LDRs one bit each (flat), or clusters of four (cluster model).
    static func apics(model: APICAddressing.Model, x2APIC: Bool = false) -> [APICAddressing] {
        (0..<8).map { vcpu in
            let ldr: UInt32
            switch (model, x2APIC) {
            case (_, true): ldr = UInt32(vcpu >> 4) << 16 | 1 << UInt32(vcpu & 0xF)
            case (.cluster, false): ldr = UInt32(vcpu / 4) << 28 | 1 << UInt32(24 + vcpu % 4)
            default: ldr = 1 << UInt32(24 + vcpu)
            }
            return APICAddressing(vcpu: vcpu, id: UInt32(vcpu), ldr: ldr, model: model, x2APIC: x2APIC, enabled: true)
        }
    }

    static func message(_ destination: UInt32, logical: Bool = false, x2APIC: Bool = false,
                        mode: MSIMessage.DeliveryMode = .fixed, shorthand: APICMessage.Shorthand = .none,
                        source: Int? = nil) -> APICMessage {
        APICMessage(vector: 0x40, deliveryMode: mode, destination: destination, logical: logical,
                    x2APICFormat: x2APIC, shorthand: shorthand, source: source)
    }

    @Test func physicalDestinationsNameOneAPICAndAllOnesBroadcasts() {
        let apics = Self.apics(model: .flat)
        #expect(Self.message(5).targets(among: apics) == [5])
        #expect(Self.message(9).targets(among: apics) == [])
        #expect(Self.message(0xFF).targets(among: apics) == Array(0..<8))
        #expect(Self.message(0xFF, x2APIC: true).targets(among: apics) == [])
        #expect(Self.message(0xFFFF_FFFF, x2APIC: true).targets(among: apics) == Array(0..<8))
    }

    @Test func flatLogicalDestinationsAreABitMaskOverTheLDRs() {
        let apics = Self.apics(model: .flat)
        #expect(Self.message(0b1010_0101, logical: true).targets(among: apics) == [0, 2, 5, 7])
        #expect(Self.message(0, logical: true).targets(among: apics) == [])
    }

    @Test func clusterLogicalDestinationsNameAClusterAndMembersInIt() {
        let apics = Self.apics(model: .cluster)
        #expect(Self.message(0x1_5, logical: true).targets(among: apics) == [4, 6])
        #expect(Self.message(0x0_8, logical: true).targets(among: apics) == [3])
        #expect(Self.message(0x2_F, logical: true).targets(among: apics) == [])
    }

    @Test func x2APICClusterDestinationsHave16BitClustersAndMembers() {
        let apics = Self.apics(model: .cluster, x2APIC: true)
        #expect(Self.message(0x0000_0081, logical: true, x2APIC: true).targets(among: apics) == [0, 7])
        #expect(Self.message(0x0001_0001, logical: true, x2APIC: true).targets(among: apics) == [])
    }

    @Test func anInvalidDFRModelMatchesNoLogicalDestination() {
        var apics = Self.apics(model: .flat)
        apics[3].model = .invalid
        #expect(Self.message(0xFF - 1, logical: true).targets(among: apics) == [1, 2, 4, 5, 6, 7])
    }

    @Test func shorthandsIgnoreTheDestinationField() {
        let apics = Self.apics(model: .flat)
        #expect(Self.message(7, shorthand: .selfOnly, source: 2).targets(among: apics) == [2])
        #expect(Self.message(7, shorthand: .allIncludingSelf, source: 2).targets(among: apics) == Array(0..<8))
        #expect(Self.message(7, shorthand: .allExcludingSelf, source: 2).targets(among: apics) == [0, 1, 3, 4, 5, 6, 7])
    }

    @Test func lowestPriorityGoesToTheFirstMatchOnly() {
        let apics = Self.apics(model: .flat)
        #expect(Self.message(0b0110_0000, logical: true, mode: .lowestPriority).targets(among: apics) == [5])
        #expect(Self.message(0xFF, mode: .lowestPriority).targets(among: apics) == [0])
    }

    @Test func aGloballyDisabledAPICTakesNoMessage() {
        var apics = Self.apics(model: .flat)
        apics[1].enabled = false
        #expect(Self.message(0xFF).targets(among: apics) == [0, 2, 3, 4, 5, 6, 7])
        #expect(Self.message(1).targets(among: apics) == [])
    }

    @Test func msiAddressesAreDecodedWithTheirDestinationModeBit() {
        #expect(APICMessage(MSIMessage(address: 0xFED0_0000, data: 0x40)) == nil)
        let message = APICMessage(MSIMessage(vector: 0x41, deliveryMode: .lowestPriority, levelTriggered: true,
                                             destination: 0x0C, logical: true))
        #expect(message == APICMessage(vector: 0x41, deliveryMode: .lowestPriority, levelTriggered: true,
                                       destination: 0x0C, logical: true))
    }

    // MARK: IPIs through the ICR

    @Test func aFixedIPIReachesItsDestinationAndWakesItsVCPU() {
        let bench = LocalAPICBench(cpus: 4)
        for vcpu in 0..<4 { bench.enable(vcpu) }
        _ = bench.takeWakes()
        bench.write(0, APICReg.icrHigh, 2 << 24)
        bench.write(0, APICReg.icrLow, 0x4061)
        #expect(bench.drain(2) == [0x61])
        #expect(bench.takeWakes().map(\.vcpu) == [2])
        #expect(bench.read(0, APICReg.icrLow) == 0x4061, "delivery status reads idle")
    }

    @Test func flatLogicalIPIsFollowTheTargetsLDRs() {
        let bench = LocalAPICBench(cpus: 4)
        for vcpu in 0..<4 {
            bench.enable(vcpu)
            bench.write(vcpu, APICReg.ldr, 1 << UInt32(24 + vcpu))
        }
        bench.write(0, APICReg.icrHigh, 0x0A << 24)
        bench.write(0, APICReg.icrLow, 0x0870)
        #expect((0..<4).map { bench.drain($0) } == [[], [0x70], [], [0x70]])
    }

    @Test func eachTargetReadsALogicalDestinationInItsOwnDFRModel() {
        let bench = LocalAPICBench(cpus: 3)
        for vcpu in 0..<3 { bench.enable(vcpu) }
        bench.write(0, APICReg.dfr, 0x0FFF_FFFF)
        bench.write(0, APICReg.ldr, 0x2 << 28 | 1 << 24)        // cluster 2, member 0
        bench.write(1, APICReg.dfr, 0x0FFF_FFFF)
        bench.write(1, APICReg.ldr, 0x1 << 28 | 1 << 25)        // cluster 1, member 1
        bench.write(2, APICReg.ldr, 0x02 << 24)                 // flat, bit 1
        bench.write(0, APICReg.icrHigh, 0x12 << 24)
        bench.write(0, APICReg.icrLow, 0x0871)
        #expect((0..<3).map { bench.drain($0) } == [[], [0x71], [0x71]])
    }

    @Test func allExcludingSelfBroadcastsToTheOthers() {
        let bench = LocalAPICBench(cpus: 3)
        for vcpu in 0..<3 { bench.enable(vcpu) }
        bench.write(1, APICReg.icrLow, 0xC_0072)
        #expect((0..<3).map { bench.drain($0) } == [[0x72], [], [0x72]])
        bench.write(1, APICReg.icrLow, 0x4_0073)
        #expect((0..<3).map { bench.drain($0) } == [[], [0x73], []])
    }

    @Test func nmiIPIsArePendingNMIsAndWakeUrgently() {
        let bench = LocalAPICBench(cpus: 2)
        bench.enable(0)
        _ = bench.takeWakes()
        bench.write(0, APICReg.icrHigh, 1 << 24)
        bench.write(0, APICReg.icrLow, 0x400)
        #expect(bench.apic(1).hasPendingNMI)
        #expect(!bench.apic(0).hasPendingNMI)
        #expect(bench.takeWakes().map { [$0.vcpu, $0.urgent ? 1 : 0] } == [[1, 1]])
    }

    @Test func smiRemoteReadAndLevelDeassertINITIPIsAreIgnored() {
        let bench = LocalAPICBench(cpus: 2)
        bench.enable(1)
        bench.write(0, APICReg.icrHigh, 1 << 24)
        for low: UInt32 in [0x0240, 0x0340, 0x8500, 0x0740] { bench.write(0, APICReg.icrLow, low) }
        #expect(!bench.apic(1).hasStartupWork)
        #expect(bench.takeWakes().isEmpty)
        #expect(bench.read(1, APICReg.svr) == 0x1FF)
    }

    // MARK: INIT and start-up

    @Test func initParksAnAPUntilTheFirstStartupIPI() {
        let bench = LocalAPICBench(cpus: 2)
        bench.enable(1)
        bench.write(1, APICReg.tpr, 0x20)
        bench.write(0, APICReg.icrHigh, 1 << 24)
        bench.write(0, APICReg.icrLow, 0xC500)        // INIT, level assert
        #expect(bench.read(1, APICReg.svr) == 0xFF && bench.read(1, APICReg.tpr) == 0, "INIT resets the registers")
        #expect(bench.read(1, APICReg.id) == 1 << 24)
        #expect(bench.apic(1).takeStartup() == .init(reset: true, startVector: nil, waiting: true))
        #expect(bench.apic(1).hasStartupWork)
        bench.write(0, APICReg.icrLow, 0x0608)        // start-up at 0x8000
        bench.write(0, APICReg.icrLow, 0x0609)        // the second one finds the AP started
        #expect(bench.apic(1).takeStartup() == .init(reset: false, startVector: 0x08, waiting: false))
        #expect(!bench.apic(1).hasStartupWork)
    }

    @Test func initAndStartupBeforeTheVCPULooksAreTakenTogether() {
        let bench = LocalAPICBench(cpus: 2)
        bench.bus.deliver(MSIMessage(vector: 0, deliveryMode: .initialize, destination: 1))
        bench.bus.deliver(MSIMessage(vector: 0x9A, deliveryMode: .startup, destination: 1))
        #expect(bench.apic(1).takeStartup() == .init(reset: true, startVector: 0x9A, waiting: false))
    }

    @Test func aStartupIPIWithoutINITIsIgnored() {
        let bench = LocalAPICBench(cpus: 2)
        bench.write(0, APICReg.icrHigh, 1 << 24)
        bench.write(0, APICReg.icrLow, 0x0608)
        #expect(!bench.apic(1).hasStartupWork)
    }

    @Test func initOnTheBSPResetsItWithoutWaitingForAStartupIPI() {
        let bench = LocalAPICBench(cpus: 2)
        bench.write(1, APICReg.icrLow, 0x0500)
        #expect(bench.apic(0).takeStartup() == .init(reset: true, startVector: nil, waiting: false))
    }

    @Test func anOperatingSystemsAPWaitsForStartupFromPowerOn() {
        let bench = LocalAPICBench(cpus: 2)
        bench.apic(1).waitForStartup()
        #expect(bench.apic(1).takeStartup() == .init(reset: false, startVector: nil, waiting: true))
        bench.write(0, APICReg.icrLow, 0xC_0610)      // start-up to all but self
        #expect(bench.apic(1).takeStartup() == .init(reset: false, startVector: 0x10, waiting: false))
    }
}
