import Testing
import Firmware

/// Golden bytes hand-computed from ACPI 6.5 §20 (AML) and §6.4 (resource descriptors).
@Suite struct AMLNameTests {
    @Test func singleSegmentIsPaddedWithUnderscores() {
        #expect(AMLName(path: "_S5")?.bytes == ascii("_S5_"))
        #expect(AMLName(path: "PICM")?.bytes == ascii("PICM"))
        #expect(AMLName(path: "ISA")?.description == "ISA_")
    }

    @Test func rootPathWithTwoSegmentsIsADualNamePath() {
        #expect(AMLName(path: "\\_SB.PC00")?.bytes == [0x5C, 0x2E] + ascii("_SB_PC00"))
    }

    @Test func pathsOfThreeOrMoreSegmentsAreMultiNamePathsWithACount() {
        #expect(AMLName(path: "\\_SB.PC00.ISA.LNKA")?.bytes == [0x5C, 0x2F, 0x04] + ascii("_SB_PC00ISA_LNKA"))
        #expect(AMLName(path: "A.B.C")?.bytes == [0x2F, 0x03] + ascii("A___B___C___"))
    }

    @Test func parentPrefixesPrecedeTheSegments() {
        #expect(AMLName(path: "^^LNK")?.bytes == [0x5E, 0x5E] + ascii("LNK_"))
        #expect(AMLName(path: "^PC00.ISA")?.bytes == [0x5E, 0x2E] + ascii("PC00ISA_"))
    }

    @Test func bareRootAndParentEndInNullName() {
        #expect(AMLName(path: "\\")?.bytes == [0x5C, 0x00])
        #expect(AMLName(path: "^")?.bytes == [0x5E, 0x00])
    }

    @Test(arguments: ["", "TOOLONG", "1ABC", "abc", "\\^X", "A..B", "A.", ".A", "PC-0", "É", "\\_SB.PC00.ABCDE"])
    func invalidPathsAreRejected(_ path: String) {
        #expect(AMLName(path: path) == nil)
    }

    @Test func descriptionSpellsThePathAsASLDoes() {
        #expect(AMLName(path: "\\_SB.PC0")?.description == "\\_SB_.PC0_")
        #expect(AMLName(path: "^^X")?.description == "^^X___")
    }
}

@Suite struct AMLPackageLengthTests {
    @Test(arguments: [
        (0, [0x01]),
        (62, [0x3F]),                       // 63 bytes in all: the last one-byte length
        (63, [0x41, 0x04]),                 // 65: needs the two-byte form, which counts itself
        (4093, [0x4F, 0xFF]),               // 4095: the last two-byte length
        (4094, [0x81, 0x00, 0x01]),         // 4097
        (0xF_FFFC, [0x8F, 0xFF, 0xFF]),     // 0xFFFFF: the last three-byte length
        (0xF_FFFD, [0xC1, 0x00, 0x00, 0x01]),
        (0x0FFF_FFFB, [0xCF, 0xFF, 0xFF, 0xFF]),
    ] as [(Int, [UInt8])])
    func enclosingLengthPicksTheShortestFormThatCountsItself(_ content: Int, _ expected: [UInt8]) {
        #expect(AML.packageLength(enclosing: content) == expected)
    }

    @Test(arguments: [
        (8, [0x08]), (63, [0x3F]), (64, [0x40, 0x04]), (768, [0x40, 0x30]),
        (4095, [0x4F, 0xFF]), (4096, [0x80, 0x00, 0x01]), (0x10_0000, [0xC0, 0x00, 0x00, 0x01]),
    ] as [(Int, [UInt8])])
    func bareLengthsUseTheSameFormWithoutCountingThemselves(_ value: Int, _ expected: [UInt8]) {
        #expect(AML.encodedLength(value) == expected)
    }

    @Test func bufferCrossingTheOneByteBoundaryGrowsItsPkgLength() {
        // 60 bytes + BytePrefix size = 62 bytes of contents: PkgLength 63 fits one byte.
        let small = AML.buffer(Array(repeating: 0xAA, count: 60)).bytes
        #expect(Array(small.prefix(4)) == [0x11, 0x3F, 0x0A, 0x3C])
        #expect(small.count == 64)
        // 61 bytes: 63 bytes of contents, PkgLength 65 in two bytes.
        let large = AML.buffer(Array(repeating: 0xAA, count: 61)).bytes
        #expect(Array(large.prefix(5)) == [0x11, 0x41, 0x04, 0x0A, 0x3D])
        #expect(large.count == 66)
    }

    @Test func bufferCrossingTheTwoByteBoundaryUsesThreeBytes() {
        // 5000 bytes + WordPrefix size (3) = 5003; with a three-byte PkgLength, 5006 = 0x138E.
        let bytes = AML.buffer(Array(repeating: 0, count: 5000)).bytes
        #expect(Array(bytes.prefix(7)) == [0x11, 0x8E, 0x38, 0x01, 0x0B, 0x88, 0x13])
        #expect(bytes.count == 1 + 5006)
    }

    @Test func scopeLengthCoversNameAndBody() {
        let scope = AML.scope("\\_SB") { AML.name("X", 0) }
        #expect(scope.bytes == [0x10, 0x0C, 0x5C] + ascii("_SB_") + [0x08] + ascii("X___") + [0x00])
    }
}

@Suite struct AMLDataObjectTests {
    @Test(arguments: [
        (0, [0x00]), (1, [0x01]), (2, [0x0A, 0x02]), (0xFF, [0x0A, 0xFF]),
        (0x100, [0x0B, 0x00, 0x01]), (0xFFFF, [0x0B, 0xFF, 0xFF]),
        (0x1_0000, [0x0C, 0x00, 0x00, 0x01, 0x00]), (0xFFFF_FFFF, [0x0C, 0xFF, 0xFF, 0xFF, 0xFF]),
        (0x1_0000_0000, [0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]),
        (0xFFFF_FFFF_FFFF_FFFE, [0x0E, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        (UInt64.max, [0xFF]),
    ] as [(UInt64, [UInt8])])
    func integersTakeTheirShortestEncoding(_ value: UInt64, _ expected: [UInt8]) {
        #expect(AML.integer(value).bytes == expected)
    }

    @Test func integerLiteralsAreIntegers() {
        let literal: AML = 0x1234
        #expect(literal.bytes == [0x0B, 0x34, 0x12])
        #expect(AML.ones.bytes == [0xFF])
        #expect(AML.zero.bytes == [0x00])
        #expect(AML.one.bytes == [0x01])
    }

    @Test func stringIsNulTerminated() {
        #expect(AML.string("Hyve").bytes == [0x0D, 0x48, 0x79, 0x76, 0x65, 0x00])
        #expect(AML.string("").bytes == [0x0D, 0x00])
    }

    @Test func bufferCarriesItsSizeAsAnInteger() {
        #expect(AML.buffer([1, 2, 3]).bytes == [0x11, 0x06, 0x0A, 0x03, 0x01, 0x02, 0x03])
        #expect(AML.buffer([]).bytes == [0x11, 0x02, 0x00])
    }

    @Test func packageCountsItsElements() {
        let s5 = AML.name("_S5", .package([5, 5, 0, 0]))
        #expect(s5.bytes == [0x08] + ascii("_S5_") + [0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00])
        #expect(AML.package([]).bytes == [0x12, 0x02, 0x00])
    }

    @Test func packageMayHoldNameReferencesAndNestedPackages() {
        let entry = AML.package([.path("LNKA"), .package([.string("a")])])
        #expect(entry.bytes == [0x12, 0x0C, 0x02] + ascii("LNKA") + [0x12, 0x05, 0x01, 0x0D, 0x61, 0x00])
    }

    @Test func packageOf255ElementsKeepsTheByteCount() {
        let bytes = AML.package(Array(repeating: 0, count: 255)).bytes
        // 1 + 255 bytes of contents: PkgLength 258 = 0x102.
        #expect(Array(bytes.prefix(4)) == [0x12, 0x42, 0x10, 0xFF])
        #expect(bytes.count == 259)
    }

    @Test func moreThan255ElementsMakeAVarPackage() {
        let bytes = AML.package(Array(repeating: 0, count: 256)).bytes
        // WordPrefix count (3) + 256 bytes: PkgLength 261 = 0x105.
        #expect(Array(bytes.prefix(6)) == [0x13, 0x45, 0x10, 0x0B, 0x00, 0x01])
        #expect(bytes.count == 262)
    }

    @Test(arguments: [
        ("PNP0A03", [0x0C, 0x41, 0xD0, 0x0A, 0x03]),
        ("PNP0C0F", [0x0C, 0x41, 0xD0, 0x0C, 0x0F]),
        ("PNP0501", [0x0C, 0x41, 0xD0, 0x05, 0x01]),
        ("PNP0B00", [0x0C, 0x41, 0xD0, 0x0B, 0x00]),
        ("ABC1234", [0x0C, 0x04, 0x43, 0x12, 0x34]),
    ] as [(String, [UInt8])])
    func eisaIDsCompressLettersAndStoreBigEndian(_ id: String, _ expected: [UInt8]) {
        #expect(AML.eisaID(id).bytes == expected)
    }
}

@Suite struct AMLNamedObjectTests {
    @Test func methodStoringArg0() {
        let pic = AML.method("_PIC", arguments: 1) { AML.store(.arg(0), into: .path("PICM")) }
        #expect(pic.bytes == [0x14, 0x0C] + ascii("_PIC") + [0x01, 0x70, 0x68] + ascii("PICM"))
    }

    @Test func methodFlagsHoldArgumentsSerializationAndSyncLevel() {
        #expect(AML.method("_SRS", arguments: 1, serialized: true) {}.bytes == [0x14, 0x06] + ascii("_SRS") + [0x09])
        #expect(AML.method("ABCD", arguments: 2, serialized: true, syncLevel: 3) {}.bytes.last == 0x3A)
        #expect(AML.method("_STA") {}.bytes == [0x14, 0x06] + ascii("_STA") + [0x00])
    }

    @Test func deviceUsesTheExtendedOpcode() {
        let device = AML.device("PC00") { AML.name("_ADR", 0) }
        #expect(device.bytes == [0x5B, 0x82, 0x0B] + ascii("PC00") + [0x08] + ascii("_ADR") + [0x00])
    }

    @Test func emptyRootScope() {
        #expect(AML.scope("\\_SB") {}.bytes == [0x10, 0x06, 0x5C] + ascii("_SB_"))
    }

    @Test func builderTakesConditionalsAndLoops() {
        let withLoop = AML.scope("X") {
            for value in [2, 3] as [UInt64] { AML.name(AMLName(path: "V\(value)")!, .integer(value)) }
            if Bool(false) { AML.name("NO", 0) }
        }
        #expect(withLoop.bytes == [0x10, 0x13] + ascii("X___") + [0x08] + ascii("V2__") + [0x0A, 0x02] + [0x08] + ascii("V3__") + [0x0A, 0x03])
    }

    @Test func createFieldsName4ByteSegmentsAtAByteIndex() {
        #expect(AML.createWordField(.path("CRSB"), byteIndex: 1, "CRSM").bytes == [0x8B] + ascii("CRSB") + [0x01] + ascii("CRSM"))
        #expect(AML.createDWordField(.arg(0), byteIndex: 0x0A, "MINA").bytes == [0x8A, 0x68, 0x0A, 0x0A] + ascii("MINA"))
        #expect(AML.createByteField(.arg(0), byteIndex: 0, "B0").bytes == [0x8C, 0x68, 0x00] + ascii("B0__"))
        #expect(AML.createQWordField(.arg(1), byteIndex: 0x0E, "MAX").bytes == [0x8F, 0x69, 0x0A, 0x0E] + ascii("MAX_"))
    }
}

@Suite struct AMLStatementTests {
    @Test func ifElseEmitsTheIfThenTheElse() {
        let prt = AML.if(.path("PICM")) {
            AML.return(.path("APRT"))
        } else: {
            AML.return(.path("PPRT"))
        }
        #expect(prt.bytes == [0xA0, 0x0A] + ascii("PICM") + [0xA4] + ascii("APRT") + [0xA1, 0x06, 0xA4] + ascii("PPRT"))
    }

    @Test func ifWithoutElse() {
        let term = AML.if(.lEqual(.local(0), 8)) { AML.return(0) }
        #expect(term.bytes == [0xA0, 0x07, 0x93, 0x60, 0x0A, 0x08, 0xA4, 0x00])
    }

    @Test func localsAndArgs() {
        #expect((0...7).map { AML.local($0).bytes } == (0x60...0x67).map { [UInt8($0)] })
        #expect((0...6).map { AML.arg($0).bytes } == (0x68...0x6E).map { [UInt8($0)] })
    }

    @Test func storeAndReturn() {
        #expect(AML.store(0, into: .local(1)).bytes == [0x70, 0x00, 0x61])
        #expect(AML.return(0x0B).bytes == [0xA4, 0x0A, 0x0B])
    }

    @Test func logicalOperators() {
        #expect(AML.lLess(.local(0), 3).bytes == [0x95, 0x60, 0x0A, 0x03])
        #expect(AML.lGreater(.arg(0), 1).bytes == [0x94, 0x68, 0x01])
        #expect(AML.lNot(.arg(1)).bytes == [0x92, 0x69])
        #expect(AML.lAnd(1, 0).bytes == [0x90, 0x01, 0x00])
        #expect(AML.lOr(.local(2), 0).bytes == [0x91, 0x62, 0x00])
    }

    @Test func arithmeticWithAndWithoutTarget() {
        #expect(AML.and(.arg(0), 0x80, into: .local(0)).bytes == [0x7B, 0x68, 0x0A, 0x80, 0x60])
        #expect(AML.and(.arg(0), 0x0F).bytes == [0x7B, 0x68, 0x0A, 0x0F, 0x00])
        #expect(AML.or(.path("PIRA"), 0x80, into: .path("PIRA")).bytes == [0x7D] + ascii("PIRA") + [0x0A, 0x80] + ascii("PIRA"))
        #expect(AML.shiftLeft(1, by: .local(0), into: .path("CRSM")).bytes == [0x79, 0x01, 0x60] + ascii("CRSM"))
        #expect(AML.shiftRight(.arg(0), by: 4).bytes == [0x7A, 0x68, 0x0A, 0x04, 0x00])
        #expect(AML.add(.local(0), 1, into: .local(0)).bytes == [0x72, 0x60, 0x01, 0x60])
        #expect(AML.subtract(.local(0), 1, into: .path("PIRA")).bytes == [0x74, 0x60, 0x01] + ascii("PIRA"))
        #expect(AML.findSetRightBit(.path("SRSM"), into: .local(0)).bytes == [0x82] + ascii("SRSM") + [0x60])
        #expect(AML.increment(.local(2)).bytes == [0x75, 0x62])
        #expect(AML.decrement(.local(0)).bytes == [0x76, 0x60])
    }

    @Test func methodCallIsTheNameAndItsArguments() {
        #expect(AML.call("PIRV", .path("PIRA")).bytes == ascii("PIRVPIRA"))
        #expect(AML.call("\\_SB.FOO", 1, .arg(0)).bytes == [0x5C, 0x2E] + ascii("_SB_FOO_") + [0x01, 0x68])
    }
}

@Suite struct AMLFieldTests {
    @Test func operationRegionsInEachSpace() {
        #expect(AML.operationRegion("PIRQ", space: .pciConfig, offset: 0x60, length: 0x0C).bytes
            == [0x5B, 0x80] + ascii("PIRQ") + [0x02, 0x0A, 0x60, 0x0A, 0x0C])
        #expect(AML.operationRegion("PMIO", space: .systemIO, offset: 0x400, length: 8).bytes
            == [0x5B, 0x80] + ascii("PMIO") + [0x01, 0x0B, 0x00, 0x04, 0x0A, 0x08])
        #expect(AML.operationRegion("HPTM", space: .systemMemory, offset: 0xFED0_0000, length: 0x400).bytes
            == [0x5B, 0x80] + ascii("HPTM") + [0x00, 0x0C, 0x00, 0x00, 0xD0, 0xFE, 0x0B, 0x00, 0x04])
    }

    @Test func offsetBecomesAReservedFieldUpToIt() {
        let units: [AMLFieldUnit] = [
            .named("PIRA", bits: 8), .named("PIRB", bits: 8), .named("PIRC", bits: 8), .named("PIRD", bits: 8),
            .offset(8),
            .named("PIRE", bits: 8), .named("PIRF", bits: 8), .named("PIRG", bits: 8), .named("PIRH", bits: 8),
        ]
        let expected: [UInt8] = [0x5B, 0x81, 0x30] + ascii("PIRQ") + [0x00]
            + ascii("PIRA") + [8] + ascii("PIRB") + [8] + ascii("PIRC") + [8] + ascii("PIRD") + [8]
            + [0x00, 0x20]
            + ascii("PIRE") + [8] + ascii("PIRF") + [8] + ascii("PIRG") + [8] + ascii("PIRH") + [8]
        #expect(AML.field("PIRQ", units).bytes == expected)
    }

    @Test func fieldFlagsAndWideReservedFields() {
        let field = AML.field("PMIO", access: .word, lock: true, update: .writeAsZeros,
                              [.offset(0x60), .named("PM1S", bits: 16), .reserved(bits: 3), .named("BIT1", bits: 1), .offset(0x63)])
        // Offset (0x60) skips 768 bits (a two-byte length); Offset (0x63) skips the 4 bits left
        // after bit 788.
        #expect(field.bytes == [0x5B, 0x81, 0x17] + ascii("PMIO") + [0x52, 0x00, 0x40, 0x30]
            + ascii("PM1S") + [0x10, 0x00, 0x03] + ascii("BIT1") + [0x01, 0x00, 0x04])
    }
}

@Suite struct ResourceTemplateTests {
    @Test func irqWithoutFlagsIsTheTwoByteForm() {
        #expect(ResourceDescriptor.irqNoFlags([2]).bytes == [0x22, 0x04, 0x00])
        #expect(ResourceDescriptor.irqNoFlags([8]).bytes == [0x22, 0x00, 0x01])
    }

    @Test func irqWithFlagsCarriesModePolaritySharingAndWake() {
        #expect(ResourceDescriptor.irq(PIRQLink.possibleIRQs, trigger: .level, polarity: .activeLow, shared: true).bytes
            == [0x23, 0xF8, 0xDE, 0x18])
        #expect(ResourceDescriptor.irq([], trigger: .level, polarity: .activeLow, shared: true).bytes == [0x23, 0x00, 0x00, 0x18])
        #expect(ResourceDescriptor.irq([4], trigger: .edge, polarity: .activeHigh, shared: false, wakeCapable: true).bytes
            == [0x23, 0x10, 0x00, 0x21])
    }

    @Test func extendedInterruptListsDWordInterrupts() {
        #expect(ResourceDescriptor.interrupt([16], trigger: .level, polarity: .activeLow, shared: true).bytes
            == [0x89, 0x06, 0x00, 0x0D, 0x01, 0x10, 0x00, 0x00, 0x00])
        #expect(ResourceDescriptor.interrupt([5, 0x20], consumer: false, trigger: .edge, polarity: .activeHigh, shared: false).bytes
            == [0x89, 0x0A, 0x00, 0x02, 0x02, 0x05, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00])
    }

    @Test func ioAndFixedIO() {
        #expect(ResourceDescriptor.io(0xCF8, length: 8).bytes == [0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08])
        #expect(ResourceDescriptor.io(minimum: 0x100, maximum: 0x1F0, alignment: 0x10, length: 0x20).bytes
            == [0x47, 0x01, 0x00, 0x01, 0xF0, 0x01, 0x10, 0x20])
        #expect(ResourceDescriptor.fixedIO(0x60, length: 1).bytes == [0x4B, 0x60, 0x00, 0x01])
    }

    @Test func memory32Fixed() {
        #expect(ResourceDescriptor.memory32Fixed(0xFED0_0000, length: 0x400).bytes
            == [0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xD0, 0xFE, 0x00, 0x04, 0x00, 0x00])
        #expect(ResourceDescriptor.memory32Fixed(0xE000_0000, length: 0x1000_0000, writable: false).bytes
            == [0x86, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x00, 0x00, 0x00, 0x10])
    }

    @Test func wordBusNumberAndWordIOWindows() {
        #expect(ResourceDescriptor.wordBusNumber(0...0).bytes
            == [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00])
        #expect(ResourceDescriptor.wordBusNumber(0...255).bytes
            == [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01])
        #expect(ResourceDescriptor.wordIO(0...0xCF7).bytes
            == [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x0C, 0x00, 0x00, 0xF8, 0x0C])
        #expect(ResourceDescriptor.wordIO(0x2000...0xFFFF).bytes
            == [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x20, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xE0])
    }

    @Test func dwordMemoryWindow() {
        #expect(ResourceDescriptor.dwordMemory(0xC000_0000...0xDFFF_FFFF).bytes
            == [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xFF, 0xDF,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20])
        #expect(ResourceDescriptor.dwordMemory(0...0xFFF, cacheability: .prefetchable).bytes[5] == 0x07)
        #expect(ResourceDescriptor.dwordMemory(0...0xFFF, cacheability: .cacheable, writable: false).bytes[5] == 0x02)
    }

    @Test func qwordMemoryWindow() {
        let zero8: [UInt8] = Array(repeating: 0, count: 8)
        #expect(ResourceDescriptor.qwordMemory(0x8_0000_0000...0xF_FFFF_FFFF).bytes
            == [0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x01] + zero8
            + [0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]
            + [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x00, 0x00]
            + zero8
            + [0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00])
    }

    @Test func templateIsABufferEndingInAnEndTagWithZeroChecksum() {
        #expect(AML.resourceTemplate([.irqNoFlags([2])]).bytes == [0x11, 0x08, 0x0A, 0x05, 0x22, 0x04, 0x00, 0x79, 0x00])
        #expect(AML.resourceTemplate([]).bytes == [0x11, 0x05, 0x0A, 0x02, 0x79, 0x00])
    }
}

private func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }
