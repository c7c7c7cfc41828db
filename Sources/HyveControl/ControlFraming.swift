#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Newline-delimited JSON: each message is one compact JSON object followed by `\n`.
///
/// Compact JSON never holds a raw line break (one inside a string is escaped), so a line is a
/// message, and a person can talk to a VM with `socat - UNIX-CONNECT:PATH`. Blank lines are
/// skipped and a `\r` before the `\n` is dropped, for the same reason.
public enum ControlFraming {
    /// `value` as one framed message: compact JSON with sorted keys, then `\n`.
    public static func frame(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = [UInt8](try encoder.encode(value))
        bytes.append(newline)
        return bytes
    }

    static let newline = UInt8(ascii: "\n")
}

/// Splits a byte stream into messages, however the reads cut it.
public struct ControlFrameDecoder: Sendable {
    /// The longest message, without its `\n`, that is accepted.
    public let maximumMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// How far past `start` is known to hold no `\n`, so a long message is scanned once.
    private var scanned = 0

    /// A decoder that refuses messages longer than `maximumMessageSize` bytes.
    public init(maximumMessageSize: Int = ControlProtocol.maximumMessageSize) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil until more bytes arrive. Throws `EMSGSIZE` once a
    /// message is known to exceed the limit; the stream cannot be resynchronised after that.
    public mutating func nextMessage() throws(ControlError) -> [UInt8]? {
        while true {
            let searchFrom = start + scanned
            guard let end = buffer[searchFrom...].firstIndex(of: ControlFraming.newline) else {
                scanned = buffer.count - start
                try checkLength(scanned)
                compact()
                return nil
            }
            var line = buffer[start..<end]
            start = end + 1
            scanned = 0
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            try checkLength(line.count)
            if !line.isEmpty { return Array(line) }
        }
    }

    /// Whether part of a message is waiting for the rest of it.
    public var hasPartialMessage: Bool { start < buffer.count }

    private func checkLength(_ count: Int) throws(ControlError) {
        guard count <= maximumMessageSize else {
            throw ControlError(code: EMSGSIZE, message: "a control message is longer than \(maximumMessageSize) bytes")
        }
    }

    private mutating func compact() {
        buffer.removeFirst(start)
        start = 0
    }
}
