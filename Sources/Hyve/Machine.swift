import Boot
import Glibc
import Devices
import Firmware
import KVM
import VMM

/// How a machine run ended.
public struct MachineOutcome: Sendable, Equatable {
    public let reason: SuspendReason
    /// Guest resets that were handled by rebooting in place.
    public let reboots: Int

    /// The process exit status `hyve` uses for this outcome.
    public var exitStatus: Int32 { ExitStatus.forReason(reason) }
}

/// bhyverun: a VM with Hyve's platform devices and a guest, run until it ends. A guest reset
/// re-initialises the same KVM VM and re-loads the guest, unless `noReboot` is set.
public final class Machine: Sendable {
    public let config: MachineConfig
    public let vm: VirtualMachine
    /// PCI bus 0 with the configured functions.
    public let pci: PCIBus
    private let guest: GuestImage?
    private let firmware: FirmwareImage

    /// Builds the machine. `console` receives every byte the guest writes to the debug console;
    /// `report` receives informational lines (boot-timer marks).
    public init(config: MachineConfig, system: KVMSystem, console: @escaping @Sendable (UInt8) -> Void,
                report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.config = config
        vm = try VirtualMachine(system: system, configuration: .init(
            cpus: config.cpus, memorySize: config.memorySize, wired: config.wired,
            strictIO: config.strictIO, pinning: config.pinning, rtcTime: Self.rtcStartTime(localTime: config.rtcLocalTime), cpuid: config.cpuid,
            localAPIC: config.localAPIC, x2APIC: config.x2APIC))
        let vm = vm
        try PCTestDev(lines: vm.interrupts, onExit: { [weak vm] value in vm?.suspend(.debugExit(value)) }).attach(to: vm)
        try ResetControl(onReset: { [weak vm] in vm?.suspend(.reset) }).attach(to: vm)
        try DebugConsole(sink: console).attach(to: vm)
        let bootTimer = BootTimer(onMarker: { [bootTimerOn = config.bootTimer] code in
            guard bootTimerOn else { return }
            report(ProcessClock.markerLine(code: code))
        })
        try bootTimer.attach(to: vm)
        vm.onReinitialize(bootTimer.reset)
        let power = PowerManagement(lines: vm.interrupts, onPowerOff: { [weak vm] in vm?.suspend(.powerOff) })
        try power.attach(to: vm)
        try PowerButton.wire(to: vm.eventLoop, press: power.pressPowerButton)
        for spec in config.serialPorts {
            let com = UART16550.com[spec.port - 1]
            let uart = UART16550(base: com.port, irq: com.irq, lines: vm.interrupts, backend: try spec.makeBackend())
            try uart.attach(to: vm, name: spec.name)
        }
        // Last, so that BARs are placed around the fixed platform ports claimed above.
        pci = try PCISlotSpec.buildBus(config.pciSlots.isEmpty ? PCISlotSpec.defaults : config.pciSlots, for: vm)
        var platform = Self.platform(of: vm, pci: pci)
        platform.serialPorts = config.serialPorts.map { SerialPort.standard[$0.port - 1] }
        platform.fwCfg = config.fwCfgMode == .qemu ? FwCfgContent.ports : nil
        firmware = try FirmwareImage(platform)
        let workarounds = config.hostWorkarounds ? vm.hostProfile.kernelCommandLine : []
        guest = try GuestImage(config, platform: platform, extraCommandLine: workarounds)
        try FwCfgContent.device(config: config, platform: platform, guest: guest, memory: vm.memory)?.attach(to: vm)
    }

    /// One line on what this host's KVM needs worked around, for `--verbose`.
    public var hostProfileSummary: String {
        let profile = vm.hostProfile
        guard profile.isRestricted else { return "host profile: KVM honours the whole CPUID table; no work-arounds" }
        let hidden = profile.tableHiddenFeatures.map(\.rawValue).sorted().joined(separator: ",")
        let line = config.kernel == nil ? "none (no kernel)"
            : config.hostWorkarounds ? profile.kernelCommandLine.joined(separator: " ") : "none (--no-host-workarounds)"
        return "host profile: restricted KVM (honours only the CPUID bits it lists); CPUID table hides \(hidden.isEmpty ? "nothing" : hidden); kernel command line adds \(line)"
    }

    /// Now as the RTC should show it: UTC, or shifted by the host's offset for local time.
    static func rtcStartTime(localTime: Bool) -> Int64 {
        var now = time(nil)
        guard localTime else { return Int64(now) }
        var parts = tm()
        localtime_r(&now, &parts)
        return Int64(now) + Int64(parts.tm_gmtoff)
    }

    /// What the firmware tables describe: this VM's vCPUs, memory, platform devices and PCI
    /// interrupt wiring.
    static func platform(of vm: VirtualMachine, pci: PCIBus) -> PlatformDescription {
        let segments = vm.memory.segments
        var platform = PlatformDescription(cpus: vm.vcpus.count, lowMemory: segments[0].size,
                                           highMemory: segments.count > 1 ? segments[1].size : 0)
        platform.ioapic.pins = InterruptRouter.ioapicPinCount
        platform.hpet = HPETInfo(capabilities: vm.hpet.capabilities)
        let routes = pci.interruptRoutes
        platform.pciInterrupts = routes.functions.map {
            PCIInterruptRoute(slot: $0.slot, function: $0.function, pin: $0.pin.rawValue, ioapicPin: $0.ioapicPin, link: $0.link)
        }
        for link in routes.links where link.index < platform.pirqLinks.count {
            platform.pirqLinks[link.index].irq = link.irq.map { UInt8($0) }
        }
        if pci.usesMMIO64Window {
            platform.pciMMIO64Window = pci.mmio64Window.lowerBound...(pci.mmio64Window.upperBound - 1)
        }
        return platform
    }

    /// Writes the firmware tables and the guest into RAM and sets every vCPU's entry state.
    private func load() throws {
        try firmware.write(to: vm.memory)
        guard let guest else { return }
        for write in guest.memoryWrites {
            do {
                try vm.memory.write(write.bytes, at: write.address)
            } catch {
                throw HyveError("the guest does not fit in \(config.memorySize >> 20) MiB of guest memory: \(error)")
            }
        }
        for vcpu in vm.vcpus {
            var registers = try vcpu.kvm.registers()
            var special = try vcpu.kvm.specialRegisters()
            if guest.setEntryState(vcpu: vcpu.id, registers: &registers, special: &special) {
                try vcpu.kvm.setSpecialRegisters(special)
                try vcpu.kvm.setRegisters(registers)
            } else {
                // An application processor of a kernel waits for INIT/SIPI from the BSP.
                try vcpu.waitForStartup()
            }
        }
    }

    /// Runs the guest to its end.
    public func run() throws -> MachineOutcome {
        var reboots = 0
        while true {
            try load()
            let reason = try vm.run()
            guard reason == .reset && !config.noReboot else {
                return MachineOutcome(reason: reason, reboots: reboots)
            }
            try vm.reinitialize()
            reboots += 1
        }
    }
}
