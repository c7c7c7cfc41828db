import Glibc

/// One-line error reports on standard error, the form every Hyve tool uses.
public enum Diagnostic {
    /// `message` folded onto one line and prefixed with the program's name.
    public static func line(program: String, _ message: String) -> String {
        let words = message.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        return "\(program): \(words.joined(separator: " "))"
    }

    public static func print(program: String, _ message: String) {
        let text = line(program: program, message) + "\n"
        _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
