/// An initial RAM disk handed to a kernel along with it.
public struct Initrd: Sendable, Equatable {
    /// The file's bytes, copied unchanged into guest memory.
    public var bytes: [UInt8]
    /// The string multiboot and PVH kernels receive as the module's command line (by convention the
    /// file's name); Linux's own protocol has no place for it. Empty means none.
    public var commandLine: String

    /// Creates an initrd of `bytes` with the module string `commandLine`.
    public init(bytes: [UInt8], commandLine: String = "") {
        self.bytes = bytes
        self.commandLine = commandLine
    }
}
