import Foundation

/// The guest programs under `guest/`, built once per test process with the Makefile there.
public enum GuestPrograms {
    /// The repository's root, found from this file's location.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let outputDirectory = repositoryRoot + "/.build/guest-programs"

    private static let build: Result<Void, ProgramBuildError> = {
        let result = Subprocess.run("/usr/bin/make", ["-s", "-C", repositoryRoot + "/guest", "OUT=" + outputDirectory])
        guard result.status == 0 else {
            return .failure(ProgramBuildError(description: "building the guest programs failed: \(result.standardError)"))
        }
        return .success(())
    }()

    /// The path of a built program, e.g. `path("long-hello.bin")`.
    public static func path(_ file: String) throws -> String {
        try build.get()
        let path = outputDirectory + "/" + file
        guard FileManager.default.fileExists(atPath: path) else {
            throw ProgramBuildError(description: "guest program \(file) was not built")
        }
        return path
    }
}

public struct ProgramBuildError: Error, CustomStringConvertible {
    public let description: String
}
