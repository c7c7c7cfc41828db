import Synchronization
import Testing
import Devices
import TestSupport

/// Guest RAM for DMA tests: `size` bytes from `base`; anything else is not RAM.
final class SyntheticMemory: FwCfgDMAMemory {
    struct OutsideRAM: Error {}

    let base: UInt64
    let bytes: Mutex<[UInt8]>

    init(base: UInt64 = 0x1000, size: Int = 0x4000) {
        self.base = base
        bytes = Mutex([UInt8](repeating: 0xAA, count: size))
    }

    /// The offset of `[address, address + count)` in `bytes`, if all of it is RAM.
    func offset(_ address: UInt64, _ count: UInt64) -> Int? {
        let size = UInt64(bytes.withLock { $0.count })
        guard address >= base, count <= size, address - base <= size - count else { return nil }
        return Int(address - base)
    }

    func read(_ address: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, let start = offset(address, UInt64(count)) else { throw OutsideRAM() }
        return bytes.withLock { Array($0[start..<start + count]) }
    }

    func write(_ data: [UInt8], at address: UInt64) throws {
        guard let start = offset(address, UInt64(data.count)) else { throw OutsideRAM() }
        bytes.withLock { $0.replaceSubrange(start..<start + data.count, with: data) }
    }

    func fill(_ value: UInt8, at address: UInt64, count: UInt64) throws {
        guard let start = offset(address, count) else { throw OutsideRAM() }
        bytes.withLock { $0.replaceSubrange(start..<start + Int(count), with: repeatElement(value, count: Int(count))) }
    }

    /// Writes a `FWCfgDmaAccess` at `address`.
    func putAccess(at address: UInt64, control: UInt32, length: UInt32, target: UInt64) {
        let access = withUnsafeBytes(of: control.bigEndian, Array.init) + withUnsafeBytes(of: length.bigEndian, Array.init)
            + withUnsafeBytes(of: target.bigEndian, Array.init)
        try! write(access, at: address)
    }

    /// The `control` field stored back at `address`.
    func control(at address: UInt64) -> UInt32 {
        try! read(address, count: 4).reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension FwCfg {
    func select(_ selector: UInt16) { portWrite(FwCfg.selectorPort, size: 2, value: UInt32(selector)) }

    func readData(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(portRead(FwCfg.dataPort, size: 1)) }
    }

    func item(_ selector: UInt16, count: Int) -> [UInt8] {
        select(selector)
        return readData(count)
    }

    /// Starts the DMA transfer described at `address`, as a guest does: two big-endian halves.
    func startDMA(at address: UInt64) {
        portWrite(FwCfg.dmaPort, size: 4, value: UInt32(truncatingIfNeeded: address >> 32).byteSwapped)
        portWrite(FwCfg.dmaPort + 4, size: 4, value: UInt32(truncatingIfNeeded: address).byteSwapped)
    }
}

private func bigEndian32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }
private func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

@Suite struct FwCfgItemTests {
    static func sample() throws -> FwCfgItems {
        var items = FwCfgItems()
        items.set(FwCfg.Key.cpuCount, littleEndian: UInt16(2))
        items.set(FwCfg.Key.ramSize, littleEndian: UInt64(256 << 20))
        try items.addFile("opt/zeta", Array("last".utf8))
        try items.addFile("etc/e820", [1, 2, 3])
        try items.addFile("bootorder", [])
        return items
    }

    @Test func signatureReadsQEMU() {
        let device = FwCfg(items: FwCfgItems())
        #expect(device.item(FwCfg.Key.signature, count: 4) == Array("QEMU".utf8))
    }

    @Test func idHasTheDMABitOnlyWithDMA() {
        #expect(FwCfg(items: FwCfgItems()).item(FwCfg.Key.id, count: 4) == [1, 0, 0, 0])
        #expect(FwCfg(items: FwCfgItems(), dma: SyntheticMemory()).item(FwCfg.Key.id, count: 4) == [3, 0, 0, 0])
    }

    @Test func filesGetSelectorsInOrderAddedAndTheDirectoryListsThemByName() throws {
        let items = try Self.sample()
        #expect(items.files.map(\.selector) == [0x20, 0x21, 0x22])
        let directory = FwCfg(items: items).item(FwCfg.Key.fileDirectory, count: 4 + 3 * 64)
        func entry(size: UInt32, selector: UInt16, name: String) -> [UInt8] {
            bigEndian32(size) + [UInt8(selector >> 8), UInt8(selector & 0xFF), 0, 0] + Array(name.utf8)
                + [UInt8](repeating: 0, count: 56 - name.utf8.count)
        }
        let expected = [0, 0, 0, 3] + entry(size: 0, selector: 0x22, name: "bootorder")
            + entry(size: 3, selector: 0x21, name: "etc/e820") + entry(size: 4, selector: 0x20, name: "opt/zeta")
        #expect(directory == expected)
        #expect(items.directory == expected)
    }

    @Test func fileContentIsReadThroughItsSelector() throws {
        let device = FwCfg(items: try Self.sample())
        #expect(device.item(0x20, count: 4) == Array("last".utf8))
        #expect(device.item(0x21, count: 3) == [1, 2, 3])
    }

    @Test func standardKeysReadBackLittleEndian() throws {
        var items = FwCfgItems()
        let values: [(UInt16, [UInt8])] = [
            (FwCfg.Key.cpuCount, littleEndian(UInt16(4))), (FwCfg.Key.maxCPUs, littleEndian(UInt16(4))),
            (FwCfg.Key.ramSize, littleEndian(UInt64(0x1_2000_0000))),
            (FwCfg.Key.kernelAddress, littleEndian(UInt32(0x10_0000))), (FwCfg.Key.kernelSize, littleEndian(UInt32(5))),
            (FwCfg.Key.kernelData, [1, 2, 3, 4, 5]),
            (FwCfg.Key.initrdAddress, littleEndian(UInt32(0x800_0000))), (FwCfg.Key.initrdSize, littleEndian(UInt32(2))),
            (FwCfg.Key.initrdData, [9, 8]),
            (FwCfg.Key.commandLineAddress, littleEndian(UInt32(0x2_0000))),
            (FwCfg.Key.commandLineSize, littleEndian(UInt32(6))), (FwCfg.Key.commandLineData, Array("quiet\0".utf8)),
        ]
        for (key, bytes) in values { items.set(key, bytes) }
        let device = FwCfg(items: items)
        for (key, bytes) in values {
            #expect(device.item(key, count: bytes.count) == bytes, "key 0x\(String(key, radix: 16))")
        }
    }

    @Test func duplicateEmptyAndOverlongNamesAreRefused() throws {
        var items = FwCfgItems()
        try items.addFile("opt/a", [])
        #expect(throws: FwCfgItems.FileError.duplicate("opt/a")) { try items.addFile("opt/a", [1]) }
        #expect(throws: FwCfgItems.FileError.emptyName) { try items.addFile("", [1]) }
        let longest = "opt/" + String(repeating: "x", count: 51)
        try items.addFile(longest, [])
        #expect(throws: FwCfgItems.FileError.nameTooLong(longest + "y")) { try items.addFile(longest + "y", []) }
        #expect(FwCfgItems.FileError.nameTooLong("n").description == "fw_cfg file name 'n' is too long (at most 55 bytes)")
        #expect(items.files.count == 2)
    }
}

@Suite struct FwCfgPortTests {
    @Test func readingPastTheEndReturnsZeroAndStaysThere() throws {
        let device = FwCfg(items: try FwCfgItemTests.sample())
        #expect(device.item(0x21, count: 6) == [1, 2, 3, 0, 0, 0])
        #expect(device.item(0x7FF, count: 2) == [0, 0])
    }

    @Test func selectingRewindsTheOffset() {
        let device = FwCfg(items: FwCfgItems())
        #expect(device.item(FwCfg.Key.signature, count: 2) == Array("QE".utf8))
        #expect(device.item(FwCfg.Key.signature, count: 4) == Array("QEMU".utf8))
    }

    @Test func wideDataReadsReturnConsecutiveBytesLowFirstAndWritesAreIgnored() {
        let device = FwCfg(items: FwCfgItems())
        device.select(FwCfg.Key.signature)
        device.portWrite(FwCfg.dataPort, size: 1, value: 0)
        #expect(device.portRead(FwCfg.dataPort, size: 2) == 0x4551)
        #expect(device.portRead(FwCfg.dataPort, size: 2) == 0x554D)
    }

    @Test func theSelectorReadsBackAndTheWriteChannelBitIsIgnoredForReads() {
        let device = FwCfg(items: FwCfgItems())
        device.select(FwCfg.Key.writeChannel | FwCfg.Key.signature)
        #expect(device.portRead(FwCfg.selectorPort, size: 2) == 0x4000)
        #expect(device.readData(4) == Array("QEMU".utf8))
    }

    @Test func onlySixteenBitSelectorWritesSelect() {
        let device = FwCfg(items: FwCfgItems())
        device.select(FwCfg.Key.id)
        device.portWrite(FwCfg.selectorPort, size: 1, value: 0)
        device.portWrite(FwCfg.selectorPort, size: 4, value: 0)
        #expect(device.portRead(FwCfg.selectorPort, size: 2) == UInt32(FwCfg.Key.id))
    }

    @Test func resetSelectsTheSignatureAgain() {
        let device = FwCfg(items: FwCfgItems())
        device.select(FwCfg.Key.id)
        device.reset()
        #expect(device.readData(4) == Array("QEMU".utf8))
    }

    @Test func theDMARegisterReadsTheSignatureOnlyWithDMA() {
        let device = FwCfg(items: FwCfgItems(), dma: SyntheticMemory())
        let high = device.portRead(FwCfg.dmaPort, size: 4)
        let low = device.portRead(FwCfg.dmaPort + 4, size: 4)
        #expect(littleEndian(high) + littleEndian(low) == Array("QEMU CFG".utf8))
        #expect(device.portRead(FwCfg.dmaPort + 6, size: 4) == 0x4746)
        #expect(FwCfg(items: FwCfgItems()).portRead(FwCfg.dmaPort, size: 4) == 0)
    }
}

@Suite struct FwCfgDMATests {
    let memory = SyntheticMemory()
    let access: UInt64 = 0x1000
    let buffer: UInt64 = 0x2000

    func device() throws -> FwCfg { FwCfg(items: try FwCfgItemTests.sample(), dma: memory) }

    @Test func selectAndReadCopiesTheItemAndClearsControl() throws {
        let device = try device()
        memory.putAccess(at: access, control: 0x0020_0000 | 0x08 | 0x02, length: 4, target: buffer)
        device.startDMA(at: access)
        #expect(try memory.read(buffer, count: 5) == Array("last".utf8) + [0xAA])
        #expect(memory.control(at: access) == 0)
    }

    @Test func readPastTheEndFillsZeroes() throws {
        let device = try device()
        memory.putAccess(at: access, control: 0x0021_0000 | 0x08 | 0x02, length: 8, target: buffer)
        device.startDMA(at: access)
        #expect(try memory.read(buffer, count: 9) == [1, 2, 3, 0, 0, 0, 0, 0, 0xAA])
        #expect(memory.control(at: access) == 0)
    }

    @Test func skipAdvancesTheOffsetWithoutTouchingMemory() throws {
        let device = try device()
        memory.putAccess(at: access, control: 0x0020_0000 | 0x08 | 0x04, length: 2, target: buffer)
        device.startDMA(at: access)
        #expect(try memory.read(buffer, count: 2) == [0xAA, 0xAA])
        #expect(device.readData(2) == Array("st".utf8))
    }

    @Test func aReadWithoutSelectContinuesFromThePortOffset() throws {
        let device = try device()
        device.select(0x20)
        _ = device.readData(1)
        memory.putAccess(at: access, control: 0x02, length: 3, target: buffer)
        device.startDMA(at: access)
        #expect(try memory.read(buffer, count: 3) == Array("ast".utf8))
    }

    @Test func writesAreRefusedWithTheErrorBit() throws {
        let device = try device()
        memory.putAccess(at: access, control: 0x0020_0000 | 0x08 | 0x10, length: 4, target: buffer)
        device.startDMA(at: access)
        #expect(memory.control(at: access) == 0x01)
        #expect(device.readData(4) == Array("last".utf8))
    }

    @Test func aTargetOutsideRAMSetsTheErrorBit() throws {
        let device = try device()
        for target in [0, 0x1_0000_0000, UInt64.max - 1, 0x1000 + 0x4000 - 2] as [UInt64] {
            memory.putAccess(at: access, control: 0x0020_0000 | 0x08 | 0x02, length: 4, target: target)
            device.startDMA(at: access)
            #expect(memory.control(at: access) == 0x01, "target 0x\(String(target, radix: 16))")
        }
        memory.putAccess(at: access, control: 0x0019_0000 | 0x08 | 0x02, length: 0xFFFF_FFFF, target: buffer)
        device.startDMA(at: access)
        #expect(memory.control(at: access) == 0x01)
    }

    @Test func aDescriptorOutsideRAMIsIgnored() throws {
        let device = try device()
        let before = memory.bytes.withLock { $0 }
        for address in [0, 0x1000 + 0x4000 - 8, UInt64.max - 4] as [UInt64] { device.startDMA(at: address) }
        #expect(memory.bytes.withLock { $0 } == before)
    }

    @Test func theHighHalfIsConsumedByEachTransfer() throws {
        let device = try device()
        device.portWrite(FwCfg.dmaPort, size: 4, value: UInt32(1).byteSwapped)
        memory.putAccess(at: access, control: 0x0020_0000 | 0x08 | 0x02, length: 4, target: buffer)
        device.portWrite(FwCfg.dmaPort + 4, size: 4, value: UInt32(access).byteSwapped)
        #expect(try memory.read(buffer, count: 1) == [0xAA])
        device.portWrite(FwCfg.dmaPort + 4, size: 4, value: UInt32(access).byteSwapped)
        #expect(try memory.read(buffer, count: 4) == Array("last".utf8))
    }
}

/// Random port and DMA traffic against a model of the selector and offset.
@Suite struct FwCfgRandomTrafficTests {
    private struct Model {
        let table: [UInt16: [UInt8]]
        var selector: UInt16 = 0
        var offset = 0

        var item: [UInt8] { table[selector & 0xBFFF] ?? [] }

        mutating func nextByte() -> UInt8 {
            guard offset < item.count else { return 0 }
            defer { offset += 1 }
            return item[offset]
        }
    }

    @Test func hundredThousandAccessesMatchTheModel() throws {
        var random = SeededGenerator(seed: 0xF0_C0F6)
        let memory = SyntheticMemory(base: 0x1000, size: 0x2000)
        var items = try FwCfgItemTests.sample()
        try items.addFile("opt/big", (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let device = FwCfg(items: items, dma: memory)
        var table = items.values
        table[0] = Array("QEMU".utf8)
        table[1] = [3, 0, 0, 0]
        table[0x19] = items.directory
        for file in items.files { table[file.selector] = file.bytes }
        var model = Model(table: table)
        let selectors: [UInt16] = [0, 1, 3, 5, 0x19, 0x20, 0x21, 0x22, 0x23, 0x4020, 0x8000, 0x3FFF]
        let access: UInt64 = 0x1000

        for step in 0..<100_000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0...1:
                let selector = Bool.random(using: &random) ? selectors.randomElement(using: &random)! : UInt16.random(in: 0...0xFFFF, using: &random)
                device.select(selector)
                model.selector = selector
                model.offset = 0
            case 2...6:
                let size = [1, 2, 4].randomElement(using: &random)!
                let value = device.portRead(FwCfg.dataPort, size: size)
                var expected: UInt32 = 0
                for i in 0..<size { expected |= UInt32(model.nextByte()) << (8 * UInt32(i)) }
                #expect(value == expected, "step \(step)")
            case 7:
                let port = UInt16.random(in: FwCfg.selectorPort...FwCfg.dmaPort + 7, using: &random)
                let size = [1, 2, 4].randomElement(using: &random)!
                // Writes that neither select nor start a transfer.
                if !(port == FwCfg.selectorPort && size == 2) && !(port == FwCfg.dmaPort + 4 && size == 4) {
                    device.portWrite(port, size: size, value: UInt32.random(in: 0...UInt32.max, using: &random))
                }
                #expect(device.portRead(FwCfg.selectorPort, size: 2) == UInt32(model.selector), "step \(step)")
            default:
                let select = Bool.random(using: &random)
                let selector = selectors.randomElement(using: &random)!
                let operation: UInt32 = [0x02, 0x04, 0x10, 0x00].randomElement(using: &random)!
                let length = UInt32.random(in: 0...64, using: &random)
                let target = Bool.random(using: &random) ? UInt64.random(in: 0x1010...0x3000, using: &random)
                    : UInt64.random(in: 0...UInt64.max, using: &random)
                memory.putAccess(at: access, control: (select ? UInt32(selector) << 16 | 0x08 : 0) | operation,
                                 length: length, target: target)
                if select {
                    model.selector = selector
                    model.offset = 0
                }
                let valid = { (address: UInt64, count: UInt64) in count == 0 || memory.offset(address, count) != nil }
                let item = model.item
                let count = min(Int(length), max(item.count - model.offset, 0))
                var expectedBytes: [UInt8]? = nil
                var error = false
                switch operation {
                case 0x02:
                    if valid(target, UInt64(count)) {
                        expectedBytes = Array(item[model.offset..<model.offset + count])
                            + [UInt8](repeating: 0, count: Int(length) - count)
                        model.offset += count
                        error = !valid(target &+ UInt64(count), UInt64(length) - UInt64(count))
                        if error { expectedBytes = Array(expectedBytes!.prefix(count)) }
                    } else {
                        error = true
                    }
                case 0x04:
                    model.offset += count
                case 0x10:
                    error = length > 0
                default:
                    break
                }
                device.startDMA(at: access)
                #expect(memory.control(at: access) == (error ? 1 : 0), "step \(step)")
                if let expectedBytes, !expectedBytes.isEmpty {
                    #expect(try memory.read(target, count: expectedBytes.count) == expectedBytes, "step \(step)")
                }
            }
        }
        device.select(0x23)
        #expect(device.readData(3000) == table[0x23])
    }
}
