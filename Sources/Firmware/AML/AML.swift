/// Encoded AML (ACPI 6.5 §20): one term — a data object, a named-object declaration, a
/// statement or an expression — or a few in sequence (`if(_:then:else:)` yields the If and the
/// Else).
///
/// Values build bottom-up and encode as they build, so every container knows its contents' size
/// and computes its PkgLength and element counts itself.
public struct AML: Sendable, Equatable, ExpressibleByIntegerLiteral {
    /// The encoded bytes.
    public let bytes: [UInt8]

    /// Wraps bytes that are already AML.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// An integer literal is an AML Integer in its shortest encoding.
    public init(integerLiteral value: UInt64) { self = .integer(value) }
}

/// Collects term lists for Scope, Device, Method, If and Else bodies.
@resultBuilder
public enum AMLBuilder {
    /// Each statement is one term; taking only `AML` lets `.name(…)`-style members resolve.
    public static func buildExpression(_ term: AML) -> [AML] { [term] }
    /// Statements in source order.
    public static func buildBlock(_ parts: [AML]...) -> [AML] { parts.flatMap { $0 } }
    /// A Swift `if` without `else` contributes nothing when false.
    public static func buildOptional(_ part: [AML]?) -> [AML] { part ?? [] }
    /// The taken branch of a Swift `if`/`else` or `switch`.
    public static func buildEither(first part: [AML]) -> [AML] { part }
    /// The taken branch of a Swift `if`/`else` or `switch`.
    public static func buildEither(second part: [AML]) -> [AML] { part }
    /// A Swift `for` loop's terms, iteration by iteration.
    public static func buildArray(_ parts: [[AML]]) -> [AML] { parts.flatMap { $0 } }
}

/// Opcodes (ACPI 6.5 §20.3).
enum AMLOpcode {
    static let zero: UInt8 = 0x00
    static let one: UInt8 = 0x01
    static let name: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0A
    static let wordPrefix: UInt8 = 0x0B
    static let dwordPrefix: UInt8 = 0x0C
    static let stringPrefix: UInt8 = 0x0D
    static let qwordPrefix: UInt8 = 0x0E
    static let scope: UInt8 = 0x10
    static let buffer: UInt8 = 0x11
    static let package: UInt8 = 0x12
    static let varPackage: UInt8 = 0x13
    static let method: UInt8 = 0x14
    static let extPrefix: UInt8 = 0x5B
    static let local0: UInt8 = 0x60
    static let arg0: UInt8 = 0x68
    static let store: UInt8 = 0x70
    static let add: UInt8 = 0x72
    static let subtract: UInt8 = 0x74
    static let increment: UInt8 = 0x75
    static let decrement: UInt8 = 0x76
    static let shiftLeft: UInt8 = 0x79
    static let shiftRight: UInt8 = 0x7A
    static let and: UInt8 = 0x7B
    static let or: UInt8 = 0x7D
    static let findSetRightBit: UInt8 = 0x82
    static let createDWordField: UInt8 = 0x8A
    static let createWordField: UInt8 = 0x8B
    static let createByteField: UInt8 = 0x8C
    static let createQWordField: UInt8 = 0x8F
    static let lAnd: UInt8 = 0x90
    static let lOr: UInt8 = 0x91
    static let lNot: UInt8 = 0x92
    static let lEqual: UInt8 = 0x93
    static let lGreater: UInt8 = 0x94
    static let lLess: UInt8 = 0x95
    static let `if`: UInt8 = 0xA0
    static let `else`: UInt8 = 0xA1
    static let `return`: UInt8 = 0xA4
    static let ones: UInt8 = 0xFF
    // Second bytes after extPrefix.
    static let opRegion: UInt8 = 0x80
    static let field: UInt8 = 0x81
    static let device: UInt8 = 0x82
}

// MARK: - Encoding primitives

extension AML {
    /// The largest length a PkgLength can express (28 bits).
    public static let maximumPackageLength = 0x0FFF_FFFF

    /// A PkgLength (§20.2.4) for a package whose contents after the PkgLength are
    /// `contentLength` bytes: the encoded length counts the PkgLength bytes too, so the form
    /// (1–4 bytes) is the shortest that can hold content plus itself.
    public static func packageLength(enclosing contentLength: Int) -> [UInt8] {
        for size in 1...4 {
            let total = contentLength + size
            if size == 1 ? total <= 0x3F : total < 1 << (4 + 8 * (size - 1)) {
                return encodedLength(total)
            }
        }
        preconditionFailure("AML package of \(contentLength) bytes exceeds the 28-bit PkgLength")
    }

    /// A bare length in PkgLength form, as field units spell their width in bits: one byte up to
    /// 63, else a lead byte holding the byte count and the low nibble, then the rest low first.
    public static func encodedLength(_ value: Int) -> [UInt8] {
        precondition((0...maximumPackageLength).contains(value), "PkgLength \(value) out of range")
        if value <= 0x3F { return [UInt8(value)] }
        let following = value < 1 << 12 ? 1 : value < 1 << 20 ? 2 : 3
        var out = [UInt8(following << 6) | UInt8(value & 0x0F)]
        for index in 0..<following { out.append(UInt8(truncatingIfNeeded: value >> (4 + 8 * index))) }
        return out
    }

    /// An opcode, a PkgLength and the contents it covers.
    static func package(opcode: [UInt8], contents: [UInt8]) -> AML {
        AML(bytes: opcode + packageLength(enclosing: contents.count) + contents)
    }

    static func joined(_ terms: [AML]) -> [UInt8] { terms.flatMap(\.bytes) }
}

// MARK: - Data objects

extension AML {
    /// An Integer in its shortest form: ZeroOp, OneOp, OnesOp, or Byte/Word/DWord/QWord prefix.
    public static func integer(_ value: UInt64) -> AML {
        switch value {
        case 0: AML(bytes: [AMLOpcode.zero])
        case 1: AML(bytes: [AMLOpcode.one])
        case .max: AML(bytes: [AMLOpcode.ones])
        case ...0xFF: AML(bytes: [AMLOpcode.bytePrefix, UInt8(value)])
        case ...0xFFFF: AML(bytes: [AMLOpcode.wordPrefix] + littleEndian(value, bytes: 2))
        case ...0xFFFF_FFFF: AML(bytes: [AMLOpcode.dwordPrefix] + littleEndian(value, bytes: 4))
        default: AML(bytes: [AMLOpcode.qwordPrefix] + littleEndian(value, bytes: 8))
        }
    }

    /// ZeroOp.
    public static let zero = AML(bytes: [AMLOpcode.zero])
    /// OneOp.
    public static let one = AML(bytes: [AMLOpcode.one])
    /// OnesOp: all bits set in the table's integer width (64 bits from revision 2).
    public static let ones = AML(bytes: [AMLOpcode.ones])

    /// An EISA id such as `PNP0A03`, compressed as ASL's `EisaId()` does: three letters in five
    /// bits each and four hex digits, stored big-endian, as a DWord.
    public static func eisaID(_ id: String) -> AML {
        let chars = Array(id.utf8)
        precondition(chars.count == 7, "EISA id \(id) is not three letters and four hex digits")
        var value: UInt32 = 0
        for letter in chars[0..<3] {
            precondition((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(letter), "EISA id \(id) needs capital letters")
            value = value << 5 | UInt32(letter - 0x40)
        }
        for digit in chars[3...] {
            guard let nibble = Int(String(UnicodeScalar(digit)), radix: 16) else { preconditionFailure("EISA id \(id) needs hex digits") }
            value = value << 4 | UInt32(nibble)
        }
        return AML(bytes: [AMLOpcode.dwordPrefix] + littleEndian(UInt64(value.byteSwapped), bytes: 4))
    }

    /// A String: ASCII characters 0x01–0x7F and a terminating NUL.
    public static func string(_ text: String) -> AML {
        let chars = Array(text.utf8)
        precondition(chars.allSatisfy { (0x01...0x7F).contains($0) }, "AML strings are ASCII without NUL")
        return AML(bytes: [AMLOpcode.stringPrefix] + chars + [0])
    }

    /// A Buffer initialised with `contents`; its size is the content's length.
    public static func buffer(_ contents: [UInt8]) -> AML {
        package(opcode: [AMLOpcode.buffer], contents: integer(UInt64(contents.count)).bytes + contents)
    }

    /// A Package of `elements` (integers, strings, buffers, packages or name references);
    /// a VarPackage when there are more than 255.
    public static func package(_ elements: [AML]) -> AML {
        if elements.count <= 0xFF {
            return package(opcode: [AMLOpcode.package], contents: [UInt8(elements.count)] + joined(elements))
        }
        return package(opcode: [AMLOpcode.varPackage], contents: integer(UInt64(elements.count)).bytes + joined(elements))
    }
}

// MARK: - Names, locals and arguments

extension AML {
    /// A reference to a named object (or a call of a method without arguments).
    public static func path(_ name: AMLName) -> AML { AML(bytes: name.bytes) }

    /// A call of the method `name` with `arguments`.
    public static func call(_ name: AMLName, _ arguments: AML...) -> AML {
        AML(bytes: name.bytes + joined(arguments))
    }

    /// LocalN, N in 0...7.
    public static func local(_ index: Int) -> AML {
        precondition((0...7).contains(index), "Local\(index) does not exist")
        return AML(bytes: [AMLOpcode.local0 + UInt8(index)])
    }

    /// ArgN, N in 0...6.
    public static func arg(_ index: Int) -> AML {
        precondition((0...6).contains(index), "Arg\(index) does not exist")
        return AML(bytes: [AMLOpcode.arg0 + UInt8(index)])
    }

    /// The NullName target: the result is not stored.
    public static let noTarget = AML(bytes: [AMLName.nullName])
}

// MARK: - Named objects

extension AML {
    /// `Name (name, value)`.
    public static func name(_ name: AMLName, _ value: AML) -> AML {
        AML(bytes: [AMLOpcode.name] + name.bytes + value.bytes)
    }

    /// `Scope (name) { … }`.
    public static func scope(_ name: AMLName, @AMLBuilder _ body: () -> [AML]) -> AML {
        package(opcode: [AMLOpcode.scope], contents: name.bytes + joined(body()))
    }

    /// `Device (name) { … }`.
    public static func device(_ name: AMLName, @AMLBuilder _ body: () -> [AML]) -> AML {
        package(opcode: [AMLOpcode.extPrefix, AMLOpcode.device], contents: name.bytes + joined(body()))
    }

    /// `Method (name, arguments, Serialized/NotSerialized, syncLevel) { … }`.
    public static func method(_ name: AMLName, arguments: Int = 0, serialized: Bool = false, syncLevel: Int = 0,
                              @AMLBuilder _ body: () -> [AML]) -> AML {
        precondition((0...7).contains(arguments) && (0...15).contains(syncLevel), "invalid method flags")
        let flags = UInt8(arguments) | (serialized ? 0x08 : 0) | UInt8(syncLevel) << 4
        return package(opcode: [AMLOpcode.method], contents: name.bytes + [flags] + joined(body()))
    }

    /// `CreateByteField (buffer, byteIndex, name)`.
    public static func createByteField(_ buffer: AML, byteIndex: AML, _ name: AMLName) -> AML {
        createField(AMLOpcode.createByteField, buffer, byteIndex, name)
    }

    /// `CreateWordField (buffer, byteIndex, name)`.
    public static func createWordField(_ buffer: AML, byteIndex: AML, _ name: AMLName) -> AML {
        createField(AMLOpcode.createWordField, buffer, byteIndex, name)
    }

    /// `CreateDWordField (buffer, byteIndex, name)`.
    public static func createDWordField(_ buffer: AML, byteIndex: AML, _ name: AMLName) -> AML {
        createField(AMLOpcode.createDWordField, buffer, byteIndex, name)
    }

    /// `CreateQWordField (buffer, byteIndex, name)`.
    public static func createQWordField(_ buffer: AML, byteIndex: AML, _ name: AMLName) -> AML {
        createField(AMLOpcode.createQWordField, buffer, byteIndex, name)
    }

    private static func createField(_ opcode: UInt8, _ buffer: AML, _ index: AML, _ name: AMLName) -> AML {
        precondition(name.isSingleSegment, "a buffer field's name is one NameSeg")
        return AML(bytes: [opcode] + buffer.bytes + index.bytes + name.bytes)
    }
}

// MARK: - Statements

extension AML {
    /// `Return (value)`.
    public static func `return`(_ value: AML) -> AML { AML(bytes: [AMLOpcode.return] + value.bytes) }

    /// `Store (value, target)`.
    public static func store(_ value: AML, into target: AML) -> AML {
        AML(bytes: [AMLOpcode.store] + value.bytes + target.bytes)
    }

    /// `If (predicate) { … }`.
    public static func `if`(_ predicate: AML, @AMLBuilder then body: () -> [AML]) -> AML {
        package(opcode: [AMLOpcode.if], contents: predicate.bytes + joined(body()))
    }

    /// `If (predicate) { … } Else { … }`: the If followed by its Else.
    public static func `if`(_ predicate: AML, @AMLBuilder then body: () -> [AML],
                            @AMLBuilder else elseBody: () -> [AML]) -> AML {
        AML(bytes: `if`(predicate, then: body).bytes + package(opcode: [AMLOpcode.else], contents: joined(elseBody())).bytes)
    }
}

// MARK: - Expressions

extension AML {
    /// `LAnd (a, b)`.
    public static func lAnd(_ a: AML, _ b: AML) -> AML { AML(bytes: [AMLOpcode.lAnd] + a.bytes + b.bytes) }
    /// `LOr (a, b)`.
    public static func lOr(_ a: AML, _ b: AML) -> AML { AML(bytes: [AMLOpcode.lOr] + a.bytes + b.bytes) }
    /// `LNot (a)`.
    public static func lNot(_ a: AML) -> AML { AML(bytes: [AMLOpcode.lNot] + a.bytes) }
    /// `LEqual (a, b)`.
    public static func lEqual(_ a: AML, _ b: AML) -> AML { AML(bytes: [AMLOpcode.lEqual] + a.bytes + b.bytes) }
    /// `LGreater (a, b)`.
    public static func lGreater(_ a: AML, _ b: AML) -> AML { AML(bytes: [AMLOpcode.lGreater] + a.bytes + b.bytes) }
    /// `LLess (a, b)`.
    public static func lLess(_ a: AML, _ b: AML) -> AML { AML(bytes: [AMLOpcode.lLess] + a.bytes + b.bytes) }

    /// `Add (a, b, target)`.
    public static func add(_ a: AML, _ b: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.add] + a.bytes + b.bytes + target.bytes)
    }
    /// `Subtract (a, b, target)`.
    public static func subtract(_ a: AML, _ b: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.subtract] + a.bytes + b.bytes + target.bytes)
    }
    /// `And (a, b, target)`.
    public static func and(_ a: AML, _ b: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.and] + a.bytes + b.bytes + target.bytes)
    }
    /// `Or (a, b, target)`.
    public static func or(_ a: AML, _ b: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.or] + a.bytes + b.bytes + target.bytes)
    }
    /// `ShiftLeft (value, count, target)`.
    public static func shiftLeft(_ value: AML, by count: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.shiftLeft] + value.bytes + count.bytes + target.bytes)
    }
    /// `ShiftRight (value, count, target)`.
    public static func shiftRight(_ value: AML, by count: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.shiftRight] + value.bytes + count.bytes + target.bytes)
    }
    /// `FindSetRightBit (value, target)`: the 1-based index of the lowest set bit, 0 if none.
    public static func findSetRightBit(_ value: AML, into target: AML = .noTarget) -> AML {
        AML(bytes: [AMLOpcode.findSetRightBit] + value.bytes + target.bytes)
    }
    /// `Increment (object)`.
    public static func increment(_ object: AML) -> AML { AML(bytes: [AMLOpcode.increment] + object.bytes) }
    /// `Decrement (object)`.
    public static func decrement(_ object: AML) -> AML { AML(bytes: [AMLOpcode.decrement] + object.bytes) }
}

extension AML {
    static func littleEndian(_ value: UInt64, bytes count: Int) -> [UInt8] {
        Array(value.littleEndianBytes.prefix(count))
    }
}
