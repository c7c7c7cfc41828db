import Testing
import TestSupport
@testable import VMM

/// Seeded random guest and device traffic against four user-space local APICs: every access is
/// answered, and the architectural invariants hold after each one.
@Suite struct LocalAPICRandomTrafficTests {
    static let registerOffsets: [UInt32] = [
        0x20, 0x30, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0, 0x100, 0x170, 0x180, 0x200, 0x270, 0x280,
        0x2F0, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x390, 0x3E0, 0x3F0,
    ]

    @Test(arguments: [1, 0x5EED, 0xA91C])
    func randomRegisterTrafficKeepsTheInvariants(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let bench = LocalAPICBench(cpus: 4)
        for _ in 0..<100_000 {
            let vcpu = Int.random(in: 0..<4, using: &random)
            let apic = bench.apic(vcpu)
            let offset = Self.registerOffsets.randomElement(using: &random)!
            // Mostly plausible values; sometimes anything at all.
            let value = Bool.random(using: &random) ? UInt32.random(in: 0...0xFFFF, using: &random)
                                                    : UInt32.random(in: 0...UInt32.max, using: &random)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<30:
                _ = apic.mmioWrite(offset: UInt64(offset), size: 4, value: UInt64(value))
            case 30..<40:
                _ = apic.mmioRead(offset: UInt64.random(in: 0..<0x1000, using: &random), size: [1, 2, 4, 8].randomElement(using: &random)!)
            case 40..<42:
                _ = apic.mmioWrite(offset: UInt64.random(in: 0..<0x1000, using: &random), size: [1, 2, 4, 8].randomElement(using: &random)!, value: UInt64(value))
            case 42..<52:
                _ = apic.writeMSR(0x800 + UInt32.random(in: 0...0xFF, using: &random), value: UInt64(value) | (Int.random(in: 0..<8, using: &random) == 0 ? UInt64(value) << 32 : 0))
            case 52..<57:
                _ = apic.readMSR(0x800 + UInt32.random(in: 0...0xFF, using: &random))
            case 57..<59:
                let bits: [UInt64] = [0, 1 << 10, 1 << 11, 3 << 10]
                _ = apic.writeMSR(0x1B, value: 0xFEE0_0000 | bits.randomElement(using: &random)!)
            case 59..<70:
                if let vector = apic.takeInterrupt() { #expect(vector >= 16) }
                _ = apic.takeNMI()
            case 70..<75:
                _ = apic.takeStartup()
            case 75..<83:
                bench.bus.interrupt(vcpu: vcpu, vector: UInt8.random(in: 0...255, using: &random), levelTriggered: Bool.random(using: &random))
            case 83..<88:
                bench.bus.sendMSI(address: 0xFEE0_0000 | UInt64(value & 0xFF) << 12 | UInt64(value >> 30 & 1) << 2,
                                  data: UInt32.random(in: 0...0xFFFF, using: &random))
            case 88..<92:
                bench.bus.trigger(LocalInterrupt.allCases.randomElement(using: &random)!,
                                  vcpus: Bool.random(using: &random) ? nil : CPUSet([vcpu]))
            case 92..<94:
                apic.setCR8(UInt64.random(in: 0...15, using: &random))
            default:
                bench.clock.advance(by: UInt64.random(in: 0...2_000_000, using: &random))
            }
            Self.checkInvariants(bench.registers(vcpu), now: bench.clock.now)
        }
        _ = bench.takeWakes()
    }

    static func checkInvariants(_ registers: LocalAPICRegisters, now: UInt64) {
        // Each vector put in service had a higher priority class than everything in service.
        var classes = Set<UInt8>()
        var isr = registers.isr
        while let vector = isr.highest {
            #expect(classes.insert(vector >> 4).inserted, "two in-service vectors in class \(vector >> 4)")
            isr.remove(vector)
        }
        #expect(registers.irr.highest.map { $0 >= 16 } ?? true)
        let inService = UInt32(registers.isr.highest ?? 0)
        #expect(registers.ppr == max(registers.tpr & 0xF0, inService & 0xF0) || registers.ppr == registers.tpr)
        #expect(registers.tpr <= 0xFF)
        for entry in LocalInterrupt.allCases {
            let value = registers.lvt[entry.rawValue]
            #expect(value & ~entry.writableBits == 0)
            if !registers.isSoftwareEnabled { #expect(value & LocalAPICRegisters.LVT.masked != 0) }
        }
        let timer = registers.timer
        #expect((timer.start == nil) == (timer.deadline == nil))
        #expect(timer.currentCount(at: now, periodic: registers.isTimerPeriodic) <= timer.initialCount)
        if !registers.isEnabled { #expect(registers.irr.isEmpty && registers.isr.isEmpty) }
        #expect(registers.esr & ~0x60 == 0 && registers.pendingErrors & ~0x60 == 0)
    }
}
