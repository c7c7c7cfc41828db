/// Parses a memory size as bhyve's `-m` does: a number with an optional K, M, G or T suffix
/// (either case, optionally followed by "B" or "iB"); a bare number means mebibytes.
public enum MemorySize {
    /// Largest guest Hyve accepts: 1 TiB, far beyond this project's hosts but a guard against typos.
    public static let maximum: UInt64 = 1 << 40

    public static func parse(_ text: String) throws(HyveError) -> UInt64 {
        let trimmed = text.trimmingSpaces
        var digits = Substring(trimmed)
        var unitText = ""
        while let last = digits.last, !last.isNumber {
            unitText = String(last) + unitText
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let number = UInt64(digits) else {
            throw HyveError("invalid memory size '\(text)' (expected a number with an optional K, M, G or T suffix)")
        }
        let shift: UInt64
        switch unitText.lowercased() {
        case "", "m", "mb", "mib": shift = 20
        case "k", "kb", "kib": shift = 10
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default:
            throw HyveError("invalid memory size '\(text)' (unknown unit '\(unitText)')")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, bytes <= maximum else {
            throw HyveError("memory size '\(text)' is larger than Hyve's limit of 1 TiB")
        }
        guard bytes >= 1 << 20 else {
            throw HyveError("memory size '\(text)' is too small (at least 1 MiB)")
        }
        guard bytes % 4096 == 0 else {
            throw HyveError("memory size '\(text)' is not a multiple of 4 KiB")
        }
        return bytes
    }
}
