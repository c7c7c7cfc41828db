import Glibc

/// Where VMs' control sockets live: `NAME.sock` in `$XDG_RUNTIME_DIR/hyve/` when that variable
/// is set (a user's VMs), else in `/run/hyve/` (system VMs), the counterpart of bhyve's
/// `/dev/vmm/NAME`.
public enum ControlSocketPath {
    /// The suffix of a control socket's file name.
    public static let suffix = ".sock"

    /// The directory for `environment` (the process's own by default).
    public static func directory(environment: [String: String]? = nil) -> String {
        let runtime = environment.map { $0["XDG_RUNTIME_DIR"] } ?? getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
        guard let runtime, !runtime.isEmpty else { return "/run/hyve" }
        return runtime.hasSuffix("/") ? runtime + "hyve" : runtime + "/hyve"
    }

    /// The socket path of the VM called `name` in `directory`; throws `EINVAL` for a name that
    /// is empty, holds a `/` or a NUL, or starts with a dot.
    public static func path(for name: String, in directory: String = directory()) throws(ControlError) -> String {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\0") else {
            throw ControlError(code: EINVAL, message: "'\(name)' is not a valid VM name")
        }
        return directory + "/" + name + suffix
    }

    /// Creates `directory` (and a missing parent) with mode 0700, as a VM does before listening;
    /// an existing directory is left as it is.
    public static func createDirectory(_ directory: String = directory()) throws(ControlError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw ControlError(code: ENOTDIR, message: "'\(directory)' is not a directory")
            }
            return
        }
        let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !parent.isEmpty && stat(parent, &info) != 0 { try createDirectory(parent) }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw ControlSocket.systemError("creating '\(directory)'", errno)
        }
    }

    /// The names of the VMs with a control socket in `directory`, sorted: what `hyvectl --list`
    /// prints. Socket files whose VM has gone are left out; a missing directory lists nothing.
    public static func list(in directory: String = directory()) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard file.hasSuffix(suffix), file.count > suffix.count, !file.hasPrefix(".") else { continue }
            let path = directory + "/" + file
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, !ControlSocket.isStale(path) else { continue }
            names.append(String(file.dropLast(suffix.count)))
        }
        return names.sorted()
    }
}
