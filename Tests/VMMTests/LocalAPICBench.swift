import Synchronization
import TestSupport
@testable import VMM

/// A ``LocalAPICBus`` on a manual clock with its wake-ups and I/O APIC EOIs recorded, driven
/// through the xAPIC page and the x2APIC MSRs as guests would.
final class LocalAPICBench: Sendable {
    let clock = ManualClock()
    let bus: LocalAPICBus
    private let wakes = Mutex<[(vcpu: Int, urgent: Bool)]>([])
    private let eois = Mutex<[UInt8]>([])

    init(cpus: Int = 1, x2APIC: Bool = false) {
        bus = LocalAPICBus(count: cpus, x2APIC: x2APIC, clock: clock)
        bus.connect(wake: { [weak self] vcpu, urgent in self?.wakes.withLock { $0.append((vcpu, urgent)) } },
                    levelEOI: { [weak self] vector in self?.eois.withLock { $0.append(vector) } })
    }

    func apic(_ vcpu: Int) -> LocalAPIC { bus.apics[vcpu] }
    func registers(_ vcpu: Int) -> LocalAPICRegisters { bus.apics[vcpu].snapshot }

    /// Vectors whose EOI reached the I/O APIC, in order.
    var levelEOIs: [UInt8] { eois.withLock { $0 } }

    /// The vCPUs woken so far (urgently or not), in order; cleared by reading.
    func takeWakes() -> [(vcpu: Int, urgent: Bool)] {
        wakes.withLock { wakes in
            defer { wakes.removeAll() }
            return wakes
        }
    }

    func write(_ vcpu: Int, _ offset: UInt32, _ value: UInt32) {
        let decoded = apic(vcpu).mmioWrite(offset: UInt64(offset), size: 4, value: UInt64(value))
        precondition(decoded, "xAPIC page not decoded on vCPU \(vcpu)")
    }

    func read(_ vcpu: Int, _ offset: UInt32) -> UInt32 {
        UInt32(apic(vcpu).mmioRead(offset: UInt64(offset), size: 4)!)
    }

    /// Software-enables vCPU `vcpu`'s APIC with spurious vector 0xFF.
    func enable(_ vcpu: Int) {
        write(vcpu, APICReg.svr, 0x1FF)
    }

    /// Takes every interrupt the APIC would inject now and EOIs it, returning the vectors in order.
    func drain(_ vcpu: Int) -> [UInt8] {
        var taken: [UInt8] = []
        while let vector = apic(vcpu).takeInterrupt() {
            taken.append(vector)
            write(vcpu, APICReg.eoi, 0)
        }
        return taken
    }

    /// Bit `vector` of the ISR, TMR or IRR bank at `bank`.
    func bit(_ vcpu: Int, bank: UInt32, _ vector: UInt8) -> Bool {
        read(vcpu, bank + 0x10 * UInt32(vector / 32)) >> UInt32(vector % 32) & 1 != 0
    }
}

/// xAPIC register offsets, as a guest names them.
enum APICReg {
    static let id: UInt32 = 0x20, version: UInt32 = 0x30, tpr: UInt32 = 0x80, apr: UInt32 = 0x90
    static let ppr: UInt32 = 0xA0, eoi: UInt32 = 0xB0, ldr: UInt32 = 0xD0, dfr: UInt32 = 0xE0
    static let svr: UInt32 = 0xF0, isr: UInt32 = 0x100, tmr: UInt32 = 0x180, irr: UInt32 = 0x200
    static let esr: UInt32 = 0x280, cmci: UInt32 = 0x2F0, icrLow: UInt32 = 0x300, icrHigh: UInt32 = 0x310
    static let timer: UInt32 = 0x320, thermal: UInt32 = 0x330, perf: UInt32 = 0x340
    static let lint0: UInt32 = 0x350, lint1: UInt32 = 0x360, error: UInt32 = 0x370
    static let initialCount: UInt32 = 0x380, currentCount: UInt32 = 0x390, divide: UInt32 = 0x3E0
    static let lvts: [UInt32] = [timer, thermal, perf, lint0, lint1, error, cmci]

    /// The x2APIC MSR of an xAPIC offset.
    static func msr(_ offset: UInt32) -> UInt32 { 0x800 + offset >> 4 }
}
