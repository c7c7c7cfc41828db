import Boot
import Testing

@Suite struct IdentityPageTables {
    private let writes = PageTables.memoryWrites

    private func entry(_ tableAddress: UInt64, _ index: Int) -> UInt64? {
        for write in writes where write.address <= tableAddress {
            let offset = Int(tableAddress - write.address) + index * 8
            if offset + 8 <= write.bytes.count {
                return write.bytes.littleEndianUInt64(at: offset)
            }
        }
        return nil
    }

    @Test func tablesFillTheBootAreaFrom0x2000To0x7FFF() {
        #expect(writes.map(\.address) == [0x2000, 0x3000, 0x4000])
        #expect(writes.map(\.bytes.count) == [0x1000, 0x1000, 0x4000])
    }

    @Test func pml4PointsOnlyItsFirstEntryAtThePDPT() {
        #expect(entry(0x2000, 0) == 0x3003)
        #expect((1..<512).allSatisfy { entry(0x2000, $0) == 0 })
    }

    @Test func pdptPointsItsFirstFourEntriesAtThePageDirectories() {
        #expect((0..<4).map { entry(0x3000, $0) } == [0x4003, 0x5003, 0x6003, 0x7003])
        #expect((4..<512).allSatisfy { entry(0x3000, $0) == 0 })
    }

    @Test func everyPageDirectoryEntryMapsA2MiBPageOntoItself() {
        for index in 0..<2048 {
            #expect(entry(0x4000, index) == UInt64(index) << 21 | 0x83)
        }
    }

    @Test func localAPICPageIsIdentityMapped() {
        let address: UInt64 = 0xFEE0_0000
        let directory = 0x4000 + (address >> 30) * 0x1000
        let index = Int((address >> 21) & 0x1FF)
        #expect(directory == 0x7000)
        #expect(index == 503)
        #expect(entry(directory, index) == 0xFEE0_0083)
    }
}
