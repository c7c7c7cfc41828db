/// The Generic Address Structure (ACPI 6.5 §5.2.3.2): 12 bytes saying in which address space a
/// register block lives, how wide it is and how it must be accessed.
struct ACPIGenericAddress: Equatable {
    enum Space: UInt8 {
        case systemMemory = 0
        case systemIO = 1
    }

    /// Access sizes; `undefined` also marks an absent block and a legacy (unspecified) access.
    enum AccessSize: UInt8 {
        case undefined = 0
        case byte = 1
        case word = 2
        case dword = 3
        case qword = 4
    }

    static let size = 12

    /// An all-zero structure: the register block is not implemented.
    static let absent = ACPIGenericAddress(space: .systemMemory, bitWidth: 0, accessSize: .undefined, address: 0)

    var space: Space
    var bitWidth: UInt8
    var bitOffset: UInt8 = 0
    var accessSize: AccessSize
    var address: UInt64

    init(space: Space, bitWidth: UInt8, accessSize: AccessSize, address: UInt64) {
        self.space = space
        self.bitWidth = bitWidth
        self.accessSize = accessSize
        self.address = address
    }

    static func io(_ port: UInt16, bits: UInt8, access: AccessSize) -> ACPIGenericAddress {
        ACPIGenericAddress(space: .systemIO, bitWidth: bits, accessSize: access, address: UInt64(port))
    }
}
