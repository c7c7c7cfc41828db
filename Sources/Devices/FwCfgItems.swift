/// What an ``FwCfg`` device serves: numbered items (QEMU's fixed keys such as
/// ``FwCfg/Key/cpuCount``) and named files, fixed before the device is made. The signature, the
/// ID and the file directory are derived from them.
public struct FwCfgItems: Sendable, Equatable {
    /// A named file and the selector that reads it.
    public struct File: Sendable, Equatable {
        public let name: String
        public let selector: UInt16
        public let bytes: [UInt8]
    }

    /// Why a file cannot be added.
    public enum FileError: Error, Equatable, Sendable, CustomStringConvertible {
        case emptyName
        case nameTooLong(String)
        case duplicate(String)
        case tooLarge(String, size: Int)
        case tooManyFiles

        public var description: String {
            switch self {
            case .emptyName: "a fw_cfg file needs a name"
            case .nameTooLong(let name):
                "fw_cfg file name '\(name)' is too long (at most \(FwCfgItems.maxNameLength - 1) bytes)"
            case .duplicate(let name): "fw_cfg file '\(name)' is given twice"
            case .tooLarge(let name, let size): "fw_cfg file '\(name)' (\(size) bytes) is larger than 4 GiB"
            case .tooManyFiles: "too many fw_cfg files"
            }
        }
    }

    /// Room for a file name in a directory entry, including its terminating NUL.
    public static let maxNameLength = 56
    /// Bytes per directory entry: size, selector, reserved, name.
    public static let directoryEntrySize = 64
    /// The signature item's content.
    public static let signature = Array("QEMU".utf8)
    /// Selectors keep 14 bits of index.
    static let lastSelector: UInt16 = 0x3FFF

    /// Items by selector, without the derived ones.
    public private(set) var values: [UInt16: [UInt8]] = [:]
    /// Files in the order they were added, which is also the order of their selectors.
    public private(set) var files: [File] = []

    public init() {}

    /// Sets item `key`, one of QEMU's fixed keys below ``FwCfg/Key/firstFile`` other than the
    /// derived signature, ID and directory.
    public mutating func set(_ key: UInt16, _ bytes: [UInt8]) {
        precondition(key < FwCfg.Key.firstFile && ![FwCfg.Key.signature, FwCfg.Key.id, FwCfg.Key.fileDirectory].contains(key),
                     "fw_cfg key 0x\(String(key, radix: 16)) is not a settable fixed key")
        values[key] = bytes
    }

    /// Sets item `key` to `value`'s little-endian bytes.
    public mutating func set<T: FixedWidthInteger>(_ key: UInt16, littleEndian value: T) {
        set(key, withUnsafeBytes(of: value.littleEndian, Array.init))
    }

    /// Adds a file and returns its selector. Names are compared byte for byte, as QEMU's `strcmp`.
    @discardableResult
    public mutating func addFile(_ name: String, _ bytes: [UInt8]) throws(FileError) -> UInt16 {
        guard !name.isEmpty else { throw .emptyName }
        guard name.utf8.count < Self.maxNameLength else { throw .nameTooLong(name) }
        guard !files.contains(where: { $0.name == name }) else { throw .duplicate(name) }
        guard bytes.count <= Int(UInt32.max) else { throw .tooLarge(name, size: bytes.count) }
        guard files.count <= Int(Self.lastSelector - FwCfg.Key.firstFile) else { throw .tooManyFiles }
        let selector = FwCfg.Key.firstFile + UInt16(files.count)
        files.append(File(name: name, selector: selector, bytes: bytes))
        return selector
    }

    /// The file directory item: a big-endian count, then one entry per file sorted by name
    /// (big-endian size, big-endian selector, two reserved bytes, the NUL-padded name).
    public var directory: [UInt8] {
        var bytes = UInt32(files.count).bigEndianBytes
        for file in files.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            bytes += UInt32(file.bytes.count).bigEndianBytes + file.selector.bigEndianBytes + [0, 0]
            bytes += Array(file.name.utf8) + [UInt8](repeating: 0, count: Self.maxNameLength - file.name.utf8.count)
        }
        return bytes
    }

    /// Every item by selector, derived ones included.
    func table(dma: Bool) -> [UInt16: [UInt8]] {
        var table = values
        table[FwCfg.Key.signature] = Self.signature
        table[FwCfg.Key.id] = (FwCfg.idTraditional | (dma ? FwCfg.idDMA : 0)).littleEndianBytes
        table[FwCfg.Key.fileDirectory] = directory
        for file in files { table[file.selector] = file.bytes }
        return table
    }
}

extension FixedWidthInteger {
    fileprivate var bigEndianBytes: [UInt8] { withUnsafeBytes(of: bigEndian, Array.init) }
    fileprivate var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian, Array.init) }
}
