import Testing
@testable import VMM

/// IA32_APIC_BASE mode transitions and the x2APIC MSR interface.
@Suite struct X2APICTests {
    static let base: UInt64 = 0xFEE0_0000
    static let enabled: UInt64 = 1 << 11
    static let extended: UInt64 = 1 << 10

    /// From each mode, writing each (EN, EXTD) pair: whether the SDM lets it through.
    @Test(arguments: [
        (from: "xapic", to: enabled | extended, allowed: true),
        (from: "xapic", to: 0, allowed: true),
        (from: "xapic", to: extended, allowed: false),
        (from: "x2apic", to: enabled, allowed: false),
        (from: "x2apic", to: 0, allowed: true),
        (from: "disabled", to: enabled | extended, allowed: false),
        (from: "disabled", to: enabled, allowed: true),
    ])
    func apicBaseModeTransitionsFollowTheSDM(from: String, to bits: UInt64, allowed: Bool) {
        let bench = LocalAPICBench(cpus: 2, x2APIC: from == "x2apic")
        let apic = bench.apic(1)
        if from == "disabled" { #expect(apic.writeMSR(0x1B, value: Self.base)) }
        let before = apic.base
        #expect(apic.writeMSR(0x1B, value: Self.base | bits) == allowed)
        #expect(apic.base == (allowed ? Self.base | bits : before))
    }

    @Test func apicBaseRefusesReservedBitsAndAMovedPageAndKeepsTheBSPFlag() {
        let bench = LocalAPICBench()
        let apic = bench.apic(0)
        #expect(!apic.writeMSR(0x1B, value: Self.base | Self.enabled | 1 << 8 | 1 << 9))
        #expect(!apic.writeMSR(0x1B, value: 0xFEF0_0000 | Self.enabled | 1 << 8))
        #expect(apic.writeMSR(0x1B, value: Self.base | Self.enabled))
        #expect(apic.readMSR(0x1B) == Self.base | Self.enabled | 1 << 8)
    }

    @Test func x2APICModeHasA32BitIDAndADerivedReadOnlyLDR() {
        let bench = LocalAPICBench(cpus: 18)
        let apic = bench.apic(17)
        bench.write(17, APICReg.ldr, 0x0100_0000)
        #expect(apic.writeMSR(0x1B, value: Self.base | Self.enabled | Self.extended))
        #expect(apic.readMSR(APICReg.msr(APICReg.id)) == 17)
        #expect(apic.readMSR(APICReg.msr(APICReg.ldr)) == 0x0001_0002)
        #expect(!apic.writeMSR(APICReg.msr(APICReg.ldr), value: 0))
        #expect(!apic.writeMSR(APICReg.msr(APICReg.id), value: 3))
    }

    @Test func theXAPICPageIsNotDecodedInX2APICModeNorTheMSRsInXAPICMode() {
        let bench = LocalAPICBench()
        #expect(bench.apic(0).readMSR(APICReg.msr(APICReg.version)) == nil)
        #expect(!bench.apic(0).writeMSR(APICReg.msr(APICReg.tpr), value: 0))
        #expect(bench.apic(0).writeMSR(0x1B, value: Self.base | Self.enabled | Self.extended | 1 << 8))
        #expect(bench.apic(0).mmioRead(offset: UInt64(APICReg.version), size: 4) == nil)
        #expect(!bench.apic(0).mmioWrite(offset: UInt64(APICReg.tpr), size: 4, value: 0x20))
        #expect(bench.apic(0).readMSR(APICReg.msr(APICReg.version)) == 0x0006_0014)
    }

    @Test func registersX2APICLacksOrThatAreWriteOnlyFaultOnRead() {
        let bench = LocalAPICBench(x2APIC: true)
        for offset in [APICReg.apr, 0xC0, APICReg.dfr, APICReg.icrHigh, APICReg.eoi, 0x3F0, 0x3A0] {
            #expect(bench.apic(0).readMSR(APICReg.msr(offset)) == nil, "offset 0x\(String(offset, radix: 16))")
        }
        #expect(bench.apic(0).readMSR(0x8FF) == nil)
    }

    @Test func writesToReadOnlyRegistersAndReservedHighBitsFault() {
        let bench = LocalAPICBench(x2APIC: true)
        let apic = bench.apic(0)
        for offset in [APICReg.id, APICReg.version, APICReg.ppr, APICReg.ldr, APICReg.isr, APICReg.tmr + 0x70, APICReg.irr, APICReg.currentCount, APICReg.dfr, APICReg.icrHigh] {
            #expect(!apic.writeMSR(APICReg.msr(offset), value: 0), "offset 0x\(String(offset, radix: 16))")
        }
        #expect(!apic.writeMSR(APICReg.msr(APICReg.tpr), value: 1 << 32))
        #expect(!apic.writeMSR(APICReg.msr(APICReg.eoi), value: 1))
        #expect(!apic.writeMSR(APICReg.msr(APICReg.esr), value: 1))
        #expect(apic.writeMSR(APICReg.msr(APICReg.tpr), value: 0x1_0020))
        #expect(apic.readMSR(APICReg.msr(APICReg.tpr)) == 0x20)
    }

    @Test func theSelfIPIRegisterRaisesAFixedInterruptOnItsOwnAPIC() {
        let bench = LocalAPICBench(cpus: 2, x2APIC: true)
        let apic = bench.apic(1)
        #expect(apic.writeMSR(APICReg.msr(APICReg.svr), value: 0x1FF))
        #expect(apic.writeMSR(APICReg.msr(0x3F0), value: 0x66))
        #expect(apic.takeInterrupt() == 0x66)
        #expect(apic.readMSR(APICReg.msr(APICReg.isr + 0x30)) == 1 << 6)
        #expect(apic.writeMSR(APICReg.msr(APICReg.eoi), value: 0))
        #expect(apic.readMSR(APICReg.msr(APICReg.isr + 0x30)) == 0)
    }

    @Test func theICRIsOne64BitRegisterWithA32BitDestination() {
        let bench = LocalAPICBench(cpus: 3, x2APIC: true)
        #expect(bench.apic(2).writeMSR(APICReg.msr(APICReg.svr), value: 0x1FF))
        #expect(bench.apic(0).writeMSR(APICReg.msr(APICReg.icrLow), value: 2 << 32 | 0x4077))
        #expect(bench.apic(0).readMSR(APICReg.msr(APICReg.icrLow)) == 2 << 32 | 0x4077)
        #expect(bench.apic(2).takeInterrupt() == 0x77)
        // Logical: cluster 0, member bit 2.
        #expect(bench.apic(0).writeMSR(APICReg.msr(APICReg.icrLow), value: 0x4 << 32 | 0x0888))
        #expect(bench.apic(2).takeInterrupt() == 0x88)
    }
}
