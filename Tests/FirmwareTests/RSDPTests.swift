import Testing
import Firmware

@Suite struct RSDPTests {
    let rsdp = ACPIReader(RSDP.build(rsdt: 0x000F_2440, xsdt: 0x1_2345_6780))

    @Test func fieldsSitAtTheirOffsets() {
        #expect(rsdp.bytes.count == 36)
        #expect(rsdp.ascii(0, 8) == "RSD PTR ")
        #expect(rsdp.ascii(9, 6) == "HYVE  ")
        #expect(rsdp.u8(15) == 2)
        #expect(rsdp.u32(16) == 0x000F_2440)
        #expect(rsdp.u32(20) == 36)
        #expect(rsdp.u64(24) == 0x1_2345_6780)
        #expect(Array(rsdp.bytes[33..<36]) == [0, 0, 0])
    }

    @Test func bothChecksumsAreRight() {
        #expect(rsdp.sum(0..<20) == 0)
        #expect(rsdp.sum(0..<36) == 0)
    }
}

@Suite struct RSDTAndXSDTTests {
    @Test func rsdtListsThirtyTwoBitPointers() {
        let rsdt = ACPIReader(RSDT.build(entries: [0xF2500, 0xF2700, 0xF2800]))
        #expect(rsdt.ascii(0, 4) == "RSDT")
        #expect(rsdt.u32(4) == 48)
        #expect(rsdt.u8(8) == 1)
        #expect(rsdt.ascii(16, 8) == "HVRSDT  ")
        #expect([rsdt.u32(36), rsdt.u32(40), rsdt.u32(44)] == [0xF2500, 0xF2700, 0xF2800])
        #expect(rsdt.sum(0..<48) == 0)
        #expect(RSDT.length(entries: 3) == 48)
    }

    @Test func xsdtListsSixtyFourBitPointers() {
        let xsdt = ACPIReader(XSDT.build(entries: [0xF2500, 0x1_0000_0000]))
        #expect(xsdt.ascii(0, 4) == "XSDT")
        #expect(xsdt.u32(4) == 52)
        #expect(xsdt.u8(8) == 1)
        #expect(xsdt.ascii(16, 8) == "HVXSDT  ")
        #expect([xsdt.u64(36), xsdt.u64(44)] == [0xF2500, 0x1_0000_0000])
        #expect(xsdt.sum(0..<52) == 0)
        #expect(XSDT.length(entries: 2) == 52)
    }
}
