import Glibc

/// Reads whole files for the loader, with errors a user can act on.
enum FileReader {
    /// Reads `path`, refusing anything larger than `limit` bytes before reading it.
    static func read(_ path: String, what: String, limit: UInt64) throws(HyveError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(what, path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(what, path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw HyveError("cannot read \(what) '\(path)': not a regular file")
        }
        let size = UInt64(info.st_size)
        guard size <= limit else {
            throw HyveError("\(what) '\(path)' (\(size) bytes) is larger than guest memory")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw failure(what, path) }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    private static func failure(_ what: String, _ path: String) -> HyveError {
        HyveError("cannot read \(what) '\(path)': \(String(cString: strerror(errno)))")
    }
}
