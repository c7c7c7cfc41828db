/// What guest/control-target.c reports before it spins: its alias mapping and its spin loop.
public struct ControlTarget: Sendable, Equatable {
    /// The linear address the guest mapped a second time, and the guest-physical page behind it.
    public let alias: UInt64
    public let aliasTarget: UInt64
    /// The spin loop's instructions are at `loop`, `loop.upperBound` excluded.
    public let loop: Range<UInt64>

    /// The program that waits in HLT between timer ticks, and the one that spins.
    public static let program = "control-target.bin"
    public static let spinningProgram = "control-spin.bin"

    /// Reads the report from the guest's output; nil until the guest printed "ready".
    public init?(output: String) {
        guard output.contains("ready\n") else { return nil }
        var alias: (UInt64, UInt64)?
        var loop: Range<UInt64>?
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 4, words[0] == "alias", let from = Self.hex(words[1]), let to = Self.hex(words[3]) {
                alias = (from, to)
            } else if words.count == 3, words[0] == "loop", let start = Self.hex(words[1]), let end = Self.hex(words[2]), start < end {
                loop = start..<end
            }
        }
        guard let alias, let loop else { return nil }
        self.alias = alias.0
        aliasTarget = alias.1
        self.loop = loop
    }

    /// `0x…` as a number.
    public static func hex(_ text: some StringProtocol) -> UInt64? {
        guard text.hasPrefix("0x") else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }
}
