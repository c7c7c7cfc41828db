/// An AML NameString (ACPI 6.5 §20.2.2): an optional root (`\`) or parent (`^`) prefix and a
/// path of 4-character NameSegs.
///
/// Written the way ASL spells it: `"\\_SB.PC00"`, `"^^LNKA"`, `"_S5"`. Segments shorter than
/// four characters are padded with `_`, as ASL does.
public struct AMLName: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// True when the path starts at the namespace root (`\`).
    public let isAbsolute: Bool
    /// How many scopes up (`^`) the path starts; 0 for absolute paths.
    public let parentPrefixes: Int
    /// The NameSegs, each exactly four characters.
    public let segments: [String]

    /// Parses an ASL name path; nil when it is not one (empty segment, more than four characters,
    /// a character outside `A–Z`, `0–9`, `_`, or a segment starting with a digit).
    public init?(path: String) {
        var rest = Substring(path)
        isAbsolute = rest.first == "\\"
        if isAbsolute { rest = rest.dropFirst() }
        let carets = rest.prefix { $0 == "^" }.count
        guard !(isAbsolute && carets > 0) else { return nil }
        parentPrefixes = carets
        rest = rest.dropFirst(carets)

        if rest.isEmpty {
            guard isAbsolute || carets > 0 else { return nil }
            segments = []
            return
        }
        var segments: [String] = []
        for part in rest.split(separator: ".", omittingEmptySubsequences: false) {
            guard let segment = AMLName.paddedSegment(part) else { return nil }
            segments.append(segment)
        }
        guard segments.count <= 255 else { return nil }
        self.segments = segments
    }

    /// A name written in the source; an invalid one is a programming error.
    public init(stringLiteral value: String) {
        guard let name = AMLName(path: value) else { preconditionFailure("invalid AML name \"\(value)\"") }
        self = name
    }

    /// The NameString's encoding: prefixes, then NullName, one NameSeg, DualNamePath or
    /// MultiNamePath.
    public var bytes: [UInt8] {
        var out: [UInt8] = isAbsolute ? [AMLName.rootChar] : Array(repeating: AMLName.parentPrefixChar, count: parentPrefixes)
        switch segments.count {
        case 0: out.append(AMLName.nullName)
        case 1: break
        case 2: out.append(AMLName.dualNamePrefix)
        default: out += [AMLName.multiNamePrefix, UInt8(segments.count)]
        }
        for segment in segments { out += Array(segment.utf8) }
        return out
    }

    /// The path as ASL writes it, with segments padded.
    public var description: String {
        (isAbsolute ? "\\" : String(repeating: "^", count: parentPrefixes)) + segments.joined(separator: ".")
    }

    /// True for a single NameSeg without prefixes, as field units and Create*Field names need.
    public var isSingleSegment: Bool { !isAbsolute && parentPrefixes == 0 && segments.count == 1 }

    static let rootChar: UInt8 = 0x5C
    static let parentPrefixChar: UInt8 = 0x5E
    static let dualNamePrefix: UInt8 = 0x2E
    static let multiNamePrefix: UInt8 = 0x2F
    static let nullName: UInt8 = 0x00

    private static func paddedSegment(_ part: Substring) -> String? {
        let chars = Array(part.utf8)
        guard (1...4).contains(chars.count), isLeadNameChar(chars[0]), chars.allSatisfy(isNameChar) else { return nil }
        return String(part) + String(repeating: "_", count: 4 - chars.count)
    }

    private static func isLeadNameChar(_ c: UInt8) -> Bool { c == UInt8(ascii: "_") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) }
    private static func isNameChar(_ c: UInt8) -> Bool { isLeadNameChar(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
}
