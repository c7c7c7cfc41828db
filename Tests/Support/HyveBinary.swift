import Foundation

/// The `hyve` and `hyvectl` executables built next to the test bundle.
public enum HyveBinary {
    static let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    public static let path = products.appendingPathComponent("hyve").path
    public static let hyvectlPath = products.appendingPathComponent("hyvectl").path

    /// Runs `hyve` with `arguments`.
    public static func run(_ arguments: [String]) -> Subprocess.Result {
        Subprocess.run(path, arguments)
    }
}
