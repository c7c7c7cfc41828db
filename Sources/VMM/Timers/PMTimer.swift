import Synchronization

/// The ACPI power-management timer (PM1_TMR) at port 0x408: a read-only 32-bit counter running
/// at 3.579545 MHz from VM creation (or the last reset), as bhyve's vpmtmr. The FADT advertises it
/// as 32 bits wide, so it wraps after about 20 minutes.
public final class PMTimer: PortIODevice {
    /// The PM1_TMR register; the FADT points the guest here.
    public static let port: UInt16 = 0x408
    /// The counting rate, in Hz.
    public static let frequency: UInt64 = 3_579_545

    static let nanosecondsPerSecond: UInt64 = 1_000_000_000

    private let clock: any Clock
    /// The clock time at which the count was zero.
    private let origin: Mutex<UInt64>

    /// Creates the timer with its count at zero now.
    public init(clock: any Clock) {
        self.clock = clock
        origin = Mutex(clock.now)
    }

    /// Restarts the count from zero, as bhyve's VM re-initialisation does.
    public func reset() {
        origin.withLock { $0 = clock.now }
    }

    /// Only 32-bit reads of the register are defined (bhyve refuses the others); they read all-ones.
    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        guard port == Self.port, size == 4 else { return 0xFFFF_FFFF }
        let elapsed = origin.withLock { origin in
            let now = clock.now
            return now > origin ? now - origin : 0
        }
        // The product needs up to 86 bits; the quotient fits in 64.
        let ticks = Self.nanosecondsPerSecond.dividingFullWidth(elapsed.multipliedFullWidth(by: Self.frequency))
        return UInt32(truncatingIfNeeded: ticks.quotient)
    }

    /// The register is read-only; writes are ignored.
    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {}
}
