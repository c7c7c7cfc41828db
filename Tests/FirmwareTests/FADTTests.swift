import Testing
import Firmware

@Suite struct FADTTests {
    let fadt = ACPIReader(FADT.build(ACPIFixedHardware(), facs: 0xF2680, dsdt: 0xF2740))

    @Test func headerIsRevisionSixPointFiveAtFullLength() {
        #expect(fadt.bytes.count == 276)
        #expect(fadt.ascii(0, 4) == "FACP")
        #expect(fadt.u32(4) == 276)
        #expect(fadt.u8(8) == 6)
        #expect(fadt.u8(131) == 5)
        #expect(fadt.ascii(16, 8) == "HVFACP  ")
        #expect(fadt.sum(0..<276) == 0)
    }

    @Test func facsIsOnlyInTheThirtyTwoBitFieldAndDSDTInBoth() {
        #expect(fadt.u32(36) == 0xF2680)
        #expect(fadt.u64(132) == 0)
        #expect(fadt.u32(40) == 0xF2740)
        #expect(fadt.u64(140) == 0xF2740)
    }

    @Test func sciAndSMICommand() {
        #expect(fadt.u8(44) == 0)
        #expect(fadt.u8(45) == 0)
        #expect(fadt.u16(46) == 9)
        #expect(fadt.u32(48) == 0xB2)
        #expect(fadt.u8(52) == 0xA0)
        #expect(fadt.u8(53) == 0xA1)
        #expect(fadt.u8(54) == 0)
        #expect(fadt.u8(55) == 0)
    }

    @Test func legacyRegisterBlocksAndLengths() {
        #expect(fadt.u32(56) == 0x400)
        #expect(fadt.u32(60) == 0)
        #expect(fadt.u32(64) == 0x404)
        #expect(fadt.u32(68) == 0)
        #expect(fadt.u32(72) == 0)
        #expect(fadt.u32(76) == 0x408)
        #expect(fadt.u32(80) == 0x40C)
        #expect(fadt.u32(84) == 0)
        #expect(Array(fadt.bytes[88..<96]) == [4, 2, 0, 4, 2, 0, 0, 0])
    }

    @Test func cStatesCenturyAndBootArchitecture() {
        #expect(fadt.u16(96) == 101)
        #expect(fadt.u16(98) == 1001)
        #expect(Array(fadt.bytes[100..<108]) == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(fadt.u8(108) == 0x32)
        #expect(fadt.u16(109) == 0x0015, "legacy devices, no VGA, no ASPM; no 8042")
        #expect(fadt.u16(109) & 0x2 == 0)
        #expect(fadt.u8(111) == 0)
    }

    @Test func featureFlags() {
        let flags = fadt.u32(112)
        #expect(flags == 0x0008_1525)
        #expect(flags & 1 << 4 == 0, "fixed-feature power button")
        #expect(flags & 1 << 20 == 0, "not hardware-reduced")
    }

    @Test func resetRegisterIsByteWritesOfSixToPortCF9() {
        #expect(fadt.gas(116) == ACPIGAS(space: 1, bitWidth: 8, bitOffset: 0, accessSize: 1, address: 0xCF9))
        #expect(fadt.u8(128) == 6)
        #expect(fadt.u16(129) == 0)
    }

    @Test func extendedRegisterBlocksMatchTheLegacyOnes() {
        #expect(fadt.gas(148) == ACPIGAS(space: 1, bitWidth: 32, bitOffset: 0, accessSize: 2, address: 0x400))
        #expect(fadt.gas(160) == .zero)
        #expect(fadt.gas(172) == ACPIGAS(space: 1, bitWidth: 16, bitOffset: 0, accessSize: 2, address: 0x404))
        #expect(fadt.gas(184) == .zero)
        #expect(fadt.gas(196) == .zero)
        #expect(fadt.gas(208) == ACPIGAS(space: 1, bitWidth: 32, bitOffset: 0, accessSize: 3, address: 0x408))
        #expect(fadt.gas(220) == ACPIGAS(space: 1, bitWidth: 16, bitOffset: 0, accessSize: 1, address: 0x40C))
        #expect(fadt.gas(232) == .zero)
        #expect(fadt.gas(244) == .zero)
        #expect(fadt.gas(256) == .zero)
        #expect(fadt.u64(268) == 0)
    }

    @Test func fixedHardwareComesFromThePlatform() {
        var acpi = ACPIFixedHardware()
        acpi.sciIRQ = 11
        acpi.smiCommandPort = 0xB3
        acpi.pm1aEventBlock = 0x600
        acpi.pm1aControlBlock = 0x604
        acpi.pmTimerBlock = 0x608
        acpi.gpe0Block = 0x620
        acpi.gpe0BlockLength = 4
        acpi.resetPort = 0x92
        acpi.resetValue = 1
        let fadt = ACPIReader(FADT.build(acpi, facs: 0, dsdt: 0))
        #expect(fadt.u16(46) == 11)
        #expect(fadt.u32(48) == 0xB3)
        #expect([fadt.u32(56), fadt.u32(64), fadt.u32(76), fadt.u32(80)] == [0x600, 0x604, 0x608, 0x620])
        #expect(fadt.u8(92) == 4)
        #expect(fadt.gas(220) == ACPIGAS(space: 1, bitWidth: 32, bitOffset: 0, accessSize: 1, address: 0x620))
        #expect(fadt.gas(116).address == 0x92)
        #expect(fadt.u8(128) == 1)
        #expect(fadt.sum(0..<276) == 0)
    }
}
