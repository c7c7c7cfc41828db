import Glibc
import Hyve
import HyveControl
import KVM

/// `hyvectl`: inspects and steers running Hyve VMs through their control sockets, as bhyvectl(8)
/// does through /dev/vmm, and reports what the host's KVM offers. Exit status 0 on success, 1 on
/// any failure, with one line on standard error.
enum HyveCtl {
    static func run(_ arguments: [String]) throws {
        let options = try HyveCtlOptions.parse(arguments)
        if options.help {
            print(HyveCtlOptions.usage)
            return
        }
        if options.hostCapabilities { try printHostCapabilities() }
        if options.list { ControlSocketPath.list().forEach { print($0) } }
        guard let name = options.vm else {
            if options.asksVM { throw HyveError("--vm=NAME is required (see --help)") }
            if !options.hostCapabilities && !options.list { throw HyveError("nothing to do (see --help)") }
            return
        }
        let client = try ControlClient(vm: name)
        try HyveCtlSession(client: client, options: options).run()
    }

    static func printHostCapabilities() throws {
        let system = try KVMSystem()
        var lines = [
            "api-version=\(KVMSystem.requiredAPIVersion)",
            "max-vcpus=\(system.maxVCPUs)",
            "recommended-vcpus=\(system.check(.recommendedVCPUs))",
        ]
        let named: [(String, KVMCapability)] = [
            ("immediate-exit", .immediateExit), ("split-irqchip", .splitIRQChip), ("signal-msi", .signalMSI),
            ("user-space-msr", .userSpaceMSR), ("set-tss-addr", .setTSSAddress),
        ]
        lines += named.map { "\($0.0)=\(system.check($0.1))" }
        print(lines.joined(separator: "\n"))
    }
}

@main
enum Main {
    static func main() {
        do {
            try HyveCtl.run(Array(CommandLine.arguments.dropFirst()))
        } catch {
            Diagnostic.print(program: "hyvectl", "\(error)")
            exit(1)
        }
    }
}
