import Boot
import KVM
import Testing

@Suite struct GlobalDescriptorTable {
    // Hand-encoded: limit 0xFFFFF, base 0; access byte P|S|type (0x9B code, 0x93 data);
    // flags nibble G|D (0xC) for 32-bit segments, G|L (0xA) for 64-bit code.
    private let null: UInt64 = 0
    private let code32: UInt64 = 0x00CF_9B00_0000_FFFF
    private let data: UInt64 = 0x00CF_9300_0000_FFFF
    private let code64: UInt64 = 0x00AF_9B00_0000_FFFF

    @Test func descriptorsMatchHandComputedValues() {
        #expect(GDT.descriptor(GDT.code32Segment) == code32)
        #expect(GDT.descriptor(GDT.dataSegment) == data)
        #expect(GDT.descriptor(GDT.code64Segment) == code64)
    }

    @Test func tableBytesAreTheLittleEndianDescriptorsInSelectorOrder() {
        let bytes = GDT.bytes
        #expect(bytes.count == 32)
        #expect(bytes[0..<8].allSatisfy { $0 == 0 })
        #expect(Array(bytes[8..<16]) == [0xFF, 0xFF, 0x00, 0x00, 0x00, 0x9B, 0xCF, 0x00])
        #expect(Array(bytes[16..<24]) == [0xFF, 0xFF, 0x00, 0x00, 0x00, 0x93, 0xCF, 0x00])
        #expect(Array(bytes[24..<32]) == [0xFF, 0xFF, 0x00, 0x00, 0x00, 0x9B, 0xAF, 0x00])
        for (index, descriptor) in [null, code32, data, code64].enumerated() {
            #expect(bytes.littleEndianUInt64(at: index * 8) == descriptor)
        }
    }

    @Test func tableIsWrittenAt0x1000AndDescribedByGDTR() {
        #expect(GDT.memoryWrite == MemoryWrite(address: 0x1000, bytes: GDT.bytes))
        #expect(GDT.descriptorTable == DescriptorTable(base: 0x1000, limit: 31))
    }

    @Test func segmentsAreWhatTheCPUCachesAfterLoadingTheSelectors() {
        #expect(GDT.code32Segment == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, present: true,
                                             dpl: 0, codeOrData: true, defaultBig: true, long: false,
                                             granularity: true))
        #expect(GDT.dataSegment == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, present: true,
                                           dpl: 0, codeOrData: true, defaultBig: true, long: false,
                                           granularity: true))
        #expect(GDT.code64Segment == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x18, type: 0xB, present: true,
                                             dpl: 0, codeOrData: true, defaultBig: false, long: true,
                                             granularity: true))
        #expect([GDT.code32Segment, GDT.dataSegment, GDT.code64Segment].map(\.selector)
            == [GDT.code32Selector, GDT.dataSelector, GDT.code64Selector])
    }

    @Test func selectorsIndexTheirDescriptorsInTheTable() {
        let bytes = GDT.bytes
        for segment in [GDT.code32Segment, GDT.dataSegment, GDT.code64Segment] {
            #expect(bytes.littleEndianUInt64(at: Int(segment.selector)) == GDT.descriptor(segment))
        }
    }

    @Test func descriptorPlacesBaseAndByteGranularLimitInTheirSplitFields() {
        let segment = Segment(base: 0x1234_5678, limit: 0xA_BCDE, selector: 0, type: 0x3, dpl: 3)
        #expect(GDT.descriptor(segment) == 0x120A_F334_5678_BCDE)
    }
}
