import Boot
import Devices
import Firmware
import VMM

/// What Hyve's QEMU fw_cfg device serves, after bhyve (`qemu_fwcfg.c`, `bhyverun.c`, `e820.c`)
/// and QEMU: the CPU counts, the RAM size, the user's files, `opt/bhyve/hw.ncpu`, `etc/e820`, an
/// empty `bootorder`, and for a kernel the kernel, initrd and command-line items (the whole kernel
/// file, since Hyve boots it itself).
enum FwCfgContent {
    /// What the DSDT claims for the device: the selector and data ports, the gap, and the DMA
    /// register, as QEMU describes it.
    static let ports = FwCfgPorts(base: FwCfg.selectorPort, count: UInt8(Int(FwCfg.dmaPort - FwCfg.selectorPort) + FwCfg.dmaPortCount))

    /// bhyve's vCPU count for its UEFI firmware, a little-endian 32-bit integer.
    static let cpuCountFile = "opt/bhyve/hw.ncpu"
    static let e820File = "etc/e820"
    /// Boot devices in priority order, one per line; Hyve has none to name.
    static let bootOrderFile = "bootorder"
    /// The files Hyve adds itself; a user file may not take their names.
    static let hyveFiles = [cpuCountFile, e820File, bootOrderFile]

    /// The device `config` asks for, with DMA into `memory`; nil when it asks for none.
    static func device(config: MachineConfig, platform: PlatformDescription, guest: GuestImage?,
                       memory: GuestMemory) throws -> FwCfg? {
        switch config.fwCfgMode {
        case .none:
            guard config.fwCfgFiles.isEmpty else {
                throw HyveError("fw_cfg files (-f) need the QEMU fw_cfg device (--fwcfg qemu or lpc.fwcfg=qemu)")
            }
            return nil
        case .qemu:
            return FwCfg(items: try items(config: config, platform: platform, guest: guest), dma: memory)
        }
    }

    static func items(config: MachineConfig, platform: PlatformDescription, guest: GuestImage?) throws -> FwCfgItems {
        var items = FwCfgItems()
        // bhyve has no CPU hot-plug, so the maximum is the count.
        items.set(FwCfg.Key.cpuCount, littleEndian: UInt16(truncatingIfNeeded: config.cpus))
        items.set(FwCfg.Key.maxCPUs, littleEndian: UInt16(truncatingIfNeeded: config.cpus))
        items.set(FwCfg.Key.ramSize, littleEndian: config.memorySize)
        for file in config.fwCfgFiles {
            guard !hyveFiles.contains(file.name) else {
                throw HyveError("fw_cfg file '\(file.name)' is one Hyve provides itself")
            }
            try add(file.name, try file.bytes(limit: config.memorySize), to: &items)
        }
        try add(cpuCountFile, UInt32(config.cpus).littleEndianBytes, to: &items)
        try add(e820File, E820.encode(E820.map(platform)), to: &items)
        try add(bootOrderFile, [], to: &items)
        if let source = config.kernel, case .kernel(let boot) = guest {
            let kernel = try FileReader.read(source.kernel, what: "kernel", limit: config.memorySize)
            items.set(FwCfg.Key.kernelAddress, littleEndian: UInt32(truncatingIfNeeded: boot.kernelRange.lowerBound))
            items.set(FwCfg.Key.kernelSize, littleEndian: UInt32(truncatingIfNeeded: kernel.count))
            items.set(FwCfg.Key.kernelData, kernel)
            if let path = source.initrd, let range = boot.initrdRange {
                let initrd = try FileReader.read(path, what: "initrd", limit: config.memorySize)
                items.set(FwCfg.Key.initrdAddress, littleEndian: UInt32(truncatingIfNeeded: range.lowerBound))
                items.set(FwCfg.Key.initrdSize, littleEndian: UInt32(truncatingIfNeeded: initrd.count))
                items.set(FwCfg.Key.initrdData, initrd)
            }
            // What the kernel reads, host work-arounds included.
            let commandLine = boot.memoryWrites.first { $0.address == KernelLayout.commandLineAddress }?.bytes
                ?? Array(source.commandLine.utf8) + [0]
            items.set(FwCfg.Key.commandLineAddress, littleEndian: UInt32(KernelLayout.commandLineAddress))
            items.set(FwCfg.Key.commandLineSize, littleEndian: UInt32(commandLine.count))
            items.set(FwCfg.Key.commandLineData, commandLine)
        }
        return items
    }

    private static func add(_ name: String, _ bytes: [UInt8], to items: inout FwCfgItems) throws(HyveError) {
        do {
            try items.addFile(name, bytes)
        } catch {
            throw HyveError(error.description)
        }
    }
}

extension FixedWidthInteger {
    fileprivate var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian, Array.init) }
}
