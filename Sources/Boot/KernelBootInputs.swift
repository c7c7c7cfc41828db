/// What every kernel loader is given besides the kernel file.
struct KernelBootInputs {
    var initrd: Initrd?
    var commandLine: String
    var memoryMap: MemoryMap
    /// Guest physical address of the ACPI RSDP, or nil to let the kernel search the BIOS area for it.
    var rsdpAddress: UInt64?

    /// The command line with its NUL, checked against `maximumLength` bytes not counting the NUL.
    func commandLineBytes(maximumLength: Int) throws(KernelBootError) -> [UInt8] {
        let length = commandLine.utf8.count
        guard length <= maximumLength else { throw .commandLineTooLong(length: length, limit: maximumLength) }
        return Array(commandLine.utf8) + [0]
    }

    /// Whether there is a module string to pass: an initrd with a non-empty one.
    var hasModuleCommandLine: Bool {
        !(initrd?.commandLine.isEmpty ?? true)
    }

    /// The initrd's module string with its NUL, or nil when there is none to pass.
    func moduleCommandLineBytes() throws(KernelBootError) -> [UInt8]? {
        guard hasModuleCommandLine, let string = initrd?.commandLine else { return nil }
        let limit = KernelLayout.commandLineCapacity - 1
        let length = string.utf8.count
        guard length <= limit else { throw .moduleCommandLineTooLong(length: length, limit: limit) }
        return Array(string.utf8) + [0]
    }

    /// The writes placing the command line and, when there is one, the module string for protocols that
    /// have nothing smaller than ``KernelLayout/commandLineCapacity`` to say about their length.
    func stringWrites() throws(KernelBootError) -> [MemoryWrite] {
        var writes = [MemoryWrite(address: KernelLayout.commandLineAddress,
                                  bytes: try commandLineBytes(maximumLength: KernelLayout.commandLineCapacity - 1))]
        if let module = try moduleCommandLineBytes() {
            writes.append(MemoryWrite(address: KernelLayout.moduleCommandLineAddress, bytes: module))
        }
        return writes
    }
}
