import Testing
import Firmware

@Suite struct ACPITableHeaderTests {
    @Test func headerFieldsSitAtTheirOffsets() {
        let table = ACPITableHeader(signature: "XSDT", revision: 1).table(body: [0xAA, 0xBB, 0xCC])
        let reader = ACPIReader(table)
        #expect(table.count == 39)
        #expect(reader.ascii(0, 4) == "XSDT")
        #expect(reader.u32(4) == 39)
        #expect(reader.u8(8) == 1)
        #expect(reader.ascii(10, 6) == "HYVE  ")
        #expect(reader.ascii(16, 8) == "HVXSDT  ")
        #expect(reader.u32(24) == 1)
        #expect(reader.ascii(28, 4) == "HYVE")
        #expect(reader.u32(32) == 1)
        #expect(Array(table[36...]) == [0xAA, 0xBB, 0xCC])
    }

    @Test func checksumMakesTheWholeTableSumToZero() {
        let table = ACPITableHeader(signature: "TEST", revision: 3, oemTableID: "ABCDEFGH", oemRevision: 7)
            .table(body: Array(0..<200))
        let reader = ACPIReader(table)
        #expect(reader.sum(0..<table.count) == 0)
        #expect(reader.u8(9) != 0)
        #expect(reader.ascii(16, 8) == "ABCDEFGH")
        #expect(reader.u32(24) == 7)
    }
}
