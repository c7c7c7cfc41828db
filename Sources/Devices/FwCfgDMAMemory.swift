import VMM

/// Guest physical memory as the fw_cfg DMA interface reaches it. Every method checks its whole
/// range and throws if any byte is not guest RAM, so a guest-chosen address never reaches other
/// host memory; a unit test can supply a small synthetic memory instead of a VM's.
public protocol FwCfgDMAMemory: Sendable {
    /// The `count` bytes at `address`.
    func read(_ address: UInt64, count: Int) throws -> [UInt8]
    /// Stores `bytes` at `address`.
    func write(_ bytes: [UInt8], at address: UInt64) throws
    /// Sets `count` bytes at `address` to `value`.
    func fill(_ value: UInt8, at address: UInt64, count: UInt64) throws
}

extension GuestMemory: FwCfgDMAMemory {}
