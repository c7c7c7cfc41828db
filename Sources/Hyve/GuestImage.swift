import Boot
import Firmware
import KVM

/// What `hyve` loads into a machine: a test program that every vCPU enters, or an operating
/// system kernel that the BSP enters while the other vCPUs wait for INIT/SIPI.
enum GuestImage: Sendable {
    case program(ProgramBoot)
    case kernel(KernelBoot)

    /// Reads and checks the configured guest; nil when none is configured.
    /// `extraCommandLine` is appended to a Linux kernel's command line (the host profile's work-arounds).
    init?(_ config: MachineConfig, platform: PlatformDescription, extraCommandLine: [String] = []) throws {
        if let source = config.program {
            self = .program(try Self.program(source, config: config))
        } else if let source = config.kernel {
            self = .kernel(try Self.kernel(source, config: config, platform: platform, extraCommandLine: extraCommandLine))
        } else {
            return nil
        }
    }

    private static func program(_ source: ProgramSource, config: MachineConfig) throws -> ProgramBoot {
        let bytes = try FileReader.read(source.path, what: "program file", limit: config.memorySize)
        let boot: ProgramBoot
        do {
            // A flat binary without a mode runs in long mode; its load address follows the mode.
            let image = try ProgramImage.parse(bytes, loadAddress: source.loadAddress ?? (source.mode ?? .long).defaultLoadAddress)
            boot = try ProgramBoot(image: image, mode: source.mode ?? image.format.defaultMode)
        } catch {
            throw HyveError("cannot load program file '\(source.path)': \(error)")
        }
        guard config.cpus <= boot.maximumVCPUs else {
            throw HyveError("a \(boot.mode.rawValue)-mode program has room for at most \(boot.maximumVCPUs) vCPU stacks, not \(config.cpus)")
        }
        return boot
    }

    private static func kernel(_ source: KernelSource, config: MachineConfig, platform: PlatformDescription,
                               extraCommandLine: [String]) throws -> KernelBoot {
        let kernel = try FileReader.read(source.kernel, what: "kernel", limit: config.memorySize)
        let extra = KernelBoot.isLinux(kernel) ? extraCommandLine : []
        let commandLine = ([source.commandLine] + extra).filter { !$0.isEmpty }.joined(separator: " ")
        let initrd = try source.initrd.map { path throws in
            Initrd(bytes: try FileReader.read(path, what: "initrd", limit: config.memorySize))
        }
        let memoryMap = E820.map(platform).map {
            E820Entry(address: $0.address, length: $0.length, kind: E820Entry.Kind(rawValue: $0.type.rawValue))
        }
        do {
            return try KernelBoot(kernel: kernel, initrd: initrd, commandLine: commandLine,
                                  memoryMap: memoryMap, rsdpAddress: FirmwareLayout.acpi)
        } catch {
            throw HyveError("cannot boot kernel '\(source.kernel)': \(error)")
        }
    }

    var memoryWrites: [MemoryWrite] {
        switch self {
        case .program(let boot): boot.memoryWrites
        case .kernel(let boot): boot.memoryWrites
        }
    }

    /// Sets vCPU `vcpu`'s entry state; false for a vCPU that must wait for INIT/SIPI instead.
    func setEntryState(vcpu: Int, registers: inout Registers, special: inout SpecialRegisters) -> Bool {
        switch self {
        case .program(let boot):
            boot.entryState(vcpu: vcpu, registers: &registers, special: &special)
            return true
        case .kernel(let boot):
            guard vcpu == 0 else { return false }
            boot.entryState(registers: &registers, special: &special)
            return true
        }
    }
}
