import Testing
@testable import VMM

@Suite struct GuestMemoryLayoutTests {
    @Test func smallMemoryIsOneLowSegmentAtZero() {
        #expect(GuestMemory.layout(size: 64 << 20) == [.init(guestAddress: 0, size: 64 << 20)])
    }

    @Test func memoryAboveThreeGiBContinuesAtFourGiB() {
        let segments = GuestMemory.layout(size: 5 << 30)
        #expect(segments == [.init(guestAddress: 0, size: 3 << 30), .init(guestAddress: 4 << 30, size: 2 << 30)])
    }

    @Test func exactlyThreeGiBHasNoHighSegment() {
        #expect(GuestMemory.layout(size: 3 << 30).count == 1)
    }
}

@Suite struct GuestMemoryAccessTests {
    let size: UInt64 = 2 << 20
    let memory: GuestMemory

    init() throws {
        memory = try GuestMemory(size: size)
    }

    @Test func writtenBytesReadBack() throws {
        try memory.write([1, 2, 3, 4], at: 0x1000)
        #expect(try memory.read(0x1000, count: 4) == [1, 2, 3, 4])
        #expect(try memory.load(UInt32.self, at: 0x1000) == 0x0403_0201)
    }

    @Test func lastByteIsAccessible() throws {
        try memory.store(UInt8(0xAB), at: size - 1)
        #expect(try memory.load(UInt8.self, at: size - 1) == 0xAB)
        #expect(try memory.read(size - 1, count: 1) == [0xAB])
    }

    @Test func onePastTheEndThrows() {
        #expect(throws: GuestMemoryError(address: size, length: 1)) { try memory.read(size, count: 1) }
        #expect(throws: GuestMemoryError.self) { try memory.store(UInt16(1), at: size - 1) }
        #expect(throws: GuestMemoryError.self) { try memory.write([0, 0], at: size - 1) }
    }

    @Test func addressPlusLengthWrappingAroundThrows() {
        #expect(throws: GuestMemoryError.self) { try memory.pointer(UInt64.max, length: 2) }
        #expect(throws: GuestMemoryError.self) { try memory.pointer(1, length: UInt64.max) }
        #expect(throws: GuestMemoryError.self) { try memory.load(UInt64.self, at: UInt64.max - 3) }
    }

    @Test func negativeCountThrows() {
        #expect(throws: GuestMemoryError.self) { try memory.read(0, count: -1) }
    }

    @Test func emptyRangeAtTheEndIsInside() {
        #expect(memory.contains(size, length: 0))
        #expect(!memory.contains(size + 1, length: 0))
    }

    @Test func fillWritesEveryByteOfTheRange() throws {
        try memory.fill(0x5A, at: 0x2000, count: 16)
        #expect(try memory.read(0x2000, count: 16) == [UInt8](repeating: 0x5A, count: 16))
        #expect(try memory.load(UInt8.self, at: 0x2010) == 0)
    }
}

@Suite struct GuestMemoryHoleTests {
    @Test func rangesInTheMMIOHoleOrAcrossItThrow() throws {
        let memory = try GuestMemory(size: (3 << 30) + (4 << 20))
        #expect(memory.contains((3 << 30) - 4, length: 4))
        #expect(!memory.contains((3 << 30) - 2, length: 4))
        #expect(!memory.contains(0xFEE0_0000, length: 4))
        #expect(memory.contains(4 << 30, length: 4 << 20))
        #expect(!memory.contains(4 << 30, length: (4 << 20) + 1))
        try memory.store(UInt32(0xFEED), at: (4 << 30) + 16)
        #expect(try memory.load(UInt32.self, at: (4 << 30) + 16) == 0xFEED)
    }

    @Test func sizeThatIsNotAPageMultipleIsRefused() {
        #expect(throws: GuestMemorySetupError.self) { try GuestMemory(size: 4097) }
        #expect(throws: GuestMemorySetupError.self) { try GuestMemory(size: 0) }
    }
}
