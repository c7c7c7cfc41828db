import KVM

/// A segment register, numbered as the ModRM reg field and the Sreg encodings number them.
public enum SegmentRegister: Int, Sendable, CaseIterable, CustomStringConvertible {
    case es = 0, cs, ss, ds, fs, gs

    /// The segment register a prefix byte (26, 2E, 36, 3E, 64, 65) overrides to.
    init?(prefix: UInt8) {
        switch prefix {
        case 0x26: self = .es
        case 0x2E: self = .cs
        case 0x36: self = .ss
        case 0x3E: self = .ds
        case 0x64: self = .fs
        case 0x65: self = .gs
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .es: "es"
        case .cs: "cs"
        case .ss: "ss"
        case .ds: "ds"
        case .fs: "fs"
        case .gs: "gs"
        }
    }
}

extension SpecialRegisters {
    /// The descriptor cache of segment register `register`.
    public subscript(segment register: SegmentRegister) -> Segment {
        get {
            switch register {
            case .es: es
            case .cs: cs
            case .ss: ss
            case .ds: ds
            case .fs: fs
            case .gs: gs
            }
        }
        set {
            switch register {
            case .es: es = newValue
            case .cs: cs = newValue
            case .ss: ss = newValue
            case .ds: ds = newValue
            case .fs: fs = newValue
            case .gs: gs = newValue
            }
        }
    }
}
