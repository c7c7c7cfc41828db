import Testing
import KVM
@testable import VMM

/// XGETBV, XSETBV, FXSAVE/FXRSTOR and the XSAVE family between guest memory and the vCPU's XSAVE
/// image (layout: x87 and SSE in the legacy region, AVX at 576, opmask at 1088).
@Suite struct ExtendedStateEmulationTests {
    static let area: UInt64 = 0x2_0000
    static let xmmPattern: [UInt8] = Array(0x10..<0x20)
    static let avxPattern = [UInt8](repeating: 0xA5, count: 256)
    let machine: EmulationMachine

    init() throws {
        machine = try EmulationMachine()
        machine.registers.rsi = Self.area
        machine.registers.rax = 0x7
        machine.registers.rdx = 0
        // XMM1 and the AVX component hold patterns; x87, SSE and AVX are in use.
        machine.xsaveImage.replaceSubrange(176..<192, with: Self.xmmPattern)
        machine.xsaveImage.replaceSubrange(576..<832, with: Self.avxPattern)
        machine.xsaveImage[512] = 0x7
    }

    func area(_ offset: Int, _ count: Int) throws -> [UInt8] {
        try machine.memory.read(Self.area + UInt64(offset), count: count)
    }

    func setArea(_ bytes: [UInt8], at offset: Int) throws {
        try machine.memory.write(bytes, at: Self.area + UInt64(offset))
    }

    // MARK: XGETBV, XSETBV

    @Test func xgetbvReadsXCR0AndXINUSE() throws {
        machine.registers.rcx = 0
        machine.registers.rdx = .max
        #expect(try machine.run([0x0F, 0x01, 0xD0]) == .completed)
        #expect(machine.registers.rax == 7 && machine.registers.rdx == 0)
        machine.xsaveImage[512] = 0x3
        machine.registers.rcx = 1
        #expect(try machine.run([0x0F, 0x01, 0xD0]) == .completed)
        #expect(machine.registers.rax == 3)
        machine.registers.rcx = 2
        #expect(try machine.run([0x0F, 0x01, 0xD0]) == .exception(.generalProtection()))
        machine.specialRegisters.cr4 &= ~(1 << 18)
        machine.registers.rcx = 0
        #expect(try machine.run([0x0F, 0x01, 0xD0]) == .exception(.invalidOpcode))
    }

    @Test func xsetbvSetsXCR0AndRefusesWhatTheVCPUCannotHold() throws {
        machine.registers.rcx = 0
        machine.registers.rax = 3
        #expect(try machine.run([0x0F, 0x01, 0xD1]) == .completed)
        #expect(machine.xcr0 == 3)
        machine.registers.rax = 2
        #expect(try machine.run([0x0F, 0x01, 0xD1]) == .exception(.generalProtection()))
        machine.specialRegisters.cs.dpl = 3
        machine.specialRegisters.ss.dpl = 3
        machine.registers.rax = 7
        #expect(try machine.run([0x0F, 0x01, 0xD1]) == .exception(.generalProtection()))
        #expect(machine.xcr0 == 3)
    }

    // MARK: XSAVE, XRSTOR

    @Test func xsaveWritesTheRequestedComponentsAndMergesXSTATEBV() throws {
        try setArea([UInt8](repeating: 0xEE, count: 1200), at: 0)
        try setArea([0x20, 0, 0, 0, 0, 0, 0, 0], at: 512)
        #expect(try machine.run([0x48, 0x0F, 0xAE, 0x26]) == .completed)
        #expect(try area(176, 16) == Self.xmmPattern)
        #expect(try area(576, 256) == Self.avxPattern)
        #expect(try area(0, 2) == [0x7F, 0x03])
        // XSTATE_BV keeps bit 5, which RFBM did not cover.
        #expect(try area(512, 8) == [0x27, 0, 0, 0, 0, 0, 0, 0])
        // Bytes XSAVE does not own stay as they were: the legacy region's tail, the header's rest.
        #expect(try area(470, 2) == [0xEE, 0xEE])
        #expect(try area(520, 8) == [UInt8](repeating: 0xEE, count: 8))
    }

    @Test func xsaveOfX87OnlyLeavesTheSSEAndAVXAreasAlone() throws {
        try setArea([UInt8](repeating: 0xEE, count: 1200), at: 0)
        machine.registers.rax = 1
        #expect(try machine.run([0x0F, 0xAE, 0x26]) == .completed)
        #expect(try area(0, 2) == [0x7F, 0x03])
        #expect(try area(176, 16) == [UInt8](repeating: 0xEE, count: 16))
        #expect(try area(24, 4) == [0xEE, 0xEE, 0xEE, 0xEE])
        #expect(try area(576, 4) == [0xEE, 0xEE, 0xEE, 0xEE])
    }

    @Test func xsaveChecksOSXSAVETSAndAlignment() throws {
        machine.registers.rsi = Self.area + 16
        #expect(try machine.run([0x0F, 0xAE, 0x26]) == .exception(.generalProtection()))
        machine.registers.rsi = Self.area
        machine.specialRegisters.cr0 |= 1 << 3
        #expect(try machine.run([0x0F, 0xAE, 0x26]) == .exception(.deviceNotAvailable))
        machine.specialRegisters.cr4 &= ~(1 << 18)
        #expect(try machine.run([0x0F, 0xAE, 0x26]) == .exception(.invalidOpcode))
    }

    @Test func xsavecPacksComponentsAndWritesTheWholeHeader() throws {
        machine.extendedStateLayout = XSaveLayout(components: [
            2: .init(offset: 576, size: 264),
            5: .init(offset: 1088, size: 64, alignedTo64: true),
        ])
        machine.xcr0 = 0x27
        machine.registers.rax = 0x27
        machine.xsaveImage[512] = 0x27
        machine.xsaveImage.replaceSubrange(1088..<1152, with: [UInt8](repeating: 0x5C, count: 64))
        try setArea([UInt8](repeating: 0xEE, count: 1200), at: 0)
        #expect(try machine.run([0x48, 0x0F, 0xC7, 0x26]) == .completed)
        #expect(try area(512, 8) == [0x27, 0, 0, 0, 0, 0, 0, 0])
        #expect(try area(520, 8) == [0x27, 0, 0, 0, 0, 0, 0, 0x80])
        #expect(try area(528, 48) == [UInt8](repeating: 0, count: 48))
        #expect(try area(576, 8) == [UInt8](repeating: 0xA5, count: 8))
        // Component 2 ends at 840; component 5 is aligned up to 896.
        #expect(try area(896, 64) == [UInt8](repeating: 0x5C, count: 64))
        #expect(try area(840, 8) == [UInt8](repeating: 0xEE, count: 8))
    }

    @Test func xsavecSkipsComponentsInTheirInitialState() throws {
        machine.xsaveImage[512] = 0x3
        try setArea([UInt8](repeating: 0xEE, count: 1200), at: 0)
        #expect(try machine.run([0x0F, 0xC7, 0x26]) == .completed)
        #expect(try area(512, 8) == [0x3, 0, 0, 0, 0, 0, 0, 0])
        #expect(try area(520, 8) == [0x7, 0, 0, 0, 0, 0, 0, 0x80])
        #expect(try area(576, 8) == [UInt8](repeating: 0xEE, count: 8))
    }

    @Test func xrstorLoadsPresentComponentsAndInitialisesAbsentOnes() throws {
        var image = [UInt8](repeating: 0, count: 832)
        image[0] = 0x7F
        image[1] = 0x03
        image.replaceSubrange(24..<28, with: [0x80, 0x1F, 0, 0])
        image.replaceSubrange(160..<176, with: [UInt8](repeating: 0x42, count: 16))
        image.replaceSubrange(576..<832, with: [UInt8](repeating: 0x99, count: 256))
        image[512] = 0x3
        try setArea(image, at: 0)
        #expect(try machine.run([0x48, 0x0F, 0xAE, 0x2E]) == .completed)
        #expect(Array(machine.xsaveImage[160..<176]) == [UInt8](repeating: 0x42, count: 16))
        #expect(Array(machine.xsaveImage[176..<192]) == [UInt8](repeating: 0, count: 16))
        // AVX was requested but absent from XSTATE_BV: initialised, and no longer in use.
        #expect(Array(machine.xsaveImage[576..<832]) == [UInt8](repeating: 0, count: 256))
        #expect(machine.xsaveImage[512] == 0x3)
    }

    @Test func xrstorLeavesComponentsOutsideRFBMAlone() throws {
        var image = [UInt8](repeating: 0, count: 832)
        image[512] = 0x7
        try setArea(image, at: 0)
        machine.registers.rax = 0x4
        #expect(try machine.run([0x0F, 0xAE, 0x2E]) == .completed)
        #expect(Array(machine.xsaveImage[176..<192]) == Self.xmmPattern)
        #expect(Array(machine.xsaveImage[576..<832]) == [UInt8](repeating: 0, count: 256))
    }

    @Test(arguments: [
        (520, UInt8(0x01)),  // XCOMP_BV in a standard image
        (530, 0x01),         // reserved header bytes
        (512, 0x20),         // XSTATE_BV outside XCR0
        (26, 0x01),          // MXCSR bits outside MXCSR_MASK
    ])
    func xrstorRefusesMalformedImagesWithGP(offset: Int, value: UInt8) throws {
        var image = [UInt8](repeating: 0, count: 832)
        image[512] = 0x3
        image.replaceSubrange(24..<28, with: [0x80, 0x1F, 0, 0])
        image[offset] |= value
        try setArea(image, at: 0)
        let before = machine.xsaveImage
        #expect(try machine.run([0x0F, 0xAE, 0x2E]) == .exception(.generalProtection()))
        #expect(machine.xsaveImage == before)
    }

    @Test func aCompactedImageRestoresWhatXsavecSaved() throws {
        try setArea([UInt8](repeating: 0, count: 1200), at: 0)
        #expect(try machine.run([0x0F, 0xC7, 0x26]) == .completed)
        machine.xsaveImage.replaceSubrange(176..<192, with: [UInt8](repeating: 0, count: 16))
        machine.xsaveImage.replaceSubrange(576..<832, with: [UInt8](repeating: 0, count: 256))
        #expect(try machine.run([0x0F, 0xAE, 0x2E]) == .completed)
        #expect(Array(machine.xsaveImage[176..<192]) == Self.xmmPattern)
        #expect(Array(machine.xsaveImage[576..<832]) == Self.avxPattern)
    }

    @Test func xsavesAndXrstorsArePrivilegedAndXrstorsWantsTheCompactedFormat() throws {
        try setArea([UInt8](repeating: 0, count: 1200), at: 0)
        #expect(try machine.run([0x0F, 0xC7, 0x1E]) == .exception(.generalProtection()))
        #expect(try machine.run([0x0F, 0xC7, 0x2E]) == .completed)
        #expect(try area(520, 8) == [0x7, 0, 0, 0, 0, 0, 0, 0x80])
        #expect(try machine.run([0x0F, 0xC7, 0x1E]) == .completed)
        machine.specialRegisters.cs.dpl = 3
        machine.specialRegisters.ss.dpl = 3
        #expect(try machine.run([0x0F, 0xC7, 0x2E]) == .exception(.generalProtection()))
    }

    @Test func componentsTheVCPUImageDoesNotHoldAreUnsupported() throws {
        machine.xcr0 = 0x207
        machine.registers.rax = 0x207
        guard case .unsupported = try machine.run([0x0F, 0xAE, 0x26]) else {
            Issue.record("XSAVE of component 9 should be unsupported")
            return
        }
    }

    // MARK: x87 control, MXCSR

    @Test func x87ControlInstructionsMoveTheStatusAndControlWords() throws {
        machine.xsaveImage.replaceSubrange(2..<4, with: [0x81, 0x38])
        machine.registers.rax = 0xFFFF_FFFF
        #expect(try machine.run([0xDF, 0xE0]) == .completed)
        #expect(machine.registers.rax == 0xFFFF_3881)
        #expect(try machine.run([0xDD, 0x3E]) == .completed)
        #expect(try area(0, 2) == [0x81, 0x38])
        #expect(try machine.run([0xD9, 0x3E]) == .completed)
        #expect(try area(0, 2) == [0x7F, 0x03])
        try setArea([0x7E, 0x03], at: 0)
        #expect(try machine.run([0xD9, 0x2E]) == .completed)
        #expect(Array(machine.xsaveImage[0..<2]) == [0x7E, 0x03])
        #expect(try machine.run([0xDB, 0xE2]) == .completed)
        #expect(Array(machine.xsaveImage[2..<4]) == [0x00, 0x38])
        machine.specialRegisters.cr0 |= 1 << 3
        #expect(try machine.run([0xDF, 0xE0]) == .exception(.deviceNotAvailable))
    }

    @Test func ldmxcsrChecksReservedBitsAndMarksSSEInUse() throws {
        machine.xsaveImage[512] = 0x1
        try setArea([0xC0, 0x1F, 0, 0], at: 0)
        #expect(try machine.run([0x0F, 0xAE, 0x16]) == .completed)
        #expect(Array(machine.xsaveImage[24..<28]) == [0xC0, 0x1F, 0, 0])
        #expect(machine.xsaveImage[512] == 0x3)
        #expect(try machine.run([0x0F, 0xAE, 0x1E]) == .completed)
        try setArea([0, 0, 1, 0], at: 0)
        #expect(try machine.run([0x0F, 0xAE, 0x16]) == .exception(.generalProtection()))
        machine.specialRegisters.cr4 &= ~(1 << 9)
        #expect(try machine.run([0x0F, 0xAE, 0x1E]) == .exception(.invalidOpcode))
    }

    // MARK: FXSAVE, FXRSTOR

    @Test func fxsaveWritesTheLegacyRegionAndFxrstorLoadsIt() throws {
        try setArea([UInt8](repeating: 0xEE, count: 512), at: 0)
        #expect(try machine.run([0x48, 0x0F, 0xAE, 0x06]) == .completed)
        #expect(try area(176, 16) == Self.xmmPattern)
        #expect(try area(24, 4) == [0x80, 0x1F, 0, 0])
        #expect(try area(416, 8) == [UInt8](repeating: 0xEE, count: 8))
        try setArea([UInt8](repeating: 0x33, count: 16), at: 176)
        try setArea([0x7E, 0x03], at: 0)
        machine.xsaveImage[512] = 0
        #expect(try machine.run([0x48, 0x0F, 0xAE, 0x0E]) == .completed)
        #expect(Array(machine.xsaveImage[176..<192]) == [UInt8](repeating: 0x33, count: 16))
        #expect(machine.xsaveImage[0] == 0x7E)
        #expect(machine.xsaveImage[512] == 0x3)
    }

    @Test func fxsaveNeedsSixteenByteAlignmentAndNoEMOrTS() throws {
        machine.registers.rsi = Self.area + 8
        #expect(try machine.run([0x0F, 0xAE, 0x06]) == .exception(.generalProtection()))
        machine.registers.rsi = Self.area
        machine.specialRegisters.cr0 |= 1 << 2
        #expect(try machine.run([0x0F, 0xAE, 0x06]) == .exception(.deviceNotAvailable))
    }

    @Test func theThirtyTwoBitFormStoresZeroSelectorsAfterTheX87Pointers() throws {
        machine.xsaveImage.replaceSubrange(8..<24, with: [UInt8](repeating: 0x77, count: 16))
        #expect(try machine.run([0x0F, 0xAE, 0x06]) == .completed)
        #expect(try area(8, 16) == [0x77, 0x77, 0x77, 0x77, 0, 0, 0, 0, 0x77, 0x77, 0x77, 0x77, 0, 0, 0, 0])
        #expect(try machine.run([0x48, 0x0F, 0xAE, 0x06]) == .completed)
        #expect(try area(8, 16) == [UInt8](repeating: 0x77, count: 16))
    }

    @Test func theLayoutComesFromCPUIDLeafD() {
        let layout = XSaveLayout(cpuid: [
            CPUIDEntry(function: 0xD, index: 0, eax: 0x7, ebx: 0x340, ecx: 0x340),
            CPUIDEntry(function: 0xD, index: 2, eax: 0x100, ebx: 0x240),
            CPUIDEntry(function: 0xD, index: 5, eax: 0x40, ebx: 0x340, ecx: 0x2),
        ])
        #expect(layout.components[2] == .init(offset: 0x240, size: 0x100))
        #expect(layout.components[5] == .init(offset: 0x340, size: 0x40, alignedTo64: true))
        #expect(layout.knownComponents == 0x27)
        #expect(layout.standardSize(of: 0x27) == 0x380)
        #expect(layout.compactedOffsets(of: 0x27) == [2: 576, 5: 832])
    }
}
