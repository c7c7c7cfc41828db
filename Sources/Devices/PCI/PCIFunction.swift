/// A PCI interrupt pin.
public enum PCIInterruptPin: Int, Sendable, CaseIterable, Comparable {
    case intA = 0, intB, intC, intD

    /// The Interrupt Pin register's encoding: 1 for INTA … 4 for INTD.
    public var register: UInt8 { UInt8(rawValue + 1) }

    public static func < (lhs: PCIInterruptPin, rhs: PCIInterruptPin) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A device model behind one PCI function, bhyve's `pci_devemu`. The generic part of the
/// function — configuration space semantics, BAR decoding, MSI, MSI-X and INTx — lives in its
/// ``pci`` state; the model supplies what is specific to it.
///
/// All methods may be called from several vCPU threads at once.
public protocol PCIFunction: AnyObject, Sendable {
    /// The function's configuration space, BARs and interrupt state.
    var pci: PCIFunctionState { get }

    /// Reads `size` (1, 2 or 4) bytes at `offset` of BAR `bar`; the access lies inside the BAR and
    /// outside any MSI-X table or PBA there. An 8-byte MMIO access arrives as two 4-byte ones.
    func barRead(bar: Int, offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset` of BAR `bar`, under the same rules.
    func barWrite(bar: Int, offset: UInt64, size: Int, value: UInt64)

    /// Lets the model answer a configuration read itself (bhyve's `pe_cfgread`); nil lets the
    /// configuration space answer. `offset` is aligned to `size`.
    func configRead(offset: Int, size: Int) -> UInt32?
    /// Lets the model take a configuration write itself (bhyve's `pe_cfgwrite`); false lets the
    /// configuration space take it.
    func configWrite(offset: Int, size: Int, value: UInt32) -> Bool

    /// Puts the model's own state back to power-on; the bus resets the generic state.
    func reset()
}

extension PCIFunction {
    public func barRead(bar: Int, offset: UInt64, size: Int) -> UInt64 { UInt64.max }
    public func barWrite(bar: Int, offset: UInt64, size: Int, value: UInt64) {}
    public func configRead(offset: Int, size: Int) -> UInt32? { nil }
    public func configWrite(offset: Int, size: Int, value: UInt32) -> Bool { false }
    public func reset() {}
}
