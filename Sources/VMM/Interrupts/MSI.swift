/// A message-signalled interrupt: the address and data a device (or the I/O APIC, or the HPET's
/// FSB route) writes to the local APICs, as the Intel SDM (vol. 3, 11.11) lays them out.
public struct MSIMessage: Sendable, Equatable, CustomStringConvertible {
    /// The local APIC's message window; every MSI address lies in it.
    public static let addressBase: UInt64 = 0xFEE0_0000

    public var address: UInt64
    public var data: UInt32

    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }

    /// The interrupt's delivery mode (data bits 8–10).
    public enum DeliveryMode: UInt8, Sendable {
        case fixed = 0, lowestPriority = 1, smi = 2, nmi = 4, initialize = 5, startup = 6, extINT = 7
        case reserved = 3
    }

    /// Builds a message from its fields.
    public init(vector: UInt8, deliveryMode: DeliveryMode = .fixed, levelTriggered: Bool = false,
                destination: UInt8, logical: Bool = false, redirectionHint: Bool = false) {
        var address = Self.addressBase | UInt64(destination) << 12
        if redirectionHint { address |= 1 << 3 }
        if logical { address |= 1 << 2 }
        var data = UInt32(vector) | UInt32(deliveryMode.rawValue) << 8
        if levelTriggered { data |= 1 << 15 | 1 << 14 }
        self.init(address: address, data: data)
    }

    public var vector: UInt8 { UInt8(truncatingIfNeeded: data) }
    public var deliveryMode: DeliveryMode { DeliveryMode(rawValue: UInt8((data >> 8) & 7)) ?? .reserved }
    public var levelTriggered: Bool { data & (1 << 15) != 0 }
    /// The 8-bit xAPIC destination (address bits 12–19).
    public var destination: UInt8 { UInt8(truncatingIfNeeded: address >> 12) }
    /// Destination mode: logical (true) or physical.
    public var logicalDestination: Bool { address & (1 << 2) != 0 }
    /// Redirection hint: deliver to one of the destination's processors only (lowest priority).
    public var redirectionHint: Bool { address & (1 << 3) != 0 }
    /// Whether the address lies in the local APIC's message window at all.
    public var isWellFormed: Bool { address & 0xFFF0_0000 == Self.addressBase }

    /// Whether a local APIC with physical id `apicID` and logical id `logicalID` (its LDR's top
    /// byte) is among the destinations; `clusterModel` is the DFR model (flat when false).
    public func targets(apicID: UInt8, logicalID: UInt8, clusterModel: Bool) -> Bool {
        Self.matches(destination: destination, logical: logicalDestination,
                     apicID: apicID, logicalID: logicalID, clusterModel: clusterModel)
    }

    /// xAPIC destination matching (SDM 11.6.2): physical id or broadcast 0xFF; logical flat as a
    /// bit mask; logical cluster as a 4-bit cluster and a 4-bit member mask (cluster 0xF broadcasts).
    public static func matches(destination: UInt8, logical: Bool, apicID: UInt8, logicalID: UInt8,
                               clusterModel: Bool) -> Bool {
        guard logical else { return destination == 0xFF || destination == apicID }
        guard clusterModel else { return destination & logicalID != 0 }
        let cluster = destination >> 4
        let members = destination & 0xF
        return (cluster == 0xF || cluster == logicalID >> 4) && members & logicalID & 0xF != 0
    }

    public var description: String {
        "MSI(address 0x\(String(address, radix: 16)), data 0x\(String(data, radix: 16)))"
    }
}
