import Testing
import Firmware

@Suite struct FACSTests {
    @Test func signatureLengthAndVersionAndNothingElse() {
        let facs = ACPIReader(FACS.build())
        #expect(facs.bytes.count == 64)
        #expect(facs.ascii(0, 4) == "FACS")
        #expect(facs.u32(4) == 64)
        #expect(facs.u32(8) == 0, "no hardware signature")
        #expect(facs.u8(32) == 2)
        #expect(facs.bytes[8..<32].allSatisfy { $0 == 0 })
        #expect(facs.bytes[33...].allSatisfy { $0 == 0 })
    }
}
