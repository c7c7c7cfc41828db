import Foundation
import Testing
@testable import Hyve
import Firmware
import KVM
import TestSupport

/// The firmware of a machine as `hyve` configures it, checked by ACPICA's own disassembler.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct MachineFirmwareTests {
    func machine() throws -> Machine {
        var config = MachineConfig()
        config.cpus = 2
        config.memorySize = 64 << 20
        config.pciSlots = try PCISlotSpec.parse(["0,hostbridge", "3,pci-testdev", "4,pci-testdev", "31,lpc"])
        return try Machine(config: config, system: try KVMSystem(), console: { _ in })
    }

    @Test func generatedDSDTDisassemblesWithoutErrorsAndRoutesEveryPCIDevice() throws {
        let machine = try machine()
        let platform = Machine.platform(of: machine.vm, pci: machine.pci)
        #expect(platform.pciInterrupts.map(\.slot) == [3, 4])
        #expect(platform.pciInterrupts.allSatisfy { $0.ioapicPin >= 16 })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-dsdt-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(DSDT.build(platform)).write(to: directory.appendingPathComponent("dsdt.aml"))
        let result = Subprocess.run("/usr/bin/iasl", ["-p", directory.appendingPathComponent("dsdt").path, "-d",
                                                      directory.appendingPathComponent("dsdt.aml").path])
        #expect(result.status == 0, "iasl: \(result.standardOutput)\(result.standardError)")
        #expect(!(result.standardOutput + result.standardError).contains("Error"))
        let listing = try String(contentsOf: directory.appendingPathComponent("dsdt.dsl"), encoding: .utf8)
        for route in platform.pciInterrupts {
            // _PRT addresses a slot as 0xSSSSFFFF.
            let address = "0x" + String(format: "%04X", route.slot) + "FFFF"
            #expect(listing.contains(address), "no _PRT entry for slot \(route.slot)")
        }
        #expect(listing.contains("_PRT"))
    }

    @Test func firmwareTablesInGuestMemoryCarryTheMachinesVCPUsAndPCIRoutes() throws {
        let machine = try machine()
        let platform = Machine.platform(of: machine.vm, pci: machine.pci)
        #expect(platform.cpus == 2)
        #expect(platform.lowMemory == 64 << 20 && platform.highMemory == 0)
        #expect(platform.pirqLinks.filter { $0.irq != nil }.count == 2)
        #expect(platform.hpet?.capabilities == machine.vm.hpet.capabilities)
    }
}
