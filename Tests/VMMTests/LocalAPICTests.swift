import Testing
@testable import VMM

/// The user-space local APIC's registers, priorities, EOI and errors, as a guest sees them.
@Suite struct LocalAPICTests {
    @Test func powerOnStateIsTheSDMsWithTheIDOfTheVCPU() {
        let bench = LocalAPICBench(cpus: 3)
        #expect(bench.read(2, APICReg.id) == 2 << 24)
        #expect(bench.read(0, APICReg.version) == 0x0006_0014)
        #expect(bench.read(0, APICReg.tpr) == 0)
        #expect(bench.read(0, APICReg.ppr) == 0)
        #expect(bench.read(0, APICReg.ldr) == 0)
        #expect(bench.read(0, APICReg.dfr) == 0xFFFF_FFFF)
        #expect(bench.read(0, APICReg.svr) == 0xFF)
        for lvt in APICReg.lvts { #expect(bench.read(0, lvt) == 0x1_0000) }
        for bank in [APICReg.isr, APICReg.tmr, APICReg.irr] {
            for index in 0..<8 { #expect(bench.read(0, bank + 0x10 * UInt32(index)) == 0) }
        }
        #expect(bench.read(0, APICReg.esr) == 0)
        #expect(bench.read(0, APICReg.initialCount) == 0 && bench.read(0, APICReg.currentCount) == 0)
        #expect(bench.apic(0).base == 0xFEE0_0900)
        #expect(bench.apic(1).base == 0xFEE0_0800)
    }

    @Test func idVersionAndPPRIgnoreWrites() {
        let bench = LocalAPICBench(cpus: 2)
        bench.write(1, APICReg.id, 0x0500_0000)
        bench.write(1, APICReg.version, 0)
        bench.write(1, APICReg.ppr, 0xF0)
        #expect(bench.read(1, APICReg.id) == 1 << 24)
        #expect(bench.read(1, APICReg.version) == 0x0006_0014)
        #expect(bench.read(1, APICReg.ppr) == 0)
    }

    @Test func ldrKeepsTheLogicalIDByteAndDFRTheModelBits() {
        let bench = LocalAPICBench()
        bench.write(0, APICReg.ldr, 0xFFFF_FFFF)
        bench.write(0, APICReg.dfr, 0x0123_4567)
        #expect(bench.read(0, APICReg.ldr) == 0xFF00_0000)
        #expect(bench.read(0, APICReg.dfr) == 0x0FFF_FFFF)
    }

    @Test func reservedLVTBitsAreIgnoredOnWrite() {
        let bench = LocalAPICBench()
        bench.enable(0)
        let expected: [UInt32: UInt32] = [
            APICReg.timer: 0x3_00FF, APICReg.thermal: 0x1_07FF, APICReg.perf: 0x1_07FF, APICReg.cmci: 0x1_07FF,
            APICReg.lint0: 0x1_A7FF, APICReg.lint1: 0x1_A7FF, APICReg.error: 0x1_00FF,
        ]
        for (lvt, value) in expected {
            bench.write(0, lvt, 0xFFFF_FFFF)
            #expect(bench.read(0, lvt) == value, "LVT at 0x\(String(lvt, radix: 16))")
        }
    }

    @Test func softwareDisableMasksEveryLVTAndKeepsThemMaskedUntilReenabled() {
        let bench = LocalAPICBench()
        bench.enable(0)
        for lvt in APICReg.lvts { bench.write(0, lvt, 0x40) }
        bench.write(0, APICReg.svr, 0xFF)
        for lvt in APICReg.lvts { #expect(bench.read(0, lvt) == 0x1_0040) }
        bench.write(0, APICReg.lint0, 0x700)
        #expect(bench.read(0, APICReg.lint0) == 0x1_0700)
        bench.enable(0)
        bench.write(0, APICReg.lint0, 0x700)
        #expect(bench.read(0, APICReg.lint0) == 0x700)
    }

    @Test func anAcceptedInterruptSetsIRRAndWakesTheVCPU() {
        let bench = LocalAPICBench(cpus: 2)
        bench.enable(1)
        bench.bus.interrupt(vcpu: 1, vector: 0x41, levelTriggered: false)
        #expect(bench.bit(1, bank: APICReg.irr, 0x41))
        #expect(!bench.bit(1, bank: APICReg.tmr, 0x41))
        let wakes = bench.takeWakes()
        #expect(wakes.count == 1 && wakes[0].vcpu == 1 && !wakes[0].urgent)
    }

    @Test func theHighestPendingVectorIsTakenFirstAndMovesIntoService() {
        let bench = LocalAPICBench()
        bench.enable(0)
        for vector: UInt8 in [0x31, 0x92, 0x55] { bench.bus.interrupt(vcpu: 0, vector: vector, levelTriggered: false) }
        #expect(bench.apic(0).takeInterrupt() == 0x92)
        #expect(bench.bit(0, bank: APICReg.isr, 0x92))
        #expect(!bench.bit(0, bank: APICReg.irr, 0x92))
        #expect(bench.read(0, APICReg.ppr) == 0x90)
        // Lower classes wait for the EOI.
        #expect(bench.apic(0).takeInterrupt() == nil)
        bench.write(0, APICReg.eoi, 0)
        #expect(bench.drain(0) == [0x55, 0x31])
    }

    @Test func tprHoldsBackVectorsOfItsClassAndBelow() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.tpr, 0x5A)
        #expect(bench.read(0, APICReg.ppr) == 0x5A)
        bench.bus.interrupt(vcpu: 0, vector: 0x5F, levelTriggered: false)
        #expect(bench.apic(0).pendingVector == nil)
        bench.bus.interrupt(vcpu: 0, vector: 0x60, levelTriggered: false)
        #expect(bench.apic(0).takeInterrupt() == 0x60)
        // PPR is now the in-service class, above the TPR.
        #expect(bench.read(0, APICReg.ppr) == 0x60)
        bench.write(0, APICReg.eoi, 0)
        #expect(bench.read(0, APICReg.ppr) == 0x5A)
        bench.write(0, APICReg.tpr, 0)
        #expect(bench.apic(0).takeInterrupt() == 0x5F)
    }

    @Test func pprIsTheTPRWhenItsClassIsAtLeastTheInServiceClass() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.bus.interrupt(vcpu: 0, vector: 0x47, levelTriggered: false)
        #expect(bench.apic(0).takeInterrupt() == 0x47)
        bench.write(0, APICReg.tpr, 0x43)
        #expect(bench.read(0, APICReg.ppr) == 0x43)
        bench.write(0, APICReg.tpr, 0x3F)
        #expect(bench.read(0, APICReg.ppr) == 0x40)
    }

    @Test func eoiRetiresTheHighestInServiceVectorFirst() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.bus.interrupt(vcpu: 0, vector: 0x40, levelTriggered: false)
        #expect(bench.apic(0).takeInterrupt() == 0x40)
        bench.bus.interrupt(vcpu: 0, vector: 0x80, levelTriggered: false)
        #expect(bench.apic(0).takeInterrupt() == 0x80)
        bench.write(0, APICReg.eoi, 0)
        #expect(!bench.bit(0, bank: APICReg.isr, 0x80) && bench.bit(0, bank: APICReg.isr, 0x40))
        bench.write(0, APICReg.eoi, 0)
        #expect(!bench.bit(0, bank: APICReg.isr, 0x40))
        // With nothing in service an EOI changes nothing.
        bench.write(0, APICReg.eoi, 0)
        #expect(bench.read(0, APICReg.ppr) == 0)
    }

    @Test func onlyEOIsOfLevelTriggeredVectorsReachTheIOAPIC() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.bus.deliver(MSIMessage(vector: 0x51, levelTriggered: true, destination: 0))
        bench.bus.deliver(MSIMessage(vector: 0x52, destination: 0))
        #expect(bench.bit(0, bank: APICReg.tmr, 0x51) && !bench.bit(0, bank: APICReg.tmr, 0x52))
        #expect(bench.drain(0) == [0x52, 0x51])
        #expect(bench.levelEOIs == [0x51])
    }

    @Test func errorsAccumulateAndAnESRWriteLatchesThem() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.icrLow, 0x4_0005)          // fixed self-IPI, vector 5: send illegal
        #expect(bench.read(0, APICReg.esr) == 0)
        bench.bus.interrupt(vcpu: 0, vector: 3, levelTriggered: false)   // receive illegal
        #expect(bench.read(0, APICReg.esr) == 0)
        bench.write(0, APICReg.esr, 0)
        #expect(bench.read(0, APICReg.esr) == 0x60)
        bench.write(0, APICReg.esr, 0)
        #expect(bench.read(0, APICReg.esr) == 0)
        #expect(bench.apic(0).pendingVector == nil)
    }

    @Test func theErrorLVTFiresOnEachError() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.error, 0xE3)
        bench.bus.interrupt(vcpu: 0, vector: 7, levelTriggered: false)
        #expect(bench.drain(0) == [0xE3])
    }

    @Test func anIllegalVectorInAnLVTReportsSendIllegalVectorAndFiresNothing() {
        let bench = LocalAPICBench()
        bench.enable(0)
        bench.write(0, APICReg.thermal, 0x0C)
        bench.write(0, APICReg.error, 0x0D)   // the error LVT is illegal too: no recursion
        bench.apic(0).trigger(.thermal)
        #expect(bench.apic(0).pendingVector == nil)
        bench.write(0, APICReg.esr, 0)
        #expect(bench.read(0, APICReg.esr) == 0x20)
    }

    @Test func aSoftwareDisabledAPICDropsFixedInterruptsButTakesNMIs() {
        let bench = LocalAPICBench()
        bench.bus.interrupt(vcpu: 0, vector: 0x40, levelTriggered: false)
        #expect(!bench.bit(0, bank: APICReg.irr, 0x40))
        bench.bus.deliver(MSIMessage(vector: 0, deliveryMode: .nmi, destination: 0))
        #expect(bench.apic(0).hasPendingNMI)
        #expect(bench.takeWakes().map(\.urgent) == [true])
        #expect(bench.apic(0).takeNMI())
        #expect(!bench.apic(0).hasPendingNMI)
    }

    @Test func cr8IsTheTPRsPriorityClass() {
        let bench = LocalAPICBench()
        bench.write(0, APICReg.tpr, 0x3F)
        #expect(bench.apic(0).cr8 == 3)
        bench.apic(0).setCR8(3)
        #expect(bench.read(0, APICReg.tpr) == 0x3F)
        bench.apic(0).setCR8(9)
        #expect(bench.read(0, APICReg.tpr) == 0x90)
    }

    @Test func partialReadsSeeTheRegistersBytesAndOddWritesAreIgnored() {
        let bench = LocalAPICBench(cpus: 3)
        #expect(bench.apic(2).mmioRead(offset: UInt64(APICReg.id) + 3, size: 1) == 2)
        #expect(bench.apic(2).mmioRead(offset: UInt64(APICReg.version), size: 2) == 0x14)
        #expect(bench.apic(2).mmioRead(offset: UInt64(APICReg.version) + 4, size: 4) == 0)
        #expect(bench.apic(2).mmioRead(offset: UInt64(APICReg.version), size: 8) == 0x0006_0014)
        #expect(bench.apic(2).mmioWrite(offset: UInt64(APICReg.tpr), size: 1, value: 0x20))
        #expect(bench.apic(2).mmioWrite(offset: UInt64(APICReg.tpr) + 4, size: 4, value: 0x20))
        #expect(bench.read(2, APICReg.tpr) == 0)
        #expect(bench.read(2, 0x3A0) == 0)
    }

    @Test func lint0PassesTheExtINTWhenProgrammedSoOrWhenTheAPICIsDisabled() {
        let bench = LocalAPICBench()
        #expect(bench.apic(0).acceptsExtINT)
        bench.enable(0)
        #expect(!bench.apic(0).acceptsExtINT)
        bench.write(0, APICReg.lint0, 0x700)
        #expect(bench.apic(0).acceptsExtINT)
        bench.write(0, APICReg.lint0, 0x1_0700)
        #expect(!bench.apic(0).acceptsExtINT)
        #expect(bench.apic(0).writeMSR(0x1B, value: 0xFEE0_0100))
        #expect(bench.apic(0).acceptsExtINT)
    }

    @Test func triggeringAnLVTDeliversItsVectorOrNMI() {
        let bench = LocalAPICBench(cpus: 3)
        bench.enable(0)
        bench.enable(2)
        bench.write(0, APICReg.lint1, 0x400)          // NMI
        bench.write(0, APICReg.thermal, 0x44)         // fixed
        bench.write(2, APICReg.lint1, 0x1_0400)       // masked
        bench.bus.trigger(.lint1)
        #expect(bench.apic(0).hasPendingNMI)
        #expect(bench.apic(1).hasPendingNMI, "a disabled APIC passes LINT1 as NMI")
        #expect(!bench.apic(2).hasPendingNMI)
        bench.bus.trigger(.thermal, vcpus: CPUSet([0]))
        #expect(bench.drain(0) == [0x44])
    }

    @Test func softwareDisabledAPICLetsLINT0WakeTheVCPUForTheExtINT() {
        let bench = LocalAPICBench()
        bench.apic(0).trigger(.lint0)
        #expect(bench.takeWakes().map(\.vcpu) == [0])
        #expect(bench.apic(0).pendingVector == nil)
    }
}
