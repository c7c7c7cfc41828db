import Testing
import Firmware

@Suite struct HPETTableTests {
    @Test func blockIDAddressAndPageProtection() {
        let hpet = ACPIReader(HPETTable.build(HPETInfo(capabilities: 0x8086_A701)))
        #expect(hpet.bytes.count == 56)
        #expect(hpet.ascii(0, 4) == "HPET")
        #expect(hpet.u32(4) == 56)
        #expect(hpet.u8(8) == 1)
        #expect(hpet.ascii(16, 8) == "HVHPET  ")
        #expect(hpet.sum(0..<56) == 0)
        #expect(hpet.u32(36) == 0x8086_A701)
        #expect(hpet.gas(40) == ACPIGAS(space: 0, bitWidth: 0, bitOffset: 0, accessSize: 0, address: 0xFED0_0000))
        #expect(hpet.u8(52) == 0)
        #expect(hpet.u16(53) == 0)
        #expect(hpet.u8(55) == 1)
    }

    @Test func addressComesFromThePlatform() {
        var info = HPETInfo(capabilities: 0x8086_A201)
        info.address = 0xFED0_1000
        let hpet = ACPIReader(HPETTable.build(info))
        #expect(hpet.u32(36) == 0x8086_A201)
        #expect(hpet.u64(44) == 0xFED0_1000)
    }
}
