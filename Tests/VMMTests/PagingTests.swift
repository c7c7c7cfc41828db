import Testing
import KVM
@testable import VMM

private let P: UInt64 = 1 << 0
private let RW: UInt64 = 1 << 1
private let US: UInt64 = 1 << 2
private let A: UInt64 = 1 << 5
private let D: UInt64 = 1 << 6
private let PS: UInt64 = 1 << 7
private let XD: UInt64 = 1 << 63

/// Builds page tables by hand in guest RAM, one table page at a time from `tableArea` up.
private final class TestPageTables {
    let memory: GuestMemory
    let mode: GuestPaging.PagingMode
    let root: UInt64
    private var nextTable: UInt64

    init(_ memory: GuestMemory, _ mode: GuestPaging.PagingMode, tableArea: UInt64 = 0x10_0000) {
        self.memory = memory
        self.mode = mode
        root = tableArea
        nextTable = tableArea + 0x1000
    }

    /// CR3 for these tables; the PAE PDPT deliberately sits 0x40 into its page, as CR3[31:5] allows.
    var cr3: UInt64 { mode == .pae ? root + 0x40 : root }

    var isWide: Bool { mode != .bits32 }

    /// Shift of the address bits each level translates, top level first.
    var shifts: [UInt64] {
        switch mode {
        case .bits32: [22, 12]
        case .pae: [30, 21, 12]
        case .level4: [39, 30, 21, 12]
        case .level5: [48, 39, 30, 21, 12]
        case .flat: []
        }
    }

    func paging(cpl: UInt8 = 0, cpuMode: GuestPaging.CPUMode? = nil, writeProtect: Bool = true,
                noExecute: Bool = false, pageSizeExtensions: Bool = true) -> GuestPaging {
        let defaultMode: GuestPaging.CPUMode = mode == .level4 || mode == .level5 ? .long64 : .protected
        return GuestPaging(cr3: cr3, cpl: cpl, cpuMode: cpuMode ?? defaultMode, pagingMode: mode,
                           pageSizeExtensions: pageSizeExtensions, writeProtect: writeProtect, noExecute: noExecute)
    }

    /// Address of the entry translating `gla` at the level of `shift`, creating missing tables above it
    /// with `tableFlags` (a PAE PDPTE gets only P: its other bits are reserved).
    func entryAddress(_ gla: UInt64, shift: UInt64, tableFlags: UInt64 = P | RW | US) throws -> UInt64 {
        var table = mode == .pae ? root + 0x40 : root
        for level in shifts {
            let index = mode == .pae && level == 30 ? (gla >> 30) & 3
                : mode == .bits32 ? (gla >> level) & 0x3FF : (gla >> level) & 0x1FF
            let address = table + index * (isWide ? 8 : 4)
            if level == shift { return address }
            var entry = try read(address)
            if entry & P == 0 {
                let newTable = nextTable
                nextTable += 0x1000
                entry = newTable | (mode == .pae && level == 30 ? P : tableFlags)
                try write(entry, at: address)
            }
            table = entry & (isWide ? 0x000F_FFFF_FFFF_F000 : 0xFFFF_F000)
        }
        Issue.record("no level with shift \(shift)")
        return 0
    }

    /// Maps the page of `1 << shift` bytes at `gla` to `gpa` with leaf flags `flags`.
    func map(_ gla: UInt64, to gpa: UInt64, shift: UInt64 = 12, flags: UInt64 = P | RW | US,
             tableFlags: UInt64 = P | RW | US) throws {
        let address = try entryAddress(gla, shift: shift, tableFlags: tableFlags)
        try write(gpa | flags | (shift > 12 ? PS : 0), at: address)
    }

    func entry(_ gla: UInt64, shift: UInt64) throws -> UInt64 { try read(entryAddress(gla, shift: shift)) }

    func setEntry(_ gla: UInt64, shift: UInt64, _ value: UInt64) throws {
        try write(value, at: entryAddress(gla, shift: shift))
    }

    private func read(_ address: UInt64) throws -> UInt64 {
        isWide ? try memory.load(UInt64.self, at: address) : UInt64(try memory.load(UInt32.self, at: address))
    }

    private func write(_ value: UInt64, at address: UInt64) throws {
        if isWide { try memory.store(value, at: address) } else { try memory.store(UInt32(value), at: address) }
    }
}

private func makeMemory() throws -> GuestMemory { try GuestMemory(size: 8 << 20) }

private func pf(_ code: PageFaultErrorCode, _ address: UInt64) -> Result<UInt64, GuestFault> {
    .failure(.pageFault(code, address: address))
}

@Suite struct PagingModeDerivationTests {
    private func registers(cr0: UInt64 = 0, cr4: UInt64 = 0, efer: UInt64 = 0, csLong: Bool = false,
                           ssDPL: UInt8 = 0) -> SpecialRegisters {
        var sregs = SpecialRegisters()
        sregs.cr0 = cr0
        sregs.cr4 = cr4
        sregs.efer = efer
        sregs.cr3 = 0x12_3000
        sregs.cs.long = csLong
        sregs.ss.dpl = ssDPL
        return sregs
    }

    @Test func realModeIsFlatAtCPL0EvenIfSSDPLSaysOtherwise() {
        let paging = GuestPaging(registers(ssDPL: 3))
        #expect(paging.cpuMode == .real)
        #expect(paging.pagingMode == .flat)
        #expect(paging.cpl == 0)
    }

    @Test func protectedModeWithoutPagingIsFlatWithCPLFromSSDPL() {
        let paging = GuestPaging(registers(cr0: 1, ssDPL: 3))
        #expect(paging.cpuMode == .protected)
        #expect(paging.pagingMode == .flat)
        #expect(paging.cpl == 3)
    }

    @Test func pagingWithoutPAEIsTwoLevelWithPSEFromCR4() {
        let paging = GuestPaging(registers(cr0: 0x8000_0001, cr4: 1 << 4))
        #expect(paging.pagingMode == .bits32)
        #expect(paging.pageSizeExtensions)
        #expect(paging.cr3 == 0x12_3000)
        #expect(!GuestPaging(registers(cr0: 0x8000_0001)).pageSizeExtensions)
    }

    @Test func paeOutsideLongModeIsPAE() {
        let paging = GuestPaging(registers(cr0: 0x8000_0001, cr4: 1 << 5))
        #expect(paging.pagingMode == .pae)
        #expect(paging.cpuMode == .protected)
    }

    @Test func longModeWithCSLIs64BitModeWithFourLevels() {
        let paging = GuestPaging(registers(cr0: 0x8001_0001, cr4: 1 << 5, efer: 0xD00, csLong: true))
        #expect(paging.cpuMode == .long64)
        #expect(paging.pagingMode == .level4)
        #expect(paging.noExecute)
        #expect(paging.writeProtect)
    }

    @Test func longModeWithoutCSLIsCompatibilityMode() {
        let paging = GuestPaging(registers(cr0: 0x8000_0001, cr4: 1 << 5, efer: 0x500))
        #expect(paging.cpuMode == .compatibility)
        #expect(paging.pagingMode == .level4)
        #expect(!paging.noExecute)
        #expect(!paging.writeProtect)
    }

    @Test func la57SelectsFiveLevelPaging() {
        let paging = GuestPaging(registers(cr0: 0x8000_0001, cr4: 1 << 5 | 1 << 12, efer: 0x500, csLong: true))
        #expect(paging.pagingMode == .level5)
    }
}

@Suite struct PagingTranslationTests {
    let memory: GuestMemory
    init() throws { memory = try makeMemory() }

    @Test func flatModeIsIdentityAndTouchesNoMemory() throws {
        let paging = GuestPaging(cr3: 0xFFFF_F000_0000, cpuMode: .long64, pagingMode: .flat)
        #expect(try paging.translate(0x7_1234_5678, for: .write, in: memory) == .success(0x7_1234_5678))
    }

    @Test func linearAddressesAre32BitsOutside64BitMode() throws {
        let paging = GuestPaging(cpuMode: .protected, pagingMode: .flat)
        #expect(try paging.translate(0x1_0000_1234, for: .read, in: memory) == .success(0x1234))
    }

    @Test func twoLevelPagingTranslates4KiBPages() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0x8040_3000, to: 0x5000)
        #expect(try tables.paging().translate(0x8040_3ABC, for: .read, in: memory) == .success(0x5ABC))
    }

    @Test func twoLevelPagingMaps4MiBPagesWithPSE() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0xC000_0000, to: 0x0080_0000, shift: 22)
        #expect(try tables.paging().translate(0xC012_3456, for: .read, in: memory) == .success(0x0092_3456))
    }

    @Test func fourMiBPagesCarryPSE36HighAddressBits() throws {
        let tables = TestPageTables(memory, .bits32)
        // PDE bits 20:13 = 0x5A become physical address bits 39:32.
        try tables.map(0xC000_0000, to: 0x0080_0000 | 0x5A << 13, shift: 22)
        #expect(try tables.paging().translate(0xC000_0010, for: .read, in: memory) == .success(0x5A_0080_0010))
    }

    @Test func psBitOfA32BitPDEIsIgnoredWithoutPSE() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0x0040_0000, to: 0x7000)
        let pde = try tables.entry(0x0040_0000, shift: 22)
        try tables.setEntry(0x0040_0000, shift: 22, pde | PS)
        let paging = tables.paging(pageSizeExtensions: false)
        #expect(try paging.translate(0x0040_0123, for: .read, in: memory) == .success(0x7123))
    }

    @Test func bit21OfA4MiBPDEIsReserved() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0xC000_0000, to: 0x0080_0000 | 1 << 21, shift: 22)
        #expect(try tables.paging().translate(0xC000_0000, for: .read, in: memory)
                == pf([.present, .reservedBit], 0xC000_0000))
    }

    @Test func paeTranslates4KiBPagesThroughPDPTEAtCR3Bits31To5() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0xC030_1000, to: 0x6000)
        #expect(tables.cr3 & 0xFFF == 0x40)
        #expect(try tables.paging().translate(0xC030_1FFF, for: .write, in: memory) == .success(0x6FFF))
    }

    @Test func paeMaps2MiBPages() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0x4060_0000, to: 0x1_2340_0000, shift: 21)
        #expect(try tables.paging().translate(0x4061_2345, for: .read, in: memory) == .success(0x1_2341_2345))
    }

    @Test func paePDPTEWithPSIsAReservedBitFault() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0x8000_0000, to: 0x6000)
        let pdpteAddress = try tables.entryAddress(0x8000_0000, shift: 30)
        try memory.store(try memory.load(UInt64.self, at: pdpteAddress) | PS, at: pdpteAddress)
        #expect(try tables.paging().translate(0x8000_0000, for: .read, in: memory)
                == pf([.present, .reservedBit], 0x8000_0000))
    }

    @Test func notPresentPAEPDPTEIsANotPresentFault() throws {
        let tables = TestPageTables(memory, .pae)
        #expect(try tables.paging(cpl: 3).translate(0x4000_0000, for: .write, in: memory)
                == pf([.write, .user], 0x4000_0000))
    }

    @Test func paeEntryBitsAbove51AreReserved() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0x1000, to: 0x6000 | 1 << 52)
        #expect(try tables.paging().translate(0x1000, for: .read, in: memory) == pf([.present, .reservedBit], 0x1000))
    }

    @Test func fourLevelPagingTranslates4KiB2MiBAnd1GiBPages() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x0000_7F12_3456_7000, to: 0x2000)
        try tables.map(0xFFFF_8000_0020_0000, to: 0x40_0000, shift: 21)
        try tables.map(0xFFFF_FFFF_C000_0000, to: 0x3_4000_0000, shift: 30)
        let paging = tables.paging()
        #expect(try paging.translate(0x0000_7F12_3456_7123, for: .read, in: memory) == .success(0x2123))
        #expect(try paging.translate(0xFFFF_8000_002A_BCDE, for: .read, in: memory) == .success(0x4A_BCDE))
        #expect(try paging.translate(0xFFFF_FFFF_C123_4567, for: .read, in: memory) == .success(0x3_4123_4567))
    }

    @Test func fiveLevelPagingTranslates4KiBAnd1GiBPagesAbove48Bits() throws {
        let tables = TestPageTables(memory, .level5)
        try tables.map(0x00AB_CDEF_1234_5000, to: 0x3000)
        try tables.map(0xFF00_0000_4000_0000, to: 0x8000_0000, shift: 30)
        let paging = tables.paging()
        #expect(try paging.translate(0x00AB_CDEF_1234_5678, for: .read, in: memory) == .success(0x3678))
        #expect(try paging.translate(0xFF00_0000_4000_0042, for: .write, in: memory) == .success(0x8000_0042))
    }

    @Test func psInAPML4EIsAReservedBitFault() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        try tables.setEntry(0x1000, shift: 39, try tables.entry(0x1000, shift: 39) | PS)
        #expect(try tables.paging(cpl: 3).translate(0x1000, for: .read, in: memory)
                == pf([.present, .user, .reservedBit], 0x1000))
    }

    @Test func psInAPML5EIsAReservedBitFault() throws {
        let tables = TestPageTables(memory, .level5)
        try tables.map(0x1000, to: 0x2000)
        try tables.setEntry(0x1000, shift: 48, try tables.entry(0x1000, shift: 48) | PS)
        #expect(try tables.paging().translate(0x1000, for: .read, in: memory) == pf([.present, .reservedBit], 0x1000))
    }

    @Test func largePageBitsBetweenPATAndFrameAreReserved() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x20_0000, to: 0x40_0000 | 1 << 13, shift: 21)
        try tables.map(0x4000_0000, to: 0x8000_0000 | 1 << 29, shift: 30)
        // Bit 12 of a large-page entry is its PAT bit: neither reserved nor part of the address.
        try tables.map(0x60_0000, to: 0x80_0000 | 1 << 12, shift: 21)
        let paging = tables.paging()
        #expect(try paging.translate(0x20_0000, for: .read, in: memory) == pf([.present, .reservedBit], 0x20_0000))
        #expect(try paging.translate(0x4000_0000, for: .read, in: memory) == pf([.present, .reservedBit], 0x4000_0000))
        #expect(try paging.translate(0x60_0010, for: .read, in: memory) == .success(0x80_0010))
    }

    @Test func executeDisableBitIsReservedWithoutNXE() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | RW | US | XD)
        #expect(try tables.paging().translate(0x1000, for: .read, in: memory) == pf([.present, .reservedBit], 0x1000))
        #expect(try tables.paging(noExecute: true).translate(0x1000, for: .read, in: memory) == .success(0x2000))
    }

    @Test func notPresentPageFaultsWithPClearAndCR2SetToTheAddress() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        #expect(try tables.paging().translate(0x2010, for: .read, in: memory) == pf([], 0x2010))
        #expect(try tables.paging(cpl: 3).translate(0x2010, for: .write, in: memory) == pf([.write, .user], 0x2010))
    }

    @Test func missingLowerLevelWinsOverUpperLevelProtection() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, tableFlags: P | RW)
        #expect(try tables.paging(cpl: 3).translate(0x3000, for: .read, in: memory) == pf([.user], 0x3000))
    }

    @Test func userAccessToSupervisorPageAtCPL3Faults() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | RW)
        #expect(try tables.paging(cpl: 3).translate(0x1000, for: .read, in: memory) == pf([.present, .user], 0x1000))
        #expect(try tables.paging(cpl: 0).translate(0x1000, for: .read, in: memory) == .success(0x2000))
    }

    @Test func supervisorUpperLevelProtectsTheWholeRange() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0x1000, to: 0x2000, tableFlags: P | RW)
        #expect(try tables.paging(cpl: 3).translate(0x1000, for: .write, in: memory)
                == pf([.present, .write, .user], 0x1000))
    }

    @Test func supervisorMayUseUserPages() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0x1000, to: 0x2000)
        #expect(try tables.paging(cpl: 2).translate(0x1000, for: .write, in: memory) == .success(0x2000))
    }

    @Test func writeToReadOnlyPageFaults() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | US)
        #expect(try tables.paging().translate(0x1000, for: .write, in: memory) == pf([.present, .write], 0x1000))
        #expect(try tables.paging().translate(0x1000, for: .read, in: memory) == .success(0x2000))
    }

    @Test func readOnlyUpperLevelMakesTheRangeReadOnly() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, tableFlags: P | US)
        #expect(try tables.paging(cpl: 3).translate(0x1000, for: .write, in: memory)
                == pf([.present, .write, .user], 0x1000))
    }

    @Test func supervisorWritesIgnoreReadOnlyWithoutCR0WP() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | US)
        #expect(try tables.paging(writeProtect: false).translate(0x1000, for: .write, in: memory) == .success(0x2000))
        #expect(try tables.paging(cpl: 3, writeProtect: false).translate(0x1000, for: .write, in: memory)
                == pf([.present, .write, .user], 0x1000))
    }

    @Test func fetchFromExecuteDisabledPageFaultsWithIDBit() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, tableFlags: P | RW | US | XD)
        let paging = tables.paging(cpl: 3, noExecute: true)
        #expect(try paging.translate(0x1000, for: .execute, in: memory)
                == pf([.present, .user, .instructionFetch], 0x1000))
        #expect(try paging.translate(0x1000, for: .read, in: memory) == .success(0x2000))
    }

    @Test func fetchFaultHasIDBitOnlyWithNXEInPAEStyleModes() throws {
        let wide = TestPageTables(memory, .pae)
        #expect(try wide.paging(noExecute: true).translate(0x1000, for: .execute, in: memory)
                == pf([.instructionFetch], 0x1000))
        #expect(try wide.paging().translate(0x1000, for: .execute, in: memory) == pf([], 0x1000))
        let narrow = TestPageTables(memory, .bits32, tableArea: 0x20_0000)
        #expect(try narrow.paging(noExecute: true).translate(0x1000, for: .execute, in: memory) == pf([], 0x1000))
    }

    @Test func nonCanonicalAddressIn64BitModeIsGeneralProtection() throws {
        let tables = TestPageTables(memory, .level4)
        let paging = tables.paging()
        #expect(try paging.translate(0x0000_8000_0000_0000, for: .read, in: memory) == .failure(.generalProtection))
        #expect(try paging.translate(0xFFFF_7FFF_FFFF_F000, for: .write, in: memory) == .failure(.generalProtection))
        #expect(try paging.translateNoFault(0x0000_8000_0000_0000, for: .read, in: memory) == nil)
    }

    @Test func fiveLevelPagingWidensTheCanonicalRange() throws {
        let tables = TestPageTables(memory, .level5)
        try tables.map(0x0000_8000_0000_0000, to: 0x2000)
        #expect(try tables.paging().translate(0x0000_8000_0000_0000, for: .read, in: memory) == .success(0x2000))
        #expect(try tables.paging().translate(0x0100_0000_0000_0000, for: .read, in: memory)
                == .failure(.generalProtection))
    }

    @Test func compatibilityModeDropsHighAddressBitsInsteadOfFaulting() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        let paging = tables.paging(cpuMode: .compatibility)
        #expect(try paging.translate(0x8000_0000_0000_1000, for: .read, in: memory) == .success(0x2000))
    }

    @Test func faultsCarryVectorsAndErrorCodes() {
        #expect(GuestFault.generalProtection.vector == 13)
        #expect(GuestFault.generalProtection.errorCode == 0)
        let fault = GuestFault.pageFault([.present, .write, .user, .reservedBit, .instructionFetch], address: 0)
        #expect(fault.vector == 14)
        #expect(fault.errorCode == 0x1F)
    }

    @Test func noFaultVariantTranslatesAndReportsFaultsAsNil() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | US)
        let paging = tables.paging()
        #expect(try paging.translateNoFault(0x1010, for: .read, in: memory) == 0x2010)
        #expect(try paging.translateNoFault(0x1010, for: .write, in: memory) == nil)
        #expect(try paging.translateNoFault(0x5000, for: .read, in: memory) == nil)
    }
}

@Suite struct PagingAccessedDirtyTests {
    let memory: GuestMemory
    init() throws { memory = try makeMemory() }

    @Test func readSetsAccessedAtEveryLevelAndNoDirty() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        _ = try tables.paging().translate(0x1000, for: .read, in: memory)
        for shift: UInt64 in [39, 30, 21, 12] {
            #expect(try tables.entry(0x1000, shift: shift) & (A | D) == A, "level \(shift)")
        }
    }

    @Test func writeSetsDirtyOnlyInTheLeaf() throws {
        let tables = TestPageTables(memory, .level5)
        try tables.map(0x20_0000, to: 0x40_0000, shift: 21)
        #expect(try tables.paging().translate(0x20_0000, for: .write, in: memory) == .success(0x40_0000))
        for shift: UInt64 in [48, 39, 30] {
            #expect(try tables.entry(0x20_0000, shift: shift) & (A | D) == A, "level \(shift)")
        }
        #expect(try tables.entry(0x20_0000, shift: 21) == 0x40_0000 | P | RW | US | PS | A | D)
    }

    @Test func twoLevelEntriesAreUpdatedAs32BitWords() throws {
        let tables = TestPageTables(memory, .bits32)
        try tables.map(0x1000, to: 0x2000)
        try tables.map(0x2000, to: 0x3000)
        _ = try tables.paging().translate(0x1000, for: .write, in: memory)
        #expect(try tables.entry(0x1000, shift: 22) == (tables.root + 0x1000) | P | RW | US | A)
        #expect(try tables.entry(0x1000, shift: 12) == 0x2000 | P | RW | US | A | D)
        // The neighbouring 32-bit PTE shares the 8-byte word and must stay untouched.
        #expect(try tables.entry(0x2000, shift: 12) == 0x3000 | P | RW | US)
    }

    @Test func paePDPTEGetsNoAccessedBit() throws {
        let tables = TestPageTables(memory, .pae)
        try tables.map(0x1000, to: 0x2000)
        let pdpteBefore = try tables.entry(0x1000, shift: 30)
        _ = try tables.paging().translate(0x1000, for: .write, in: memory)
        #expect(try tables.entry(0x1000, shift: 30) == pdpteBefore)
        #expect(try tables.entry(0x1000, shift: 21) & (A | D) == A)
        #expect(try tables.entry(0x1000, shift: 12) & (A | D) == A | D)
    }

    @Test func faultingWalkChangesNoEntry() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000, flags: P | US)
        _ = try tables.paging().translate(0x1000, for: .write, in: memory)
        for shift: UInt64 in [39, 30, 21, 12] {
            #expect(try tables.entry(0x1000, shift: shift) & (A | D) == 0, "level \(shift)")
        }
    }

    @Test func noFaultVariantChangesNoEntry() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        #expect(try tables.paging().translateNoFault(0x1000, for: .write, in: memory) == 0x2000)
        for shift: UInt64 in [39, 30, 21, 12] {
            #expect(try tables.entry(0x1000, shift: shift) & (A | D) == 0, "level \(shift)")
        }
    }

    @Test func guestCompareExchangeSwapsOnlyOnMatch() throws {
        try memory.store(UInt64(0x1122_3344_5566_7788), at: 0x100)
        #expect(try memory.compareExchange(at: 0x100, expected: UInt64(1), desired: 2)
                == (false, 0x1122_3344_5566_7788))
        #expect(try memory.compareExchange(at: 0x100, expected: UInt64(0x1122_3344_5566_7788), desired: 5)
                == (true, 0x1122_3344_5566_7788))
        #expect(try memory.load(UInt64.self, at: 0x100) == 5)
        #expect(try memory.compareExchange(at: 0x104, expected: UInt32(0), desired: 7) == (true, 0))
        #expect(try memory.atomicLoad(UInt64.self, at: 0x100) == 7 << 32 | 5)
        #expect(throws: GuestMemoryError(address: 8 << 20, length: 8)) {
            try memory.compareExchange(at: 8 << 20, expected: UInt64(0), desired: 1)
        }
    }

    @Test(arguments: [GuestPaging.PagingMode.bits32, .level4])
    func entryRewrittenDuringTheWalkIsNotOverwrittenAndTheWalkRestarts(mode: GuestPaging.PagingMode) throws {
        let tables = TestPageTables(memory, mode)
        try tables.map(0x1000, to: 0x2000)
        let paging = tables.paging()
        guard case .mapped(_, let entries) = try paging.walk(0x1000, for: .write, in: memory) else {
            Issue.record("walk faulted")
            return
        }
        // The guest remaps the page between the walk's read and its Accessed/Dirty update.
        try tables.setEntry(0x1000, shift: 12, 0x9000 | P | RW | US)
        let pte = try tables.entryAddress(0x1000, shift: 12)
        #expect(try paging.setAccessedAndDirty(entries, dirty: true, in: memory) == pte)
        #expect(try tables.entry(0x1000, shift: 12) == 0x9000 | P | RW | US)
        #expect(try paging.translate(0x1000, for: .write, in: memory) == .success(0x9000))
        #expect(try tables.entry(0x1000, shift: 12) == 0x9000 | P | RW | US | A | D)
    }
}

@Suite struct PagingErrorTests {
    let memory: GuestMemory
    init() throws { memory = try makeMemory() }

    @Test func pageTableOutsideRAMIsAnErrorNotAFault() throws {
        let tables = TestPageTables(memory, .level4)
        try tables.map(0x1000, to: 0x2000)
        let pde = try tables.entry(0x1000, shift: 21)
        try tables.setEntry(0x1000, shift: 21, 0xC000_0000 | (pde & 0xFFF))
        let expected = GuestPagingError.notRAM(GuestMemoryError(address: 0xC000_0008, length: 8))
        #expect(throws: expected) { try tables.paging().translate(0x1000, for: .read, in: memory) }
        #expect(throws: expected) { try tables.paging().translateNoFault(0x1000, for: .read, in: memory) }
    }

    @Test func cr3OutsideRAMIsAnError() throws {
        let paging = GuestPaging(cr3: 0x9000_0000, cpuMode: .protected, pagingMode: .bits32)
        #expect(throws: GuestPagingError.notRAM(GuestMemoryError(address: 0x9000_0000, length: 4))) {
            try paging.translate(0x1000, for: .read, in: memory)
        }
        let pae = GuestPaging(cr3: 0xFFFF_FFE0, cpuMode: .protected, pagingMode: .pae)
        #expect(throws: GuestPagingError.notRAM(GuestMemoryError(address: 0xFFFF_FFE0, length: 8))) {
            try pae.translate(0x1000, for: .read, in: memory)
        }
    }
}

@Suite struct GuestCopyTests {
    let memory: GuestMemory
    private let tables: TestPageTables
    let paging: GuestPaging

    init() throws {
        memory = try makeMemory()
        tables = TestPageTables(memory, .level4)
        paging = tables.paging()
    }

    @Test func copyInAcrossAPageBoundaryReadsTwoFrames() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0x3000)
        try memory.write([1, 2, 3, 4], at: 0x5FFC)
        try memory.write([5, 6, 7, 8], at: 0x3000)
        #expect(try paging.copyIn(from: 0x40_0FFC, count: 8, in: memory) == .success([1, 2, 3, 4, 5, 6, 7, 8]))
    }

    @Test func copyOutAcrossAPageBoundaryWritesTwoFrames() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0x3000)
        #expect(try paging.copyOut([1, 2, 3, 4, 5, 6], to: 0x40_0FFE, in: memory) == nil)
        #expect(try memory.read(0x5FFE, count: 2) == [1, 2])
        #expect(try memory.read(0x3000, count: 4) == [3, 4, 5, 6])
    }

    @Test func copyOutFaultingOnTheSecondPageWritesNothing() throws {
        try tables.map(0x40_0000, to: 0x5000)
        #expect(try paging.copyOut([1, 2, 3, 4], to: 0x40_0FFE, in: memory) == .pageFault([.write], address: 0x40_1000))
        #expect(try memory.read(0x5FFE, count: 2) == [0, 0])
    }

    @Test func copyOutToAReadOnlySecondPageWritesNothing() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0x3000, flags: P | US)
        let user = tables.paging(cpl: 3)
        #expect(try user.copyOut([9, 9, 9], to: 0x40_0FFF, in: memory)
                == .pageFault([.present, .write, .user], address: 0x40_1000))
        #expect(try memory.read(0x5FFF, count: 1) == [0])
        #expect(try memory.read(0x3000, count: 2) == [0, 0])
    }

    @Test func copyInReportsTheFirstFaultingPage() throws {
        try tables.map(0x40_0000, to: 0x5000)
        #expect(try paging.copyIn(from: 0x40_0800, count: 0x3000, in: memory)
                == .failure(.pageFault([], address: 0x40_1000)))
    }

    @Test func rangesSplitAtEveryPageBoundary() throws {
        let frames: [UInt64] = [0x9000, 0x2000, 0x7000, 0x4000, 0x6000]
        for (page, frame) in frames.enumerated() { try tables.map(0x40_0000 + UInt64(page) * 0x1000, to: frame) }
        let ranges = try paging.physicalRanges(of: 0x40_0800, length: 0x4000, for: .read, in: memory)
        #expect(ranges == .success([
            GuestPhysicalRange(address: 0x9800, length: 0x800), GuestPhysicalRange(address: 0x2000, length: 0x1000),
            GuestPhysicalRange(address: 0x7000, length: 0x1000), GuestPhysicalRange(address: 0x4000, length: 0x1000),
            GuestPhysicalRange(address: 0x6000, length: 0x800),
        ]))
    }

    @Test func manyPageCopyRoundTripsThroughScatteredFrames() throws {
        let pages = 40
        for page in 0..<pages {
            try tables.map(0x80_0000 + UInt64(page) * 0x1000, to: 0x40_0000 + UInt64(pages - 1 - page) * 0x2000)
        }
        let bytes = (0..<(pages * 0x1000 - 0x123)).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        #expect(try paging.copyOut(bytes, to: 0x80_0123, in: memory) == nil)
        #expect(try paging.copyIn(from: 0x80_0123, count: bytes.count, in: memory) == .success(bytes))
        #expect(try memory.read(0x40_0000 + UInt64(pages - 1) * 0x2000 + 0x123, count: 2) == Array(bytes[0..<2]))
    }

    @Test func copyOutSetsDirtyInEveryPage() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0x3000)
        _ = try paging.copyOut([1, 2], to: 0x40_0FFF, in: memory)
        #expect(try tables.entry(0x40_0000, shift: 12) & (A | D) == A | D)
        #expect(try tables.entry(0x40_1000, shift: 12) & (A | D) == A | D)
    }

    @Test func instructionFetchCopyHonoursExecuteDisable() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0x3000, flags: P | RW | US | XD)
        let nx = tables.paging(noExecute: true)
        #expect(try nx.copyIn(from: 0x40_0FF8, count: 15, for: .execute, in: memory)
                == .failure(.pageFault([.present, .instructionFetch], address: 0x40_1000)))
        #expect(try nx.copyIn(from: 0x40_0FF8, count: 15, in: memory) == .success(Array(repeating: 0, count: 15)))
    }

    @Test func emptyCopyWalksNothing() throws {
        #expect(try paging.copyIn(from: 0x1234_5000, count: 0, in: memory) == .success([]))
        #expect(try paging.copyOut([], to: 0x8000_0000_0000, in: memory) == nil)
    }

    @Test func dataOutsideRAMIsAnError() throws {
        try tables.map(0x40_0000, to: 0x5000)
        try tables.map(0x40_1000, to: 0xFEE0_0000)
        #expect(throws: GuestPagingError.notRAM(GuestMemoryError(address: 0xFEE0_0000, length: 4))) {
            try paging.copyOut([1, 2, 3, 4, 5, 6, 7, 8], to: 0x40_0FFC, in: memory)
        }
        #expect(try memory.read(0x5FFC, count: 4) == [0, 0, 0, 0])
    }

    @Test func faultOnALaterPageWinsOverDataOutsideRAM() throws {
        try tables.map(0x40_0000, to: 0xFEE0_0000)
        #expect(try paging.copyIn(from: 0x40_0FFC, count: 8, in: memory) == .failure(.pageFault([], address: 0x40_1000)))
    }

    @Test func copyWrapsAtFourGiBOutside64BitMode() throws {
        let narrow = TestPageTables(memory, .bits32, tableArea: 0x20_0000)
        try narrow.map(0xFFFF_F000, to: 0x5000)
        try narrow.map(0x0000_0000, to: 0x3000)
        #expect(try narrow.paging().copyOut([1, 2, 3, 4], to: 0xFFFF_FFFE, in: memory) == nil)
        #expect(try memory.read(0x5FFE, count: 2) == [1, 2])
        #expect(try memory.read(0x3000, count: 2) == [3, 4])
    }
}
