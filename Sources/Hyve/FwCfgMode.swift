/// What sits at ports 0x510–0x51B (bhyve's `lpc.fwcfg`).
///
/// bhyve's default, `bhyve`, is its own fwctl interface, which it sets up only for a boot ROM;
/// Hyve has no boot ROM and no fwctl, so it reads `bhyve` as `none`.
public enum FwCfgMode: String, Sendable, CaseIterable {
    /// Nothing: the ports are unclaimed.
    case none
    /// QEMU's fw_cfg (`Devices.FwCfg`).
    case qemu
}
