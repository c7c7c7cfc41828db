/// bhyve's `hostbridge` and `amd_hostbridge` (`pci_hostbridge.c`): a host bridge at slot 0 with
/// no BARs and no interrupt, carrying a PCI Express root port capability as bhyve's does.
public final class PCIHostBridge: PCIFunction {
    /// bhyve's default IDs (NetApp).
    public static let defaultVendorID: UInt16 = 0x1275
    public static let defaultDeviceID: UInt16 = 0x1275
    /// `amd_hostbridge`: AMD's vendor ID with the device ID bhyve made up.
    public static let amdVendorID: UInt16 = 0x1022
    public static let amdDeviceID: UInt16 = 0x7432
    /// Base class bridge, subclass host bridge.
    public static let classCode: UInt32 = 0x06_00_00

    public let pci: PCIFunctionState

    /// A host bridge with the given IDs (bhyve's `pcireg.vendor` and `pcireg.device`).
    public init(vendorID: UInt16 = defaultVendorID, deviceID: UInt16 = defaultDeviceID) {
        pci = PCIFunctionState(identity: PCIIdentity(vendorID: vendorID, deviceID: deviceID, classCode: Self.classCode),
                               capabilities: [.pciExpress(.rootPort)])
    }

    /// bhyve's `amd_hostbridge`.
    public static func amd() -> PCIHostBridge {
        PCIHostBridge(vendorID: amdVendorID, deviceID: amdDeviceID)
    }
}
