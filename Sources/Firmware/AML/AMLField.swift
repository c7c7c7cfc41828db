/// The address space an OperationRegion maps (ACPI 6.5 §19.6.100, RegionSpace).
public enum AMLRegionSpace: UInt8, Sendable {
    /// Physical memory.
    case systemMemory = 0x00
    /// I/O ports.
    case systemIO = 0x01
    /// The configuration space of the PCI function the region's device `_ADR` names.
    case pciConfig = 0x02
    /// An embedded controller's registers.
    case embeddedControl = 0x03
    /// An SMBus device.
    case smBus = 0x04
    /// CMOS RAM behind the RTC.
    case systemCMOS = 0x05
    /// A PCI BAR of the region's device.
    case pciBarTarget = 0x06
}

/// How a Field reaches its region (FieldFlags bits 0–3).
public enum AMLFieldAccess: UInt8, Sendable {
    /// AnyAcc, ByteAcc, WordAcc, DWordAcc, QWordAcc, BufferAcc.
    case any = 0, byte = 1, word = 2, dword = 3, qword = 4, buffer = 5
}

/// What a Field writes to the bits of an access that lie outside the unit written (bits 5–6).
public enum AMLFieldUpdate: UInt8, Sendable {
    /// Preserve, WriteAsOnes, WriteAsZeros.
    case preserve = 0, writeAsOnes = 1, writeAsZeros = 2
}

/// One entry of a Field's list.
public enum AMLFieldUnit: Sendable, Equatable {
    /// A named unit `bits` wide at the current position.
    case named(AMLName, bits: Int)
    /// Skips `bits` (ASL's unnamed `, n` entry).
    case reserved(bits: Int)
    /// Skips to a byte offset from the region's start (ASL's `Offset (n)`); it may not go back.
    case offset(Int)
}

extension AML {
    /// `OperationRegion (name, space, offset, length)`.
    public static func operationRegion(_ name: AMLName, space: AMLRegionSpace, offset: AML, length: AML) -> AML {
        AML(bytes: [AMLOpcode.extPrefix, AMLOpcode.opRegion] + name.bytes + [space.rawValue] + offset.bytes + length.bytes)
    }

    /// `Field (region, access, Lock/NoLock, update) { units }`; `offset` entries become the
    /// ReservedField that reaches them.
    public static func field(_ region: AMLName, access: AMLFieldAccess = .any, lock: Bool = false,
                             update: AMLFieldUpdate = .preserve, _ units: [AMLFieldUnit]) -> AML {
        let flags = access.rawValue | (lock ? 0x10 : 0) | update.rawValue << 5
        var list: [UInt8] = []
        var position = 0
        for unit in units {
            switch unit {
            case let .named(name, bits):
                precondition(name.isSingleSegment && bits > 0, "field unit \(name) needs one NameSeg and a width")
                list += name.bytes + encodedLength(bits)
                position += bits
            case let .reserved(bits):
                list += [reservedField] + encodedLength(bits)
                position += bits
            case let .offset(byte):
                precondition(byte * 8 >= position, "Offset (\(byte)) lies behind the field's position")
                if byte * 8 > position { list += [reservedField] + encodedLength(byte * 8 - position) }
                position = byte * 8
            }
        }
        return package(opcode: [AMLOpcode.extPrefix, AMLOpcode.field], contents: region.bytes + [flags] + list)
    }

    private static let reservedField: UInt8 = 0x00
}
