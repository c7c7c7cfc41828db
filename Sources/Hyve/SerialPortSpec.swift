import Devices

/// bhyve's `-l comN,backend` LPC option for the 16550 UARTs.
public struct SerialPortSpec: Sendable, Equatable {
    /// Where a UART's bytes go.
    public enum Backend: Sendable, Equatable {
        /// The terminal `hyve` runs on (raw mode while the VM runs).
        case stdio
        /// Output appended to a file; no input.
        case file(String)
        /// A Unix socket `hyve` listens on, one client at a time.
        case socket(String)
    }

    /// 1–4.
    public var port: Int
    public var backend: Backend

    public init(port: Int, backend: Backend) {
        self.port = port
        self.backend = backend
    }

    /// The name bhyve and the ACPI tables use ("COM1").
    public var name: String { "COM\(port)" }

    /// Parses `com1,stdio`, `com2,file=PATH` or `com1,socket=PATH`.
    public static func parse(_ text: String) throws(HyveError) -> SerialPortSpec {
        let parts = text.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
        let device = parts[0].lowercased()
        guard device.hasPrefix("com"), let port = Int(device.dropFirst(3)), (1...4).contains(port) else {
            throw HyveError("unknown LPC device '\(parts[0])' in '\(text)' (expected com1 to com4)")
        }
        guard parts.count == 2, !parts[1].isEmpty else {
            throw HyveError("'\(text)' needs a back end: stdio, file=PATH or socket=PATH")
        }
        let backend = parts[1]
        if backend == "stdio" { return SerialPortSpec(port: port, backend: .stdio) }
        for (prefix, make) in [("file=", Backend.file), ("socket=", Backend.socket)] where backend.hasPrefix(prefix) {
            let path = String(backend.dropFirst(prefix.count))
            guard !path.isEmpty else { throw HyveError("'\(text)' names no path") }
            return SerialPortSpec(port: port, backend: make(path))
        }
        throw HyveError("unknown serial back end '\(backend)' in '\(text)' (expected stdio, file=PATH or socket=PATH)")
    }

    /// Parses every `-l` option; a port given twice or two stdio consoles are refused.
    public static func parse(_ texts: [String]) throws(HyveError) -> [SerialPortSpec] {
        var specs: [SerialPortSpec] = []
        for text in texts {
            let spec = try parse(text)
            guard !specs.contains(where: { $0.port == spec.port }) else { throw HyveError("\(spec.name) is configured twice") }
            guard spec.backend != .stdio || !specs.contains(where: { $0.backend == .stdio }) else {
                throw HyveError("only one serial port can use stdio")
            }
            specs.append(spec)
        }
        return specs
    }

    /// Parses every `-l` option over ports already configured (by a configuration file): an option
    /// replaces the port's back end.
    public static func parse(_ texts: [String], over base: [SerialPortSpec]) throws(HyveError) -> [SerialPortSpec] {
        let parsed = try parse(texts)
        let merged = base.filter { old in !parsed.contains { $0.port == old.port } } + parsed
        guard merged.filter({ $0.backend == .stdio }).count <= 1 else { throw HyveError("only one serial port can use stdio") }
        return merged
    }

    /// Opens the back end.
    func makeBackend() throws -> any UARTBackend {
        switch backend {
        case .stdio: StdioBackend()
        case .file(let path): try FileBackend(path: path)
        case .socket(let path): try SocketBackend(path: path)
        }
    }
}
