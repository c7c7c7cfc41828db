import Testing
import Devices

@Suite struct PCIConfigSpaceTests {
    private let identity = PCIIdentity(vendorID: 0x1234, deviceID: 0x5678, revisionID: 0x9A, classCode: 0x0C_03_30,
                                       subsystemVendorID: 0xAAAA, subsystemID: 0xBBBB)

    @Test func guestWritesChangeOnlyWritableBits() {
        var config = PCIConfigSpace()
        config.set(0x40, size: 4, value: 0x1122_3344)
        config.setWritable(0x40, size: 4, mask: 0x00FF_00FF)
        config.guestWrite(0x40, size: 4, value: 0xAABB_CCDD)
        #expect(config.read(0x40, size: 4) == 0x11BB_33DD)
        config.guestWrite(0x42, size: 1, value: 0x00)
        #expect(config.read(0x40, size: 4) == 0x1100_33DD)
    }

    @Test func statusErrorBitsAreWriteOneToClear() {
        var config = PCIConfigSpace()
        config.status = 0xF910
        config.guestWrite(PCIConfigSpace.statusOffset, size: 2, value: 0x0100)
        #expect(config.status == 0xF810)
        config.guestWrite(PCIConfigSpace.statusOffset, size: 2, value: 0)
        #expect(config.status == 0xF810)
        config.guestWrite(PCIConfigSpace.statusOffset + 1, size: 1, value: 0xF8)
        #expect(config.status == 0x0010)
        config.guestWrite(PCIConfigSpace.statusOffset, size: 2, value: 0xFFFF)
        #expect(config.status == 0x0010)
    }

    @Test func commandRegisterHoldsOnlyThePCIExpressBits() {
        var config = PCIConfigSpace()
        config.guestWrite(PCIConfigSpace.commandOffset, size: 4, value: 0xFFFF_FFFF)
        #expect(config.command == 0x0547)
        #expect(config.status == 0)
    }

    @Test func identityAndHeaderLayoutAreReadOnly() {
        var config = PCIConfigSpace(identity: identity)
        for offset in stride(from: 0, to: 0x40, by: 4) where offset != PCIConfigSpace.commandOffset {
            config.guestWrite(offset, size: 4, value: 0xFFFF_FFFF)
        }
        #expect(config.identity == identity)
        #expect(config.read(0x00, size: 4) == 0x5678_1234)
        #expect(config.read(0x08, size: 4) == 0x0C03_309A)
        #expect(config.read(0x2C, size: 4) == 0xBBBB_AAAA)
        #expect(config.headerLayout == 0 && !config.isMultifunction)
        #expect(config.interruptPin == 0)
        #expect(config.read(0x0C, size: 1) == 0xFF, "cache line size is read-write")
        #expect(config.interruptLine == 0xFF, "Interrupt Line is read-write")
    }

    @Test func interruptLineStartsUnknownAndIsWritable() {
        var config = PCIConfigSpace()
        #expect(config.interruptLine == 0xFF)
        config.guestWrite(PCIConfigSpace.interruptLineOffset, size: 1, value: 11)
        #expect(config.interruptLine == 11)
    }

    @Test func multifunctionBitIsSeparateFromTheLayout() {
        var config = PCIConfigSpace()
        config.isMultifunction = true
        config.headerLayout = 0x7F
        #expect(config.read(PCIConfigSpace.headerTypeOffset, size: 1) == 0xFF)
        config.isMultifunction = false
        #expect(config.read(PCIConfigSpace.headerTypeOffset, size: 1) == 0x7F)
    }

    @Test func capabilitiesChainFromPointer0x34() {
        var config = PCIConfigSpace()
        #expect(config.capabilities.isEmpty)
        #expect(config.addCapability(id: 0x05, length: 24) == 0x40)
        #expect(config.addCapability(id: 0x11, length: 12) == 0x58)
        #expect(config.addCapability(id: 0x10, length: 58) == 0x64, "lengths round up to dwords")
        #expect(config.addCapability(id: 0x09, length: 3) == 0xA0)
        #expect(config.status & PCIConfigSpace.Status.capabilitiesList != 0)
        #expect(config.capabilitiesPointer == 0x40)
        var walked: [(UInt32, Int)] = []
        var pointer = Int(config.read(0x34, size: 1))
        while pointer != 0 {
            walked.append((config.read(pointer, size: 1), pointer))
            pointer = Int(config.read(pointer + 1, size: 1))
        }
        #expect(walked.map(\.0) == [0x05, 0x11, 0x10, 0x09])
        #expect(walked.map(\.1) == [0x40, 0x58, 0x64, 0xA0])
        #expect(config.capabilities.map(\.offset) == [0x40, 0x58, 0x64, 0xA0])
        #expect(config.capabilityOffset(id: 0x10) == 0x64)
    }

    @Test func capabilityPointersAndIDsAreReadOnly() {
        var config = PCIConfigSpace()
        _ = config.addCapability(id: 0x05, length: 24)
        _ = config.addCapability(id: 0x11, length: 12)
        config.guestWrite(0x34, size: 1, value: 0x80)
        config.guestWrite(0x40, size: 4, value: 0xFFFF_FFFF)
        #expect(config.capabilities.map(\.id) == [0x05, 0x11])
    }

    @Test func capabilityThatDoesNotFitIsRefused() {
        var config = PCIConfigSpace()
        #expect(config.addCapability(id: 0x09, length: 0xC0) == 0x40)
        #expect(config.addCapability(id: 0x09, length: 4) == nil)
    }

    @Test func accessesOutsideTheSpaceReadAllOnesAndAreIgnored() {
        var config = PCIConfigSpace()
        #expect(config.read(4094, size: 4) == UInt32.max)
        #expect(config.read(-1, size: 1) == UInt32.max)
        config.setWritable(0xFFC, size: 4, mask: 0xFFFF_FFFF)
        config.guestWrite(0xFFE, size: 4, value: 0x1234_5678)
        #expect(config.read(0xFFC, size: 4) == 0)
        config.guestWrite(0xFFC, size: 4, value: 0x1234_5678)
        #expect(config.read(0xFFC, size: 4) == 0x1234_5678, "ECAM reaches the whole 4 KiB")
    }
}
