/// Control-register bits the emulator checks.
enum ControlRegister {
    static let cr0MP: UInt64 = 1 << 1
    static let cr0EM: UInt64 = 1 << 2
    static let cr0TS: UInt64 = 1 << 3
    static let cr0AM: UInt64 = 1 << 18
    static let cr4TSD: UInt64 = 1 << 2
    static let cr4OSFXSR: UInt64 = 1 << 9
    static let cr4OSXMMEXCPT: UInt64 = 1 << 10
    static let cr4PCIDE: UInt64 = 1 << 17
    static let cr4OSXSAVE: UInt64 = 1 << 18
    static let cr4SMAP: UInt64 = 1 << 21
}
