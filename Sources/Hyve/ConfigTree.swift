/// bhyve's configuration tree (`config.c`, bhyve_config(5)): string variables named by dotted
/// paths such as `pci.0.31.0.device`, set by `-k FILE` lines and `-o KEY=VALUE` options, a later
/// setting replacing an earlier one. A path names either a variable or a node with variables
/// below it, never both.
///
/// Reading a value expands bhyve's references: `%(path)` becomes that variable's (expanded)
/// value, and `\` takes the next character literally. A `%` not followed by `(…)` stays as it is.
public struct ConfigTree: Sendable, Equatable {
    /// Where a variable was set, for error messages.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        /// Line `line` (from 1) of the file at `path` (`-k`).
        case file(String, line: Int)
        /// A `-o` option.
        case option

        public var description: String {
            switch self {
            case .file(let path, let line): "\(path) line \(line)"
            case .option: "-o"
            }
        }
    }

    /// A variable's raw value and where it was set.
    public struct Setting: Sendable, Equatable {
        public var value: String
        public var origin: Origin
    }

    /// Nesting limit for `%(path)` references, as bhyve's.
    static let maxReferenceDepth = 16

    /// Every variable by path.
    public private(set) var settings: [String: Setting] = [:]

    public init() {}

    /// The files in order (`-k`), then the options in order (`-o`), which therefore win.
    public init(files: [String], options: [String]) throws(HyveError) {
        for path in files { try load(file: path) }
        for option in options { try parse(option, origin: .option) }
    }

    /// All variable paths, sorted.
    public var paths: [String] { settings.keys.sorted() }

    /// Sets variable `path`. Fails if `path` is malformed, lies below a variable, or is a node.
    public mutating func set(_ path: String, _ value: String, origin: Origin) throws(HyveError) {
        let components = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !path.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.contains(where: \.isWhitespace) }) else {
            throw HyveError("\(origin): invalid configuration variable name '\(path)'")
        }
        for end in 1..<components.count {
            let parent = components[..<end].joined(separator: ".")
            if settings[parent] != nil {
                throw HyveError("\(origin): '\(path)' cannot be set below the variable '\(parent)' (\(settings[parent]!.origin))")
            }
        }
        if settings[path] == nil, let child = settings.keys.first(where: { $0.hasPrefix(path + ".") }) {
            throw HyveError("\(origin): '\(path)' is a node holding '\(child)' (\(settings[child]!.origin)), not a variable")
        }
        settings[path] = Setting(value: value, origin: origin)
    }

    /// Removes variable `path`, if set.
    public mutating func remove(_ path: String) {
        settings[path] = nil
    }

    /// Applies one `KEY=VALUE` setting, as bhyve's `-o`: the value is everything after the first
    /// `=` and may not be empty; spaces around the key are ignored.
    public mutating func parse(_ text: String, origin: Origin) throws(HyveError) {
        guard let equals = text.firstIndex(of: "="), text.index(after: equals) != text.endIndex else {
            throw HyveError("\(origin): invalid setting '\(text)' (expected KEY=VALUE)")
        }
        try set(text[..<equals].trimmingSpaces, String(text[text.index(after: equals)...]), origin: origin)
    }

    /// Applies the lines of a `-k` file read from `path`: `KEY=VALUE` settings, blank lines, and
    /// comments from a `#` at the start of a line.
    public mutating func parse(contents: String, path: String) throws(HyveError) {
        for (index, line) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            try parse(String(line.drop(while: \.isWhitespace)), origin: .file(path, line: index + 1))
        }
    }

    /// Reads and applies the `-k` file at `path`.
    public mutating func load(file path: String) throws(HyveError) {
        let bytes = try FileReader.read(path, what: "configuration file", limit: .max)
        try parse(contents: String(decoding: bytes, as: UTF8.self), path: path)
    }

    /// The expanded value of variable `path`, or nil when it is not set.
    public func value(_ path: String) throws(HyveError) -> String? {
        guard let setting = settings[path] else { return nil }
        return try expand(setting.value, in: path, depth: 0)
    }

    /// Where variable `path` was set.
    public func origin(_ path: String) -> Origin? {
        settings[path]?.origin
    }

    private func expand(_ value: String, in path: String, depth: Int) throws(HyveError) -> String {
        guard value.contains(where: { $0 == "%" || $0 == "\\" }) else { return value }
        var result = ""
        var rest = Substring(value)
        while let character = rest.first {
            rest = rest.dropFirst()
            if character == "\\" {
                if let next = rest.first {
                    result.append(next)
                    rest = rest.dropFirst()
                }
                continue
            }
            guard character == "%", rest.first == "(", let close = rest.firstIndex(of: ")"),
                  rest.index(after: rest.startIndex) != close else {
                result.append(character)
                continue
            }
            let reference = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            guard depth < Self.maxReferenceDepth else {
                throw HyveError("\(settings[path]!.origin): too many nested references in '\(path)'")
            }
            guard let referenced = settings[reference] else {
                throw HyveError("\(settings[path]!.origin): '\(path)' refers to '\(reference)', which is not set")
            }
            result += try expand(referenced.value, in: reference, depth: depth + 1)
        }
        return result
    }
}
