import Testing
import Firmware

@Suite struct SPCRTests {
    @Test func com1At115200() {
        let spcr = ACPIReader(SPCR.build(SerialPort.standard[0], ioapic: IOAPICInfo()))
        #expect(spcr.bytes.count == 80)
        #expect(spcr.ascii(0, 4) == "SPCR")
        #expect(spcr.u32(4) == 80)
        #expect(spcr.u8(8) == 2)
        #expect(spcr.ascii(16, 8) == "HVSPCR  ")
        #expect(spcr.sum(0..<80) == 0)
        #expect(spcr.u8(36) == 0, "full 16550")
        #expect(spcr.gas(40) == ACPIGAS(space: 1, bitWidth: 8, bitOffset: 0, accessSize: 1, address: 0x3F8))
        #expect(spcr.u8(52) == 0b11, "8259 and I/O APIC")
        #expect(spcr.u8(53) == 4)
        #expect(spcr.u32(54) == 4)
        #expect(Array(spcr.bytes[58..<64]) == [7, 0, 1, 3, 2, 0])
        #expect(spcr.u16(64) == 0xFFFF)
        #expect(spcr.u16(66) == 0xFFFF)
        #expect(spcr.bytes[68..<80].allSatisfy { $0 == 0 })
    }

    @Test func otherPortsAndGSIBase() {
        var ioapic = IOAPICInfo()
        ioapic.gsiBase = 16
        let spcr = ACPIReader(SPCR.build(SerialPort.standard[1], ioapic: ioapic))
        #expect(spcr.u64(44) == 0x2F8)
        #expect(spcr.u8(53) == 3)
        #expect(spcr.u32(54) == 19)
    }
}
