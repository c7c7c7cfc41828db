import Testing
import Firmware

@Suite struct ChecksumTests {
    @Test func complementMakesTheByteSumZero() {
        let bytes: [UInt8] = [0x52, 0x53, 0x44, 0x20, 0xFF, 0x01]
        let sum = (bytes + [Checksum.complement(bytes)]).reduce(UInt8(0), &+)
        #expect(sum == 0)
    }

    @Test func pirqLinksDefaultToICHConfigOffsets() {
        #expect(PIRQLink.defaults.map(\.name) == ["LNKA", "LNKB", "LNKC", "LNKD", "LNKE", "LNKF", "LNKG", "LNKH"])
        #expect(PIRQLink.defaults.map(\.configOffset) == [0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6A, 0x6B])
    }
}
