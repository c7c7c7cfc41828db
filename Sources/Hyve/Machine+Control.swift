import Glibc
import HyveControl

extension Machine {
    /// Serves this machine's control socket for the VM called `name`: `NAME.sock` in `directory`
    /// (see ``ControlSocketPath``), created with its directory if need be. A live VM of the same
    /// name, or a name that is not a file name, is refused in one line. The socket is removed by
    /// the server's `close()`, and by the terminating signals ``ProcessSignals`` handles.
    public func serveControlSocket(name: String, directory: String = ControlSocketPath.directory()) throws(HyveError) -> ControlServer {
        let handler = ControlHandler(machine: self)
        do {
            let path = try ControlSocketPath.path(for: name, in: directory)
            try ControlSocketPath.createDirectory(directory)
            let server = try ControlServer(path: path, handler: handler.handle)
            ProcessSignals.removeOnTermination(path)
            return server
        } catch where error.code == EADDRINUSE {
            throw HyveError("a VM named '\(name)' is already running (its control socket is '\(directory)/\(name)\(ControlSocketPath.suffix)')")
        } catch {
            throw HyveError("cannot serve the control socket of VM '\(name)': \(error.message)")
        }
    }
}
