import Synchronization
import Testing
import VMM

final class RecordingPort: PortIODevice {
    let writes = Mutex<[(UInt16, UInt32)]>([])
    let readValue: UInt32
    init(readValue: UInt32 = 0x42) { self.readValue = readValue }
    func portRead(_ port: UInt16, size: Int) -> UInt32 { readValue }
    func portWrite(_ port: UInt16, size: Int, value: UInt32) { writes.withLock { $0.append((port, value)) } }
}

final class FixedMMIO: MMIODevice {
    func mmioRead(_ address: UInt64, size: Int) -> UInt64 { address }
    func mmioWrite(_ address: UInt64, size: Int, value: UInt64) {}
}

@Suite struct IOBusTests {
    @Test func accessesReachTheDeviceThatClaimedThePort() throws {
        let bus = PortIOBus()
        let device = RecordingPort()
        try bus.register(device, ports: 0x3F8, count: 8, label: "com1")
        #expect(bus.read(0x3F8, size: 1) == 0x42)
        #expect(bus.read(0x3FF, size: 1) == 0x42)
        #expect(bus.write(0x3FC, size: 1, value: 7))
        #expect(device.writes.withLock { $0.map(\.0) } == [0x3FC])
    }

    @Test func unclaimedPortsAreReportedToTheCaller() throws {
        let bus = PortIOBus()
        try bus.register(RecordingPort(), ports: 0x3F8, count: 8, label: "com1")
        #expect(bus.read(0x3F7, size: 1) == nil)
        #expect(bus.read(0x400, size: 1) == nil)
        #expect(!bus.write(0x400, size: 1, value: 1))
    }

    @Test func overlappingRegistrationIsRefused() throws {
        let bus = PortIOBus()
        try bus.register(RecordingPort(), ports: 0x3F8, count: 8, label: "com1")
        #expect(throws: BusConflict.self) { try bus.register(RecordingPort(), ports: 0x3FF, count: 1, label: "late") }
        #expect(throws: BusConflict.self) { try bus.register(RecordingPort(), ports: 0x3F0, count: 9, label: "early") }
        try bus.register(RecordingPort(), ports: 0x3F0, count: 8, label: "adjacent")
        #expect(bus.bus.registrations.map(\.name) == ["adjacent", "com1"])
    }

    @Test func conflictMessageNamesBothClaims() throws {
        let bus = MMIOBus()
        try bus.register(FixedMMIO(), base: 0xFEC0_0000, size: 0x1000, label: "ioapic")
        do {
            try bus.register(FixedMMIO(), base: 0xFEC0_0800, size: 0x100, label: "other")
            Issue.record("overlap accepted")
        } catch {
            #expect(error.description == "MMIO range 0xfec00800-0xfec008ff overlaps ioapic at 0xfec00000-0xfec00fff")
        }
    }

    @Test func mmioLookupFindsEveryRegisteredRange() throws {
        let bus = MMIOBus()
        for i in 0..<10 as Range<UInt64> {
            try bus.register(FixedMMIO(), base: 0x1000 * i * 2, size: 0x1000, label: "r\(i)")
        }
        for i in 0..<10 as Range<UInt64> {
            #expect(bus.read(0x2000 * i + 0xFFF, size: 4) == 0x2000 * i + 0xFFF)
            #expect(bus.read(0x2000 * i + 0x1000, size: 4) == nil)
        }
    }

    @Test func unregisteredRangeBecomesUnclaimed() throws {
        let bus = MMIOBus()
        try bus.register(FixedMMIO(), base: 0xC000_0000, size: 0x1000, label: "bar")
        bus.bus.unregister(base: 0xC000_0000)
        #expect(bus.read(0xC000_0000, size: 4) == nil)
    }
}
