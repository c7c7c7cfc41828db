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
        // Read straight into the array's storage: zero-filling a kernel-sized buffer first, and
        // copying it again at the end, cost as much as the read itself.
        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            while count < buffer.count {
                let n = Glibc.read(fd, buffer.baseAddress! + count, buffer.count - count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { readError = errno }
                if n <= 0 { return }
                count += n
            }
        }
        guard readError == 0 else {
            errno = readError
            throw failure(what, path)
        }
        return bytes
    }

    private static func failure(_ what: String, _ path: String) -> HyveError {
        HyveError("cannot read \(what) '\(path)': \(String(cString: strerror(errno)))")
    }
}
