import ArgumentParser
import Boot
import Glibc
import Hyve
import KVM
import VMM

/// `hyve`: runs a virtual machine, as bhyve(8) does.
struct HyveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hyve",
        abstract: "Run a virtual machine on KVM.",
        discussion: """
            Exit status: 0 the guest reset (with --no-reboot), 1 powered off, 2 halted, 3 triple-faulted, \
            4 error or destroyed (hyvectl --destroy); (v << 1) | 1 when the guest wrote v to isa-debug-exit (port 0xF4). \
            A named VM (--name NAME or the name variable) serves the control socket NAME.sock in \
            $XDG_RUNTIME_DIR/hyve (or /run/hyve) that hyvectl --vm=NAME talks to.
            """)

    @Option(name: [.customShort("k"), .customLong("config")], help: "A configuration file of KEY=VALUE lines, as bhyve's -k (repeatable; later settings win; options given here win over it).")
    var configFiles: [String] = []

    @Option(name: [.customShort("o"), .customLong("set")], help: "Set a configuration variable: KEY=VALUE, as bhyve's -o (repeatable; wins over -k).")
    var settings: [String] = []

    @Option(name: [.short, .customLong("cpus")], help: "Number of vCPUs (default 1).")
    var cpus: Int?

    @Option(name: [.short, .customLong("memory")], help: "Guest memory: a size with K, M, G or T suffix (bare number: MiB; default 256M).")
    var memory: String?

    @Flag(name: [.customShort("S"), .customLong("wire")], help: "Wire (mlock) guest memory.")
    var wire = false

    @Option(name: [.short, .customLong("pin")], help: "Pin a vCPU to a host CPU: vcpu:hostcpu (repeatable).")
    var pin: [String] = []

    @Option(name: .customLong("cpuid"), help: "CPUID policy directives: -FEATURE, hide=A,B, show=A,B, x2apic=on|off, topology=sockets=S,cores=C,threads=T, pv=A,B|none (repeatable).")
    var cpuid: [String] = []

    @Option(name: .customLong("lapic"), help: "Local APICs: kernel (KVM's) or user (Hyve's own) (default kernel).")
    var lapic: LocalAPICMode?

    @Flag(name: [.customShort("x"), .customLong("x2apic")], help: "Start the local APICs in x2APIC mode.")
    var x2apic = false

    @Option(name: [.customShort("l"), .customLong("lpc")], help: "An LPC device: com1..com4 with stdio, file=PATH or socket=PATH (repeatable).")
    var lpc: [String] = []

    @Option(name: [.short, .customLong("slot")], help: "A PCI function: slot[:func],emulation[,conf] (repeatable; default: 0,hostbridge and 31,lpc).")
    var slot: [String] = []

    @Flag(name: .customLong("strict-io"), help: "Stop the VM on an access to an unclaimed port or MMIO address.")
    var strictIO = false

    @Flag(name: .customLong("no-reboot"), help: "Exit with status 0 when the guest resets instead of rebooting it.")
    var noReboot = false

    @Flag(name: .customLong("rtc-localtime"), help: "Keep the RTC in the host's local time instead of UTC.")
    var rtcLocalTime = false

    @Option(name: .customLong("fwcfg"), help: "The firmware configuration device at port 0x510 (default: qemu with -f, else none).")
    var fwcfg: FwCfgMode?

    @Option(name: [.customShort("f"), .customLong("fwcfg-file")], help: "A fw_cfg file for the guest: NAME,string=VALUE or NAME,file=PATH (repeatable).")
    var fwcfgFiles: [String] = []

    @Option(name: .customLong("name"), help: "The VM's name (default hyve); a VM named here or with -o name=NAME serves its control socket for hyvectl --vm=NAME.")
    var name: String?

    @Option(name: .customLong("program"), help: "A guest program: an ELF executable or a flat binary.")
    var program: String?

    @Option(name: .customLong("kernel"), help: "A kernel to boot: bzImage, ELF vmlinux with a PVH note, or multiboot.")
    var kernel: String?

    @Option(name: .customLong("initrd"), help: "An initial ramdisk for --kernel.")
    var initrd: String?

    @Option(name: .customLong("append"), help: "The kernel command line.")
    var append: String?

    @Flag(name: .customLong("no-host-workarounds"), help: "Do not add this host's kernel command-line work-arounds (noxsave clearcpuid=…) to --append.")
    var noHostWorkarounds = false

    @Flag(name: .customLong("boot-timer"), help: "Report the first write of each code to port 0x80 with the time since start.")
    var bootTimer = false

    @Flag(name: [.short, .customLong("verbose")], help: "Report the host profile at start and the instructions emulated in user space at exit.")
    var verbose = false

    @Option(name: .customLong("mode"), help: "CPU mode at the program's entry: real, protected or long.")
    var mode: CPUMode?

    @Option(name: .customLong("load-address"), help: "Load address of a flat binary (default 0x8000 in real mode, else 0x100000).")
    var loadAddress: String?

    /// The configuration files and `-o` settings, with the options given here over them: a value
    /// replaces the file's, a flag turns its setting on, and list options replace the entries they
    /// name (the same PCI address, COM port, vCPU or fw_cfg file) and add the others.
    func makeConfig() throws(HyveError) -> MachineConfig {
        var config = try MachineConfig(ConfigTree(files: configFiles, options: settings))
        config.name = name ?? config.name
        if let cpus {
            guard cpus >= 1 else { throw HyveError("--cpus must be at least 1") }
            config.cpus = cpus
        }
        if let memory { config.memorySize = try MemorySize.parse(memory) }
        config.wired = config.wired || wire
        config.pinning.merge(try PinSpec.parse(pin)) { $1 }
        config.strictIO = config.strictIO || strictIO
        config.noReboot = config.noReboot || noReboot
        config.rtcLocalTime = config.rtcLocalTime || rtcLocalTime
        config.hostWorkarounds = config.hostWorkarounds && !noHostWorkarounds
        config.bootTimer = config.bootTimer || bootTimer
        config.pciSlots = try PCISlotSpec.parse(slot, over: config.pciSlots)
        config.serialPorts = try SerialPortSpec.parse(lpc, over: config.serialPorts)
        do {
            config.cpuid = try CPUIDPolicy.parse(cpuid, onto: config.cpuid)
        } catch {
            throw HyveError("\(error)")
        }
        config.fwCfg = fwcfg ?? config.fwCfg
        config.fwCfgFiles = try FwCfgFileSpec.parse(fwcfgFiles, over: config.fwCfgFiles)
        if let lapic { config.localAPIC = lapic }
        config.x2APIC = config.x2APIC || x2apic
        switch (program, kernel) {
        case (let program?, nil):
            config.kernel = nil
            config.program = ProgramSource(path: program)
        case (nil, let kernel?):
            config.program = nil
            config.kernel = KernelSource(kernel: kernel)
        case (.some, .some):
            throw HyveError("give either --program or --kernel, not both")
        case (nil, nil):
            guard config.program != nil || config.kernel != nil else {
                throw HyveError("no guest to run (give one with --program FILE or --kernel FILE)")
            }
        }
        if mode != nil || loadAddress != nil {
            guard config.program != nil else { throw HyveError("--mode and --load-address apply to --program, not --kernel") }
            if let mode { config.program?.mode = mode }
            if let loadAddress { config.program?.loadAddress = try parseAddress(loadAddress) }
        }
        guard initrd == nil || config.kernel != nil else { throw HyveError("--initrd needs --kernel") }
        if let initrd { config.kernel?.initrd = initrd }
        if let append { config.kernel?.commandLine = append }
        return config
    }

    func start() throws -> Int32 {
        let config = try makeConfig()
        let system = try KVMSystem()
        let machine = try Machine(config: config, system: system, console: { byte in
            var byte = byte
            _ = write(STDOUT_FILENO, &byte, 1)
        }, report: printError)
        if verbose { printError(machine.hostProfileSummary) }
        // A VM named here or in its configuration serves its control socket; the default name does not.
        let controlName = name ?? (config.name == MachineConfig().name ? nil : config.name)
        let control = try controlName.map { name throws(HyveError) in try machine.serveControlSocket(name: name) }
        defer { control?.close() }
        let outcome = try machine.run()
        if case .failure(let message) = outcome.reason {
            printError(message)
        }
        let emulated = machine.vm.emulationCounters.summary
        if verbose && !emulated.isEmpty { printError("instructions emulated in user space: \(emulated)") }
        return outcome.exitStatus
    }
}

extension CPUMode: ExpressibleByArgument {}
extension FwCfgMode: ExpressibleByArgument {}
extension LocalAPICMode: ExpressibleByArgument {}

func parseAddress(_ text: String) throws(HyveError) -> UInt64 {
    let lower = text.lowercased()
    let value = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower)
    guard let value else { throw HyveError("invalid address '\(text)'") }
    return value
}

func printError(_ message: String) {
    Diagnostic.print(program: "hyve", message)
}

@main
enum Main {
    static func main() {
        ProcessClock.markStart()
        ProcessSignals.prepare()
        let command: HyveCommand
        do {
            command = try HyveCommand.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            if HyveCommand.exitCode(for: error) == .success { HyveCommand.exit(withError: error) }
            printError(HyveCommand.message(for: error))
            exit(ExitStatus.error)
        }
        do {
            exit(try command.start())
        } catch {
            printError("\(error)")
            exit(ExitStatus.error)
        }
    }
}
