/// The SMBIOS 2.8 tables (bhyve's `smbiostbl.c`): a 2.x entry point ("_SM_" with the "_DMI_"
/// intermediate anchor) followed directly by the structure table, which describes the firmware,
/// system, board, chassis, processors and memory.
public enum SMBIOS {
    static let majorVersion: UInt8 = 2
    static let minorVersion: UInt8 = 8
    static let entryPointLength = 0x1F
    static let intermediateAnchorOffset = 0x10

    static let manufacturer = "Hyve"
    static let product = "Hyve"
    static let productVersion = "1.0"
    static let biosVersion = "1.0"
    /// SMBIOS wants mm/dd/yyyy.
    static let biosReleaseDate = "01/01/2025"
    static let none = "None"
    /// bhyve's placeholder for strings it has nothing to say in but wants present.
    static let blank = " "

    enum StructureType: UInt8 {
        case bios = 0, system = 1, baseboard = 2, chassis = 3, processor = 4
        case physicalMemoryArray = 16, memoryDevice = 17, memoryArrayMappedAddress = 19
        case systemBoot = 32, endOfTable = 127
    }

    /// Type 0 characteristics: ISA, PCI, shadowing, CD boot and EDD, as bhyve claims.
    static let biosCharacteristics: UInt64 = 0x10 | 0x80 | 0x1000 | 0x8000 | 0x8_0000
    /// Extension byte 1: ACPI. Extension byte 2: BIOS Boot Specification, virtual machine.
    static let biosCharacteristicsExtension: [UInt8] = [0x01, 0x01 | 0x10]
    static let biosSegment: UInt16 = 0xF000
    /// 64 KiB × (n + 1).
    static let biosROMSize: UInt8 = 0
    static let wakeUpPowerSwitch: UInt8 = 0x06
    static let boardIsHostingBoard: UInt8 = 0x01
    static let boardTypeMotherboard: UInt8 = 0x0A
    static let chassisTypeUnknown: UInt8 = 0x02
    static let chassisStateSafe: UInt8 = 0x03
    static let chassisSecurityNone: UInt8 = 0x03
    static let processorTypeCentral: UInt8 = 0x03
    static let processorFamilyOther: UInt8 = 0x01
    static let processorPopulatedEnabled: UInt8 = 0x40 | 0x01
    static let processorUpgradeNone: UInt8 = 0x06
    static let processor64Bit: UInt16 = 0x04
    static let arrayLocationMotherboard: UInt8 = 0x03
    static let arrayUseSystemMemory: UInt8 = 0x03
    static let arrayErrorCorrectionNone: UInt8 = 0x03
    static let formFactorUnknown: UInt8 = 0x02
    static let memoryTypeUnknown: UInt8 = 0x02
    static let memoryTypeDetailUnknown: UInt16 = 0x0004
    static let bootStatusNoErrors: UInt8 = 0
    /// "No handle": no cache structures, no error-information structures.
    static let noHandle: UInt16 = 0xFFFF
    static let errorInformationNotProvided: UInt16 = 0xFFFE
    static let fourGiB: UInt64 = 0x1_0000_0000

    /// Builds the entry point at `base` and the structure table right behind it.
    ///
    /// There is one type 4 structure per vCPU (bhyve's default topology: one single-core,
    /// single-thread socket per vCPU), one memory device holding all RAM, and one type 19 range per
    /// RAM region (below 4 GiB from 0, and from 4 GiB when there is high memory).
    ///
    /// - Parameter uuid: the system UUID in RFC 4122 byte order (the order its text form is
    ///   written in), 16 bytes; it is stored with its first three fields little-endian as SMBIOS
    ///   2.6+ requires. Without one the field is all zeros, which SMBIOS reads as "no UUID".
    public static func build(_ platform: PlatformDescription, at base: UInt64 = FirmwareLayout.smbios,
                             uuid: [UInt8]? = nil) -> FirmwareBlob {
        precondition(uuid.map { $0.count == 16 } ?? true, "a UUID is 16 bytes")
        var structures: [[UInt8]] = []
        func add(_ type: StructureType, _ fill: (inout Structure) -> Void) {
            var structure = Structure(type: type, handle: UInt16(structures.count))
            fill(&structure)
            structures.append(structure.encoded())
        }

        add(.bios) { bios in
            bios.string(manufacturer)
            bios.string(biosVersion)
            bios.word(biosSegment)
            bios.string(biosReleaseDate)
            bios.byte(biosROMSize)
            bios.qword(biosCharacteristics)
            bios.bytes(biosCharacteristicsExtension)
            // System BIOS release 1.0, as `biosVersion` says; 0xFF 0xFF: no embedded controller.
            bios.bytes([1, 0])
            bios.bytes([0xFF, 0xFF])
        }
        add(.system) { system in
            system.string(manufacturer)
            system.string(product)
            system.string(productVersion)
            system.string(none)
            system.bytes(smbiosUUID(uuid ?? [UInt8](repeating: 0, count: 16)))
            system.byte(wakeUpPowerSwitch)
            system.string(none)
            system.string("Virtual Machine")
        }
        let chassisHandle = UInt16(structures.count + 1)
        add(.baseboard) { board in
            board.string(manufacturer)
            board.string(product)
            board.string(productVersion)
            board.string(none)
            board.string(none)
            board.byte(boardIsHostingBoard)
            board.string(none)
            board.word(chassisHandle)
            board.byte(boardTypeMotherboard)
            board.byte(0)
        }
        add(.chassis) { chassis in
            chassis.string(manufacturer)
            chassis.byte(chassisTypeUnknown)
            chassis.string(productVersion)
            chassis.string(none)
            chassis.string(none)
            chassis.bytes([chassisStateSafe, chassisStateSafe, chassisStateSafe, chassisSecurityNone])
            chassis.dword(0)
            // Height, power cords, contained elements and their record length: unspecified, none.
            chassis.bytes([0, 0, 0, 0])
            chassis.string(none)
        }
        for cpu in 0..<platform.cpus {
            add(.processor) { processor in
                processor.string("CPU #\(cpu)")
                processor.byte(processorTypeCentral)
                processor.byte(processorFamilyOther)
                processor.string(blank)
                processor.qword(0)
                processor.string(blank)
                processor.byte(0)
                processor.bytes([UInt8](repeating: 0, count: 6))
                processor.byte(processorPopulatedEnabled)
                processor.byte(processorUpgradeNone)
                processor.word(noHandle)
                processor.word(noHandle)
                processor.word(noHandle)
                processor.string(none)
                processor.string(none)
                processor.string(none)
                // Cores, enabled cores, threads: each vCPU is its own single-core socket.
                processor.bytes([1, 1, 1])
                processor.word(processor64Bit)
                processor.word(UInt16(processorFamilyOther))
            }
        }

        let totalMemory = platform.lowMemory + platform.highMemory
        let memoryArrayHandle = UInt16(structures.count)
        add(.physicalMemoryArray) { array in
            array.bytes([arrayLocationMotherboard, arrayUseSystemMemory, arrayErrorCorrectionNone])
            let capacityKiB = (totalMemory + 1023) / 1024
            if capacityKiB < 0x8000_0000 {
                array.dword(UInt32(capacityKiB))
                array.word(errorInformationNotProvided)
                array.word(1)
                array.qword(0)
            } else {
                array.dword(0x8000_0000)
                array.word(errorInformationNotProvided)
                array.word(1)
                array.qword(totalMemory)
            }
        }
        add(.memoryDevice) { device in
            let size = memoryDeviceSize(totalMemory)
            device.word(memoryArrayHandle)
            device.word(errorInformationNotProvided)
            device.word(64)
            device.word(64)
            device.word(size.size)
            device.byte(formFactorUnknown)
            device.byte(0)
            device.string(blank)
            device.string(blank)
            device.byte(memoryTypeUnknown)
            device.word(memoryTypeDetailUnknown)
            device.word(0)
            device.string(blank)
            device.string(none)
            device.string(none)
            device.string(none)
            device.byte(0)
            device.dword(size.extendedSize)
            device.bytes([UInt8](repeating: 0, count: 8))
        }
        var ramRanges = [0..<platform.lowMemory]
        if platform.highMemory > 0 {
            ramRanges.append(fourGiB..<fourGiB + platform.highMemory)
        }
        for range in ramRanges {
            add(.memoryArrayMappedAddress) { mapped in
                let startKiB = range.lowerBound / 1024
                let endKiB = (range.upperBound - 1) / 1024
                if endKiB < 0xFFFF_FFFF {
                    mapped.dword(UInt32(startKiB))
                    mapped.dword(UInt32(endKiB))
                    mapped.word(memoryArrayHandle)
                    mapped.byte(1)
                    mapped.qword(0)
                    mapped.qword(0)
                } else {
                    mapped.dword(0xFFFF_FFFF)
                    mapped.dword(0xFFFF_FFFF)
                    mapped.word(memoryArrayHandle)
                    mapped.byte(1)
                    mapped.qword(range.lowerBound)
                    mapped.qword(range.upperBound - 1)
                }
            }
        }
        add(.systemBoot) { boot in
            boot.bytes([UInt8](repeating: 0, count: 6))
            boot.byte(bootStatusNoErrors)
        }
        add(.endOfTable) { _ in }

        let table = structures.flatMap { $0 }
        let tableAddress = base + UInt64(entryPointLength)
        let entryPoint = self.entryPoint(tableAddress: tableAddress, tableLength: table.count, structureCount: structures.count,
                                         maxStructureSize: structures.map(\.count).max() ?? 0)
        return FirmwareBlob(address: base, bytes: entryPoint + table)
    }

    private static func entryPoint(tableAddress: UInt64, tableLength: Int, structureCount: Int, maxStructureSize: Int) -> [UInt8] {
        var bytes = Array("_SM_".utf8) + [0, UInt8(entryPointLength), majorVersion, minorVersion]
        bytes += UInt16(maxStructureSize).littleEndianBytes + [0] + [UInt8](repeating: 0, count: 5)
        bytes += Array("_DMI_".utf8) + [0]
        bytes += UInt16(tableLength).littleEndianBytes + UInt32(tableAddress).littleEndianBytes + UInt16(structureCount).littleEndianBytes
        bytes += [majorVersion << 4 | minorVersion]
        bytes[intermediateAnchorOffset + 5] = Checksum.complement(bytes[intermediateAnchorOffset...])
        bytes[4] = Checksum.complement(bytes)
        return bytes
    }

    /// The type 17 Size word and Extended Size dword (SMBIOS 2.8 §7.18.5): KiB with bit 15 set
    /// up to 32767 KiB, MiB up to 32766 MiB, otherwise 0x7FFF and the MiB in Extended Size.
    static func memoryDeviceSize(_ bytes: UInt64) -> (size: UInt16, extendedSize: UInt32) {
        let kiB = bytes / 1024
        let miB = min(bytes / (1024 * 1024), 0x7FFF_FFFF)
        if kiB <= 0x7FFF {
            return (UInt16(kiB) | 0x8000, 0)
        }
        if miB < 0x7FFF {
            return (UInt16(miB), 0)
        }
        return (0x7FFF, UInt32(miB))
    }

    /// SMBIOS 2.6+ stores time_low, time_mid and time_hi_and_version little-endian.
    private static func smbiosUUID(_ uuid: [UInt8]) -> [UInt8] {
        Array(uuid[0..<4].reversed()) + Array(uuid[4..<6].reversed()) + Array(uuid[6..<8].reversed()) + Array(uuid[8..<16])
    }

    /// One structure under construction: its formatted area after the 4-byte header, and its
    /// string set, whose 1-based indices the formatted area refers to.
    struct Structure {
        let type: StructureType
        let handle: UInt16
        private var formatted: [UInt8] = []
        private var strings: [String] = []

        init(type: StructureType, handle: UInt16) {
            self.type = type
            self.handle = handle
        }

        mutating func byte(_ value: UInt8) { formatted.append(value) }
        mutating func bytes(_ values: [UInt8]) { formatted += values }
        mutating func word(_ value: UInt16) { formatted += value.littleEndianBytes }
        mutating func dword(_ value: UInt32) { formatted += value.littleEndianBytes }
        mutating func qword(_ value: UInt64) { formatted += value.littleEndianBytes }

        /// Appends the string's index, sharing one copy among identical strings.
        mutating func string(_ value: String) {
            if let index = strings.firstIndex(of: value) {
                formatted.append(UInt8(index + 1))
            } else {
                strings.append(value)
                formatted.append(UInt8(strings.count))
            }
        }

        /// Header, formatted area, then each string NUL-terminated and one more NUL; a structure
        /// without strings still ends in two NULs.
        func encoded() -> [UInt8] {
            var bytes = [type.rawValue, UInt8(4 + formatted.count)] + handle.littleEndianBytes + formatted
            for string in strings {
                bytes += Array(string.utf8) + [0]
            }
            bytes += strings.isEmpty ? [0, 0] : [0]
            return bytes
        }
    }
}
