/// The device/port type field of the PCI Express capability.
public enum PCIExpressPortType: UInt16, Sendable {
    case endpoint = 0x0
    case legacyEndpoint = 0x1
    case rootPort = 0x4
    case rootComplexIntegratedEndpoint = 0x9
}

/// The PCI Express capability (version 2, 60 bytes) bhyve's `pci_emul_add_pciecap` builds. As in
/// bhyve, an endpoint on bus 0 — the root complex's own bus — is a root-complex integrated endpoint,
/// which has no link; other types report a Gen1 x1 link.
///
/// bhyve lets the guest write anything in the capability; here Device Control and Link Control
/// take the bits the specification defines as read-write and everything else is read-only.
enum PCIExpressCapability {
    static let id: UInt8 = 0x10
    static let length = 60
    static let version: UInt16 = 0x2

    static let capabilitiesOffset = 2
    static let deviceControlOffset = 8
    static let linkCapabilitiesOffset = 12
    static let linkControlOffset = 16
    static let linkStatusOffset = 18

    /// Gen1 (2.5 GT/s), x1, as capability and as negotiated status.
    static let linkCapabilities: UInt32 = 0x411
    static let linkStatus: UInt32 = 0x11

    /// Error reporting enables, relaxed ordering, max payload, extended tag, phantom functions,
    /// aux power, no snoop and max read request size.
    static let deviceControlWritable: UInt32 = 0x7FFF
    /// ASPM control, read completion boundary, common clock and extended synch.
    static let linkControlWritable: UInt32 = 0x00CB

    /// Adds the capability; false when there is no room left.
    static func install(in config: inout PCIConfigSpace, type: PCIExpressPortType) -> Bool {
        let type = type == .endpoint ? .rootComplexIntegratedEndpoint : type
        guard let offset = config.addCapability(id: id, length: length) else { return false }
        config.set(offset + capabilitiesOffset, size: 2, value: UInt32(version | type.rawValue << 4))
        config.setWritable(offset + deviceControlOffset, size: 2, mask: deviceControlWritable)
        if type != .rootComplexIntegratedEndpoint {
            config.set(offset + linkCapabilitiesOffset, size: 4, value: linkCapabilities)
            config.set(offset + linkStatusOffset, size: 2, value: linkStatus)
            config.setWritable(offset + linkControlOffset, size: 2, mask: linkControlWritable)
        }
        return true
    }
}
