import Synchronization
import TestSupport
import Testing
import VMM

/// Records what the I/O APIC sends, and the routes it reports per pin.
private final class RecordingIOAPICOutput: IOAPICOutput {
    private struct Record {
        var deliveries: [MSIMessage] = []
        var routes = [MSIMessage?](repeating: nil, count: IOAPIC.pinCount)
        var routeChanges: [Int] = []
    }

    private let record = Mutex(Record())

    var deliveries: [MSIMessage] { record.withLock { $0.deliveries } }
    var deliveryCount: Int { record.withLock { $0.deliveries.count } }
    func deliveries(since start: Int) -> [MSIMessage] { record.withLock { Array($0.deliveries[start...]) } }
    var routes: [MSIMessage?] { record.withLock { $0.routes } }
    /// The pins whose routes were reported, in order.
    var routeChanges: [Int] { record.withLock { $0.routeChanges } }

    func clear() {
        record.withLock {
            $0.deliveries.removeAll()
            $0.routeChanges.removeAll()
        }
    }

    func deliver(_ message: MSIMessage) { record.withLock { $0.deliveries.append(message) } }

    func routeChanged(pin: Int, message: MSIMessage?) {
        record.withLock {
            $0.routes[pin] = message
            $0.routeChanges.append(pin)
        }
    }
}

/// An I/O APIC with its output, driven through its registers as a guest would.
private struct Harness {
    let output = RecordingIOAPICOutput()
    let ioapic: IOAPIC

    init() { ioapic = IOAPIC(output: output) }

    static let select = IOAPIC.baseAddress
    static let window = IOAPIC.baseAddress + 0x10

    func read(_ register: UInt8) -> UInt32 {
        ioapic.mmioWrite(Self.select, size: 4, value: UInt64(register))
        return UInt32(ioapic.mmioRead(Self.window, size: 4))
    }

    func write(_ register: UInt8, _ value: UInt32) {
        ioapic.mmioWrite(Self.select, size: 4, value: UInt64(register))
        ioapic.mmioWrite(Self.window, size: 4, value: UInt64(value))
    }

    func entry(_ pin: Int) -> UInt64 {
        UInt64(read(UInt8(0x10 + 2 * pin))) | UInt64(read(UInt8(0x11 + 2 * pin))) << 32
    }

    /// Writes the high half, then the low half, as Linux does.
    func setEntry(_ pin: Int, _ value: UInt64) {
        write(UInt8(0x11 + 2 * pin), UInt32(truncatingIfNeeded: value >> 32))
        write(UInt8(0x10 + 2 * pin), UInt32(truncatingIfNeeded: value))
    }
}

private let remoteIRR: UInt64 = 1 << 14
private let deliveryStatus: UInt64 = 1 << 12
private let level: UInt64 = 1 << 15
private let masked: UInt64 = 1 << 16
private let logical: UInt64 = 1 << 11
private let activeLow: UInt64 = 1 << 13

/// An entry with `vector`, delivery mode `mode` and destination `destination`.
private func entry(vector: UInt8, mode: UInt64 = 0, destination: UInt8 = 0, flags: UInt64 = 0) -> UInt64 {
    UInt64(vector) | mode << 8 | UInt64(destination) << 56 | flags
}

@Suite struct IOAPICRegisterTests {
    @Test func resetStateMasksEveryEntryAndReadsIdentity() {
        let h = Harness()
        #expect(h.ioapic.mmioRead(Harness.select, size: 4) == 0)
        #expect(h.read(0x00) == 0)
        #expect(h.read(0x01) == 0x001F_0011)
        #expect(h.read(0x02) == 0)
        for pin in 0..<32 {
            #expect(h.entry(pin) == 0x0000_0000_0001_0000)
        }
    }

    @Test func idKeepsOnlyBits24To27AndArbitrationFollowsIt() {
        let h = Harness()
        h.write(0x00, 0xFFFF_FFFF)
        #expect(h.read(0x00) == 0x0F00_0000)
        #expect(h.read(0x02) == 0x0F00_0000)
        h.write(0x00, 0x0300_00FF)
        #expect(h.read(0x00) == 0x0300_0000)
        #expect(h.read(0x02) == 0x0300_0000)
    }

    @Test func versionAndArbitrationIgnoreWrites() {
        let h = Harness()
        h.write(0x01, 0xFFFF_FFFF)
        h.write(0x02, 0xFFFF_FFFF)
        #expect(h.read(0x01) == 0x001F_0011)
        #expect(h.read(0x02) == 0)
        #expect(h.read(0x00) == 0)
    }

    @Test func registerSelectKeepsItsLowByte() {
        let h = Harness()
        h.ioapic.mmioWrite(Harness.select, size: 4, value: 0xDEAD_BE01)
        #expect(h.ioapic.mmioRead(Harness.select, size: 4) == 0x01)
        #expect(h.ioapic.mmioRead(Harness.window, size: 4) == 0x001F_0011)
    }

    @Test func unimplementedRegistersReadZeroAndIgnoreWrites() {
        let h = Harness()
        for register: UInt8 in [0x03, 0x0F, 0x50, 0x80, 0xFF] {
            h.write(register, 0xFFFF_FFFF)
            #expect(h.read(register) == 0)
        }
        #expect(h.output.routeChanges.isEmpty)
        for pin in 0..<32 { #expect(h.entry(pin) == masked) }
    }

    @Test func redirectionEntriesRoundTripThroughTwoWindows() {
        let h = Harness()
        h.write(0x4F, 0xAB00_0000)
        h.write(0x4E, 0x0000_A9F1 | 1 << 16)
        #expect(h.read(0x4E) == 0x0001_A9F1)
        #expect(h.read(0x4F) == 0xAB00_0000)
        #expect(h.entry(31) == 0xAB00_0000_0001_A9F1)
        h.write(0x10, 0x0000_0030)
        #expect(h.entry(0) == 0x30)
        #expect(h.entry(1) == masked)
    }

    @Test func polarityIsStoredButNotApplied() {
        let h = Harness()
        h.setEntry(9, entry(vector: 0x39, flags: level | activeLow))
        #expect(h.entry(9) == entry(vector: 0x39, flags: level | activeLow))
        h.ioapic.assert(9)
        #expect(h.output.deliveries == [MSIMessage(vector: 0x39, levelTriggered: true, destination: 0)])
    }

    @Test func deliveryStatusAndRemoteIRRIgnoreWrites() {
        let h = Harness()
        h.setEntry(3, entry(vector: 0x33, flags: remoteIRR | deliveryStatus | masked))
        #expect(h.entry(3) == entry(vector: 0x33, flags: masked))
        h.setEntry(3, entry(vector: 0x33, flags: level))
        h.ioapic.assert(3)
        #expect(h.entry(3) & remoteIRR != 0)
        h.setEntry(3, entry(vector: 0x33, flags: level))
        #expect(h.entry(3) == entry(vector: 0x33, flags: level | remoteIRR))
    }

    @Test func accessesOtherThan32BitsReadZeroAndAreIgnored() {
        let h = Harness()
        h.write(0x00, 0x0500_0000)
        h.ioapic.mmioWrite(Harness.select, size: 4, value: 0x01)
        for size in [1, 2, 8] {
            #expect(h.ioapic.mmioRead(Harness.select, size: size) == 0)
            #expect(h.ioapic.mmioRead(Harness.window, size: size) == 0)
            h.ioapic.mmioWrite(Harness.select, size: size, value: 0)
        }
        #expect(h.ioapic.mmioRead(Harness.select, size: 4) == 0x01)
        h.ioapic.mmioWrite(Harness.select, size: 4, value: 0x00)
        for size in [1, 2, 8] { h.ioapic.mmioWrite(Harness.window, size: size, value: 0x0A00_0000) }
        #expect(h.read(0x00) == 0x0500_0000)
        for offset: UInt64 in [0x01, 0x04, 0x0C, 0x11, 0x14, 0x20, 0x40, 0xFFC] {
            h.ioapic.mmioWrite(IOAPIC.baseAddress + offset, size: 4, value: 0x0A00_0000)
            #expect(h.ioapic.mmioRead(IOAPIC.baseAddress + offset, size: 4) == 0)
        }
        #expect(h.read(0x00) == 0x0500_0000)
        #expect(h.output.routeChanges.isEmpty)
    }
}

@Suite struct IOAPICDeliveryTests {
    @Test func edgePinDeliversOncePerRisingEdge() {
        let h = Harness()
        h.setEntry(4, entry(vector: 0x34))
        h.ioapic.assert(4)
        h.ioapic.assert(4)
        #expect(h.output.deliveries == [MSIMessage(vector: 0x34, destination: 0)])
        h.ioapic.deassert(4)
        h.ioapic.deassert(4)
        h.ioapic.assert(4)
        #expect(h.output.deliveries.count == 2)
        h.ioapic.deassert(4)
        for _ in 0..<5 { h.ioapic.pulse(4) }
        #expect(h.output.deliveries.count == 7)
        #expect(h.entry(4) == entry(vector: 0x34))
    }

    @Test func pulseOnAnAssertedLineIsNoEdge() {
        let h = Harness()
        h.setEntry(4, entry(vector: 0x34))
        h.ioapic.assert(4)
        h.ioapic.pulse(4)
        #expect(h.output.deliveries.count == 1)
    }

    @Test func maskedPinsNeverDeliver() {
        let h = Harness()
        h.setEntry(5, entry(vector: 0x35, flags: masked))
        h.setEntry(6, entry(vector: 0x36, flags: masked | level))
        h.setEntry(7, entry(vector: 0x37, mode: 1, destination: 0xFF, flags: masked | logical))
        h.ioapic.pulse(5)
        h.ioapic.assert(5)
        h.ioapic.assert(6)
        h.ioapic.endOfInterrupt(vector: 0x36)
        h.ioapic.pulse(7)
        #expect(h.output.deliveries.isEmpty)
        #expect(h.entry(6) & remoteIRR == 0)
    }

    @Test func edgeRaisedWhileMaskedIsLostOnUnmask() {
        let h = Harness()
        h.setEntry(5, entry(vector: 0x35, flags: masked))
        h.ioapic.assert(5)
        h.setEntry(5, entry(vector: 0x35))
        #expect(h.output.deliveries.isEmpty)
    }

    @Test func levelPinSetsRemoteIRRAndWaitsForEOI() {
        let h = Harness()
        h.setEntry(10, entry(vector: 0x3A, flags: level))
        h.ioapic.assert(10)
        #expect(h.output.deliveries == [MSIMessage(vector: 0x3A, levelTriggered: true, destination: 0)])
        #expect(h.entry(10) & remoteIRR != 0)
        h.ioapic.deassert(10)
        h.ioapic.assert(10)
        h.ioapic.pulse(10)
        #expect(h.output.deliveries.count == 1)
    }

    @Test func levelPinStillAssertedIsDeliveredAgainAfterEOI() {
        let h = Harness()
        h.setEntry(10, entry(vector: 0x3A, flags: level))
        h.ioapic.assert(10)
        h.ioapic.endOfInterrupt(vector: 0x3A)
        #expect(h.output.deliveries.count == 2)
        #expect(h.entry(10) & remoteIRR != 0)
        h.ioapic.deassert(10)
        h.ioapic.endOfInterrupt(vector: 0x3A)
        #expect(h.output.deliveries.count == 2)
        #expect(h.entry(10) & remoteIRR == 0)
        h.ioapic.assert(10)
        #expect(h.output.deliveries.count == 3)
    }

    @Test func eoiOfAnotherVectorLeavesThePinAlone() {
        let h = Harness()
        h.setEntry(10, entry(vector: 0x3A, flags: level))
        h.ioapic.assert(10)
        h.ioapic.endOfInterrupt(vector: 0x3B)
        #expect(h.output.deliveries.count == 1)
        #expect(h.entry(10) & remoteIRR != 0)
    }

    @Test func eoiServesEveryPinWithThatVector() {
        let h = Harness()
        h.setEntry(16, entry(vector: 0x50, destination: 1, flags: level))
        h.setEntry(17, entry(vector: 0x50, destination: 2, flags: level))
        h.ioapic.assert(16)
        h.ioapic.assert(17)
        h.ioapic.endOfInterrupt(vector: 0x50)
        #expect(h.output.deliveries.map(\.destination) == [1, 2, 1, 2])
    }

    @Test func twoSourcesShareALevelPin() {
        let h = Harness()
        h.setEntry(20, entry(vector: 0x60, flags: level))
        h.ioapic.assert(20)
        h.ioapic.assert(20)
        h.ioapic.deassert(20)
        h.ioapic.endOfInterrupt(vector: 0x60)
        #expect(h.output.deliveries.count == 2)
        h.ioapic.deassert(20)
        h.ioapic.endOfInterrupt(vector: 0x60)
        #expect(h.output.deliveries.count == 2)
    }

    @Test func twoSourcesShareAnEdgePin() {
        let h = Harness()
        h.setEntry(21, entry(vector: 0x61))
        h.ioapic.assert(21)
        h.ioapic.assert(21)
        h.ioapic.deassert(21)
        h.ioapic.assert(21)
        #expect(h.output.deliveries.count == 1)
        h.ioapic.deassert(21)
        h.ioapic.deassert(21)
        h.ioapic.assert(21)
        #expect(h.output.deliveries.count == 2)
    }

    @Test func unmatchedDeassertDoesNotSwallowTheNextEdge() {
        let h = Harness()
        h.setEntry(4, entry(vector: 0x34))
        h.ioapic.deassert(4)
        h.ioapic.deassert(4)
        h.ioapic.assert(4)
        #expect(h.output.deliveries.count == 1)
    }

    @Test func unmaskingAnAssertedLevelLineDelivers() {
        let h = Harness()
        h.setEntry(11, entry(vector: 0x3B, flags: level | masked))
        h.ioapic.assert(11)
        #expect(h.output.deliveries.isEmpty)
        h.setEntry(11, entry(vector: 0x3B, flags: level))
        #expect(h.output.deliveries == [MSIMessage(vector: 0x3B, levelTriggered: true, destination: 0)])
        h.setEntry(11, entry(vector: 0x3B, flags: level))
        #expect(h.output.deliveries.count == 1)
    }

    @Test func eoiWhileMaskedWaitsForTheUnmask() {
        let h = Harness()
        h.setEntry(11, entry(vector: 0x3B, flags: level))
        h.ioapic.assert(11)
        h.setEntry(11, entry(vector: 0x3B, flags: level | masked))
        h.ioapic.endOfInterrupt(vector: 0x3B)
        #expect(h.output.deliveries.count == 1)
        #expect(h.entry(11) & remoteIRR == 0)
        h.setEntry(11, entry(vector: 0x3B, flags: level))
        #expect(h.output.deliveries.count == 2)
    }

    @Test func rewritingAnEntryToLevelWhileTheLineIsHighDelivers() {
        let h = Harness()
        h.setEntry(12, entry(vector: 0x3C))
        h.ioapic.assert(12)
        h.setEntry(12, entry(vector: 0x3C, destination: 3, flags: level))
        #expect(h.output.deliveries == [
            MSIMessage(vector: 0x3C, destination: 0),
            MSIMessage(vector: 0x3C, levelTriggered: true, destination: 3),
        ])
    }

    @Test func rewritingAnEdgeEntryWhileTheLineIsHighDoesNotDeliver() {
        let h = Harness()
        h.setEntry(12, entry(vector: 0x3C))
        h.ioapic.assert(12)
        h.setEntry(12, entry(vector: 0x3D))
        #expect(h.output.deliveries.count == 1)
    }

    @Test func switchingToEdgeClearsRemoteIRR() {
        let h = Harness()
        h.setEntry(13, entry(vector: 0x3E, flags: level))
        h.ioapic.assert(13)
        h.ioapic.deassert(13)
        h.setEntry(13, entry(vector: 0x3E, flags: masked))
        #expect(h.entry(13) == entry(vector: 0x3E, flags: masked))
        h.setEntry(13, entry(vector: 0x3E, flags: level))
        h.ioapic.assert(13)
        #expect(h.output.deliveries.count == 2)
    }

    @Test func physicalFixedDestinationIsEncoded() {
        let h = Harness()
        h.setEntry(1, entry(vector: 0x41, destination: 0x05))
        h.ioapic.pulse(1)
        #expect(h.output.deliveries.map(\.address) == [0xFEE0_5000])
        #expect(h.output.deliveries.map(\.data) == [0x41])
    }

    @Test func logicalLowestPriorityDestinationIsEncoded() {
        let h = Harness()
        h.setEntry(1, entry(vector: 0x42, mode: 1, destination: 0x0F, flags: logical))
        h.ioapic.pulse(1)
        #expect(h.output.deliveries.map(\.address) == [0xFEE0_F00C])
        #expect(h.output.deliveries.map(\.data) == [0x0142])
    }

    @Test func logicalLevelFixedDestinationIsEncoded() {
        let h = Harness()
        h.setEntry(2, entry(vector: 0x43, destination: 0xFF, flags: logical | level))
        h.ioapic.assert(2)
        #expect(h.output.deliveries.map(\.address) == [0xFEEF_F004])
        #expect(h.output.deliveries.map(\.data) == [0xC043])
    }

    @Test func extINTIsDelivered() {
        let h = Harness()
        h.setEntry(0, entry(vector: 0, mode: 7, destination: 0xFF))
        h.ioapic.pulse(0)
        #expect(h.output.deliveries == [MSIMessage(vector: 0, deliveryMode: .extINT, destination: 0xFF)])
        #expect(h.output.deliveries.map(\.data) == [0x0700])
    }

    @Test(arguments: [UInt64(2), 3, 4, 5, 6])
    func otherDeliveryModesAreDropped(mode: UInt64) {
        let h = Harness()
        h.setEntry(8, entry(vector: 0x48, mode: mode))
        h.setEntry(9, entry(vector: 0x49, mode: mode, flags: level))
        h.ioapic.pulse(8)
        h.ioapic.assert(9)
        #expect(h.output.deliveries.isEmpty)
        #expect(h.output.routes[8] == nil && h.output.routes[9] == nil)
        #expect(h.entry(9) & remoteIRR == 0)
    }

    @Test func pinsOutsideTheTableAreIgnored() {
        let h = Harness()
        for pin in 0..<32 { h.setEntry(pin, entry(vector: 0x70)) }
        for pin in [-1, 32, 33, Int.max, Int.min] {
            h.ioapic.assert(pin)
            h.ioapic.pulse(pin)
            h.ioapic.deassert(pin)
        }
        #expect(h.output.deliveries.isEmpty)
    }
}

@Suite struct IOAPICRouteTests {
    @Test func everyEntryWriteReportsTheRoute() {
        let h = Harness()
        h.write(0x13, 0x0700_0000)
        #expect(h.output.routeChanges == [1])
        #expect(h.output.routes[1] == nil)
        h.write(0x12, 0x0000_8845)
        #expect(h.output.routeChanges == [1, 1])
        #expect(h.output.routes[1] == MSIMessage(vector: 0x45, levelTriggered: true, destination: 7, logical: true))
        h.write(0x12, 0x0000_8845)
        #expect(h.output.routeChanges == [1, 1, 1])
        h.write(0x13, 0x0200_0000)
        #expect(h.output.routes[1]?.destination == 2)
        h.write(0x12, 0x0001_8845)
        #expect(h.output.routes[1] == nil)
    }

    @Test func resetMasksEverythingAndReportsEveryRoute() {
        let h = Harness()
        h.write(0x00, 0x0200_0000)
        h.setEntry(14, entry(vector: 0x3F, flags: level))
        h.setEntry(15, entry(vector: 0x40))
        h.ioapic.assert(14)
        h.ioapic.assert(15)
        h.ioapic.mmioWrite(Harness.select, size: 4, value: 0x2A)
        h.output.clear()
        h.ioapic.reset()
        #expect(h.output.routeChanges == Array(0..<32))
        #expect(h.output.routes.allSatisfy { $0 == nil })
        #expect(h.ioapic.mmioRead(Harness.select, size: 4) == 0)
        #expect(h.read(0x00) == 0)
        for pin in 0..<32 { #expect(h.entry(pin) == masked) }
        h.setEntry(14, entry(vector: 0x3F, flags: level))
        h.setEntry(15, entry(vector: 0x40))
        #expect(h.output.deliveries.isEmpty)
        h.ioapic.assert(15)
        #expect(h.output.deliveries.count == 1)
    }
}

@Suite struct IOAPICRandomTrafficTests {
    /// The message an entry should send, decoded independently of the device.
    private static func expectedMessage(_ entry: UInt64) -> MSIMessage? {
        let mode = (entry >> 8) & 7
        guard entry & masked == 0, [0, 1, 7].contains(mode) else { return nil }
        var address = 0xFEE0_0000 | (entry >> 56) << 12
        if mode == 1 { address |= 1 << 3 }
        if entry & logical != 0 { address |= 1 << 2 }
        var data = UInt32(entry & 0xFF) | UInt32(mode) << 8
        if entry & level != 0 { data |= 0xC000 }
        return MSIMessage(address: address, data: data)
    }

    /// Every entry, read back without disturbing IOREGSEL.
    private static func entries(_ h: Harness) -> [UInt64] {
        let select = h.ioapic.mmioRead(Harness.select, size: 4)
        defer { h.ioapic.mmioWrite(Harness.select, size: 4, value: select) }
        return (0..<32).map { h.entry($0) }
    }

    @Test func randomTrafficKeepsTheInvariants() {
        let h = Harness()
        var random = SeededGenerator(seed: 0x10A9_1C)
        var lineCounts = [Int](repeating: 0, count: 32)
        var before = Self.entries(h)
        var violations: [String] = []

        for step in 0..<100_000 {
            func check(_ holds: Bool, _ what: @autoclosure () -> String) {
                if !holds { violations.append("step \(step): \(what())") }
            }
            let delivered = h.output.deliveryCount
            var target: Int?
            var eoiVector: UInt8?
            switch Int.random(in: 0..<10_000, using: &random) {
            case 0..<4500:
                let offset: UInt64 = Bool.random(using: &random) ? [0x00, 0x10].randomElement(using: &random)!
                    : UInt64.random(in: 0..<IOAPIC.size, using: &random)
                let size = [1, 2, 4, 4, 4, 4, 4, 8].randomElement(using: &random)!
                let value = offset == 0 && Bool.random(using: &random)
                    ? UInt64.random(in: 0..<0x50, using: &random) : random.next()
                if Bool.random(using: &random) {
                    let selected = UInt8(truncatingIfNeeded: h.ioapic.mmioRead(Harness.select, size: 4))
                    if size == 4 && offset == 0x10 && (0x10..<0x50).contains(selected) {
                        target = Int(selected - 0x10) / 2
                    }
                    h.ioapic.mmioWrite(IOAPIC.baseAddress + offset, size: size, value: value)
                } else {
                    let read = h.ioapic.mmioRead(IOAPIC.baseAddress + offset, size: size)
                    check(read <= UInt32.max && (size == 4 || read == 0), "read \(read) at \(offset) size \(size)")
                }
            case 4500..<5700:
                let pin = Int.random(in: 0..<32, using: &random)
                target = pin
                h.ioapic.assert(pin)
                lineCounts[pin] += 1
            case 5700..<7500:
                let pin = Int.random(in: 0..<32, using: &random)
                h.ioapic.deassert(pin)
                lineCounts[pin] = max(lineCounts[pin] - 1, 0)
            case 7500..<8500:
                let pin = Int.random(in: 0..<32, using: &random)
                target = pin
                h.ioapic.pulse(pin)
            case 8500..<9800:
                let vector = Bool.random(using: &random) ? UInt8(truncatingIfNeeded: before.randomElement(using: &random)!)
                    : UInt8.random(in: 0...255, using: &random)
                eoiVector = vector
                h.ioapic.endOfInterrupt(vector: vector)
            case 9800..<9999:
                h.ioapic.assert([-1, 32, 1000].randomElement(using: &random)!)
            default:
                h.ioapic.reset()
                lineCounts = [Int](repeating: 0, count: 32)
            }

            let after = Self.entries(h)
            let sent = h.output.deliveries(since: delivered)
            if let vector = eoiVector {
                for message in sent {
                    check(message.vector == vector && message.levelTriggered, "EOI \(vector) sent \(message)")
                    check(after.contains { Self.expectedMessage($0) == message && $0 & remoteIRR != 0 },
                          "EOI sent \(message) for no entry")
                }
            } else if let target {
                check(sent.count <= 1, "pin \(target) sent \(sent)")
                if let message = sent.first {
                    check(message == Self.expectedMessage(after[target]), "pin \(target) sent \(message) for \(after[target])")
                    check(before[target] & (level | remoteIRR) != level | remoteIRR, "pin \(target) resent before EOI")
                    check(message.levelTriggered == (after[target] & remoteIRR != 0), "pin \(target) Remote-IRR")
                }
            } else {
                check(sent.isEmpty, "sent \(sent) unprompted")
            }
            for (pin, entry) in after.enumerated() {
                check(entry & deliveryStatus == 0, "pin \(pin) Delivery Status")
                check(entry & level != 0 || entry & remoteIRR == 0, "pin \(pin) edge with Remote-IRR")
                if before[pin] & remoteIRR == 0 && entry & remoteIRR != 0 {
                    check(sent.contains { $0 == Self.expectedMessage(entry) }, "pin \(pin) Remote-IRR without delivery")
                }
                // A high line on a deliverable level entry has been delivered and awaits its EOI.
                if lineCounts[pin] > 0 && entry & level != 0 && Self.expectedMessage(entry) != nil {
                    check(entry & remoteIRR != 0, "pin \(pin) high and level but not delivered")
                }
            }
            if step % 1000 == 0 {
                check(h.output.routes == after.map(Self.expectedMessage), "routes differ from entries")
                let select = h.ioapic.mmioRead(Harness.select, size: 4)
                check(select <= 0xFF, "IOREGSEL \(select)")
                let id = h.read(0x00)
                check(id & ~0x0F00_0000 == 0, "ID \(id)")
                check(h.read(0x01) == 0x001F_0011, "VER")
                check(h.read(0x02) == id, "ARB")
                h.ioapic.mmioWrite(Harness.select, size: 4, value: select)
            }
            before = after
            if violations.count > 20 { break }
        }
        #expect(violations.isEmpty, "\(violations)")
        #expect(h.output.routes == before.map(Self.expectedMessage))
        #expect(h.output.deliveryCount > 1000)
    }
}
