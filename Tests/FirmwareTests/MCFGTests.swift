import Testing
import Firmware

@Suite struct MCFGTests {
    @Test func oneAllocationForSegmentZeroBusesZeroTo255() {
        let mcfg = ACPIReader(MCFG.build(ecamBase: 0xE000_0000))
        #expect(mcfg.bytes.count == 60)
        #expect(mcfg.ascii(0, 4) == "MCFG")
        #expect(mcfg.u32(4) == 60)
        #expect(mcfg.u8(8) == 1)
        #expect(mcfg.ascii(16, 8) == "HVMCFG  ")
        #expect(mcfg.sum(0..<60) == 0)
        #expect(mcfg.u64(36) == 0)
        #expect(mcfg.u64(44) == 0xE000_0000)
        #expect(mcfg.u16(52) == 0)
        #expect(mcfg.u8(54) == 0)
        #expect(mcfg.u8(55) == 255)
        #expect(mcfg.u32(56) == 0)
    }

    @Test func windowIsOneMebibytePerBus() {
        #expect(MCFG.windowSize == 256 << 20)
    }
}
