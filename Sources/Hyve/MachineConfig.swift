import Boot
import VMM

/// Everything `hyve` needs to build and run a machine, in bhyve's vocabulary.
public struct MachineConfig: Sendable {
    /// The VM's name (bhyve's vmname), used in diagnostics and later by `hyvectl`.
    public var name = "hyve"
    /// Number of vCPUs (`-c`).
    public var cpus = 1
    /// Guest RAM in bytes (`-m`, default 256 MiB as in bhyve).
    public var memorySize: UInt64 = 256 << 20
    /// Wire guest memory (`-S`).
    public var wired = false
    /// vCPU → host CPU (`-p`).
    public var pinning: [Int: Int] = [:]
    /// Stop on accesses to unclaimed ports and MMIO (`x86.strictio`).
    public var strictIO = false
    /// Exit on guest reset instead of rebooting in place (exit status 0).
    public var noReboot = false
    /// What CPUID tells the guest (`--cpuid`).
    public var cpuid = CPUIDPolicy()
    /// Whose local APICs the VM has (`--lapic`): KVM's, or Hyve's own.
    public var localAPIC = LocalAPICMode.kernel
    /// Start the local APICs in x2APIC mode (`-x`).
    public var x2APIC = false
    /// The RTC keeps local time instead of UTC (bhyve keeps UTC with `-u`; Hyve's default is UTC).
    public var rtcLocalTime = false
    /// The 16550 UARTs on the LPC bridge (`-l comN,…`).
    public var serialPorts: [SerialPortSpec] = []
    /// PCI functions (`-s`). Empty means bhyve's usual pair: `hostbridge` at 0 and `lpc` at 31.
    public var pciSlots: [PCISlotSpec] = []
    /// The guest program to run.
    public var program: ProgramSource?
    /// The operating-system kernel to boot (instead of a program).
    public var kernel: KernelSource?
    /// Add the host profile's kernel command-line work-arounds (`noxsave clearcpuid=…`) when this
    /// host's KVM cannot emulate some guest-kernel instructions and its CPUID table cannot hide them.
    public var hostWorkarounds = true
    /// Report the first write of each code to port 0x80 with the time since start (`--boot-timer`).
    public var bootTimer = false
    /// The firmware configuration device (`--fwcfg`, `lpc.fwcfg`); nil chooses by ``fwCfgFiles``.
    public var fwCfg: FwCfgMode?
    /// Files the guest reads through fw_cfg (`-f`).
    public var fwCfgFiles: [FwCfgFileSpec] = []

    public init() {}

    /// The device in use: as configured, else QEMU's fw_cfg when there are files to serve.
    public var fwCfgMode: FwCfgMode { fwCfg ?? (fwCfgFiles.isEmpty ? .none : .qemu) }
}

/// A guest program file: a flat binary loaded at an address, or an ELF executable.
public struct ProgramSource: Sendable {
    public var path: String
    /// Load address for a flat binary; nil chooses the mode's default.
    public var loadAddress: UInt64?
    /// CPU mode at entry; nil chooses by format (ELF32 protected, otherwise long).
    public var mode: CPUMode?

    public init(path: String, loadAddress: UInt64? = nil, mode: CPUMode? = nil) {
        self.path = path
        self.loadAddress = loadAddress
        self.mode = mode
    }
}

/// A kernel to boot directly, as bhyveload or QEMU's `-kernel` would: a bzImage, an ELF vmlinux
/// with a PVH note, or a multiboot kernel.
public struct KernelSource: Sendable {
    public var kernel: String
    public var initrd: String?
    public var commandLine: String

    public init(kernel: String, initrd: String? = nil, commandLine: String = "") {
        self.kernel = kernel
        self.initrd = initrd
        self.commandLine = commandLine
    }
}
