import KVM

/// What the emulator works on: a vCPU's registers, its guest-linear memory (through the guest's
/// page tables, raising #PF and #GP as the processor would), and its extended state.
///
/// The emulator reads ``registers`` and ``specialRegisters`` once and writes them back only when an
/// instruction completes, so an instruction that faults leaves them as they were. Its memory writes
/// are each checked in full before any byte is stored.
public protocol EmulationContext: AnyObject {
    var registers: Registers { get set }
    var specialRegisters: SpecialRegisters { get set }

    /// Reads `count` bytes at a guest linear address, translated for `access` at the current CPL.
    /// Throws ``EmulationError/exception(_:)`` with the #PF or #GP the access raises.
    func read(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) -> [UInt8]

    /// Translates the `count` bytes at a guest linear address for `access` without touching the data
    /// (CLFLUSH's and INVLPG's page-level checks): throws the fault the access would raise.
    func checkAccess(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError)

    /// Whether the `count` bytes at a guest linear address are guest RAM, going by the page tables
    /// without side effects (no Accessed bits, no faults: unmapped pages are not RAM).
    func isRAM(linear address: UInt64, count: Int) throws(EmulationError) -> Bool

    /// Writes `bytes` at a guest linear address once every page of the range translates for writing.
    func write(_ bytes: [UInt8], linear address: UInt64) throws(EmulationError)

    /// Replaces the 1, 2, 4, 8 or 16 bytes at a guest linear address with `desired` if they equal
    /// `expected`, atomically against other vCPUs when the operand is naturally aligned RAM (as a
    /// LOCK prefix makes it). The range must translate for writing even if the comparison fails.
    /// Returns nil when it exchanged, otherwise the bytes it found.
    func compareExchange(linear address: UInt64, expected: [UInt8], desired: [UInt8]) throws(EmulationError) -> [UInt8]?

    /// XCR `index`, or nil if the vCPU has no such register.
    func extendedControlRegister(_ index: UInt32) throws(EmulationError) -> UInt64?

    /// XSETBV: sets XCR `index`; returns false when the value is not allowed (#GP).
    func setExtendedControlRegister(_ index: UInt32, to value: UInt64) throws(EmulationError) -> Bool

    /// The XSAVE-managed state as a standard-format XSAVE image (see ``XSaveLayout``), with
    /// XSTATE_BV telling which components are in use.
    func extendedState() throws(EmulationError) -> [UInt8]

    /// Replaces the XSAVE-managed state with a standard-format image.
    func setExtendedState(_ image: [UInt8]) throws(EmulationError)

    /// Where each XSAVE component lives in the images of ``extendedState()``.
    var extendedStateLayout: XSaveLayout { get }

    /// The value MSR `index` reads as in the guest (IA32_TSC, IA32_TSC_AUX, IA32_XSS), or nil if
    /// the vCPU has no such MSR.
    func modelSpecificRegister(_ index: UInt32) throws(EmulationError) -> UInt64?

    /// Drops every cached guest translation (INVPCID's effect, made as wide as the host allows).
    func invalidateTranslations() throws(EmulationError)

    /// Ends NMI blocking, as IRET does.
    func endNMIBlocking() throws(EmulationError)
}
