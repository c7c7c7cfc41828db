import ArgumentParser
import Glibc
import Hyve
import KVM

/// `hyvectl`: inspects and steers Hyve VMs, as bhyvectl(8) does. VM control arrives with Hyve's
/// control socket; what it can answer today is what the host's KVM offers.
struct HyveCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hyvectl",
        abstract: "Inspect Hyve virtual machines and the host's KVM.")

    @Flag(name: .customLong("get-host-caps"), help: "Print the host KVM's API version, vCPU limits and the capabilities Hyve uses.")
    var getHostCaps = false

    func start() throws {
        guard getHostCaps else {
            throw HyveError("nothing to do (try --get-host-caps)")
        }
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
            let command = try HyveCtl.parse(Array(CommandLine.arguments.dropFirst()))
            try command.start()
        } catch {
            if HyveCtl.exitCode(for: error) == .success { HyveCtl.exit(withError: error) }
            let message = (error as? HyveError)?.description ?? (error as? KVMError)?.description ?? HyveCtl.message(for: error)
            Diagnostic.print(program: "hyvectl", message)
            exit(4)
        }
    }
}
