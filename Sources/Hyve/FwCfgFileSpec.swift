import Devices

/// bhyve's `-f [name=]NAME,string=VALUE|file=PATH`: a file the guest reads through fw_cfg. Names
/// are conventionally `opt/DOMAIN/NAME`; a string is stored with its terminating NUL, as bhyve does.
public struct FwCfgFileSpec: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case string(String)
        /// A host file, read when the machine is built.
        case file(String)
    }

    public var name: String
    public var content: Content

    public init(name: String, content: Content) {
        self.name = name
        self.content = content
    }

    /// Parses one `-f` option.
    public static func parse(_ text: String) throws(HyveError) -> FwCfgFileSpec {
        let body = text.hasPrefix("name=") ? text.dropFirst("name=".count) : Substring(text)
        guard let comma = body.firstIndex(of: ","), comma != body.startIndex else {
            throw HyveError("invalid fw_cfg file '\(text)' (expected NAME,string=VALUE or NAME,file=PATH)")
        }
        let name = String(body[..<comma])
        guard name.utf8.count < FwCfgItems.maxNameLength else {
            throw HyveError(FwCfgItems.FileError.nameTooLong(name).description)
        }
        let value = body[body.index(after: comma)...]
        if value.hasPrefix("string=") {
            return FwCfgFileSpec(name: name, content: .string(String(value.dropFirst("string=".count))))
        }
        if value.hasPrefix("file="), value.count > "file=".count {
            return FwCfgFileSpec(name: name, content: .file(String(value.dropFirst("file=".count))))
        }
        throw HyveError("invalid fw_cfg file '\(text)' (expected NAME,string=VALUE or NAME,file=PATH)")
    }

    /// Parses every `-f` option over files already configured: an option replaces the file of the
    /// same name; the same name twice among `texts` is an error.
    public static func parse(_ texts: [String], over base: [FwCfgFileSpec] = []) throws(HyveError) -> [FwCfgFileSpec] {
        var parsed: [FwCfgFileSpec] = []
        for text in texts {
            let spec = try parse(text)
            guard !parsed.contains(where: { $0.name == spec.name }) else {
                throw HyveError(FwCfgItems.FileError.duplicate(spec.name).description)
            }
            parsed.append(spec)
        }
        return base.filter { file in !parsed.contains { $0.name == file.name } } + parsed
    }

    /// What the guest reads: the string and a NUL, or the file's bytes.
    func bytes(limit: UInt64) throws(HyveError) -> [UInt8] {
        switch content {
        case .string(let string): Array(string.utf8) + [0]
        case .file(let path): try FileReader.read(path, what: "fw_cfg file", limit: limit)
        }
    }
}
