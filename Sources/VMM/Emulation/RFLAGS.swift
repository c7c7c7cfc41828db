/// RFLAGS bits the emulator reads or writes.
public enum RFLAGS {
    public static let carry: UInt64 = 1 << 0
    /// Bit 1 reads as 1.
    public static let fixed: UInt64 = 1 << 1
    public static let parity: UInt64 = 1 << 2
    public static let adjust: UInt64 = 1 << 4
    public static let zero: UInt64 = 1 << 6
    public static let sign: UInt64 = 1 << 7
    public static let trap: UInt64 = 1 << 8
    public static let interrupt: UInt64 = 1 << 9
    public static let direction: UInt64 = 1 << 10
    public static let overflow: UInt64 = 1 << 11
    public static let ioPrivilegeLevel: UInt64 = 3 << 12
    public static let nestedTask: UInt64 = 1 << 14
    public static let resume: UInt64 = 1 << 16
    public static let virtual8086: UInt64 = 1 << 17
    public static let alignmentCheck: UInt64 = 1 << 18
    public static let virtualInterrupt: UInt64 = 1 << 19
    public static let virtualInterruptPending: UInt64 = 1 << 20
    public static let identification: UInt64 = 1 << 21
    /// CF, PF, AF, ZF, SF and OF: what arithmetic sets.
    public static let status: UInt64 = carry | parity | adjust | zero | sign | overflow
}
