/// Why bytes could not be decoded as an instruction.
public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes end before the instruction does; `available` bytes were given.
    case truncated(available: Int)
    /// The instruction would be longer than 15 bytes (the processor raises #GP(0)).
    case tooLong
    /// An encoding that does not exist in this mode (the processor raises #UD), with the
    /// mnemonic it would have elsewhere, such as "push" for 06 in 64-bit mode.
    case invalid(mnemonic: String)

    /// The best guess at what the bytes were meant to be.
    public var mnemonicGuess: String {
        switch self {
        case .truncated: "(truncated)"
        case .tooLong: "(too long)"
        case .invalid(let mnemonic): mnemonic
        }
    }

    public var description: String {
        switch self {
        case .truncated(let available): "instruction runs past the \(available) bytes available"
        case .tooLong: "instruction longer than 15 bytes"
        case .invalid(let mnemonic): "\(mnemonic) is not a valid encoding in this mode"
        }
    }
}
