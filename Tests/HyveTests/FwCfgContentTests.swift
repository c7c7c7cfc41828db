import Foundation
import Testing
@testable import Hyve
import Devices
import Firmware
import TestSupport

/// What `hyve` puts into its fw_cfg device for a configured machine.
@Suite struct FwCfgContentTests {
    private let platform = PlatformDescription(cpus: 3, lowMemory: 96 << 20, highMemory: 0)

    private func config() -> MachineConfig {
        var config = MachineConfig()
        config.cpus = 3
        config.memorySize = 96 << 20
        return config
    }

    @Test func machineItemsAndHyvesFilesDescribeTheMachine() throws {
        var config = config()
        config.fwCfgFiles = [FwCfgFileSpec(name: "opt/hyve/x", content: .string("y"))]
        let items = try FwCfgContent.items(config: config, platform: platform, guest: nil)
        #expect(items.values[FwCfg.Key.cpuCount] == [3, 0])
        #expect(items.values[FwCfg.Key.maxCPUs] == [3, 0])
        #expect(items.values[FwCfg.Key.ramSize] == [0, 0, 0, 6, 0, 0, 0, 0])
        #expect(items.files.map(\.name) == ["opt/hyve/x", "opt/bhyve/hw.ncpu", "etc/e820", "bootorder"])
        #expect(items.files.map(\.bytes) == [[0x79, 0], [3, 0, 0, 0], E820.encode(E820.map(platform)), []])
        #expect(items.values[FwCfg.Key.kernelData] == nil)
    }

    @Test func aKernelIsServedWithItsCommandLineAndWhereHyveLoadedIt() throws {
        var config = config()
        let path = try GuestPrograms.path("multiboot-hello.bin")
        config.kernel = KernelSource(kernel: path, commandLine: "console=ttyS0")
        let guest = try GuestImage(config, platform: platform)
        guard case .kernel(let boot) = guest else {
            Issue.record("not a kernel")
            return
        }
        let items = try FwCfgContent.items(config: config, platform: platform, guest: guest)
        let kernel = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(items.values[FwCfg.Key.kernelData] == kernel)
        #expect(items.values[FwCfg.Key.kernelSize] == withUnsafeBytes(of: UInt32(kernel.count).littleEndian, Array.init))
        #expect(items.values[FwCfg.Key.kernelAddress]
            == withUnsafeBytes(of: UInt32(boot.kernelRange.lowerBound).littleEndian, Array.init))
        #expect(items.values[FwCfg.Key.commandLineData] == Array("console=ttyS0\0".utf8))
        #expect(items.values[FwCfg.Key.commandLineSize] == [14, 0, 0, 0])
        #expect(items.values[FwCfg.Key.commandLineAddress] == [0, 0, 2, 0])
        #expect(items.values[FwCfg.Key.initrdData] == nil)
    }

    @Test func aUserFileMayNotTakeTheNameOfOneHyveProvides() {
        var config = config()
        config.fwCfgFiles = [FwCfgFileSpec(name: "etc/e820", content: .string("x"))]
        #expect(throws: HyveError("fw_cfg file 'etc/e820' is one Hyve provides itself")) {
            try FwCfgContent.items(config: config, platform: platform, guest: nil)
        }
    }
}
