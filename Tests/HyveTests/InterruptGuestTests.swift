import Foundation
import Testing
import TestSupport
import VMM

/// The interrupt controllers and timers under real KVM, with KVM's local APICs (split irqchip)
/// and with Hyve's own (`--lapic user`): guest programs that program them and report through
/// the debug console.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct InterruptGuestTests {
    @Test(arguments: LocalAPICMode.allCases)
    func pitThroughThe8259ADeliversTicksNeverFasterThanOneKilohertz(lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("pic-pit.bin", lapic: lapic)
        #expect(run.output.hasPrefix("pit: "), "output: \(run.output)")
        #expect(run.outcome.reason == .debugExit(0x30), "output: \(run.output)")
    }

    @Test(arguments: LocalAPICMode.allCases)
    func hpetLevelInterruptsThroughIOAPICPin24AreTakenAndEOId(lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("ioapic-hpet.bin", lapic: lapic)
        #expect(run.output == "hpet-ioapic: 10 level interrupts\n")
        #expect(run.outcome.reason == .debugExit(0x31))
    }

    @Test(arguments: LocalAPICMode.allCases)
    func hpetFSBDeliveryArrivesAsMSI(lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("hpet-fsb.bin", lapic: lapic)
        #expect(run.output == "hpet-fsb: 5 MSIs\n")
        #expect(run.outcome.reason == .debugExit(0x32))
    }

    @Test(arguments: ["rtc.bin", "rtc-ioapic.bin"], LocalAPICMode.allCases)
    func rtcPeriodicInterruptsArriveAndItsTimeMatchesTheHost(program: String, lapic: LocalAPICMode) throws {
        let before = Date()
        let run = try GuestRunner.run(program, lapic: lapic)
        let after = Date()
        #expect(run.outcome.reason == .debugExit(0x33), "output: \(run.output)")
        let lines = run.output.split(separator: "\n")
        #expect(lines.last == "rtc: 20 periodic interrupts")
        let formatter = DateFormatter()
        formatter.dateFormat = "'rtc: 'yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let shown = try #require(lines.first.flatMap { formatter.date(from: String($0)) }, "output: \(run.output)")
        #expect(shown >= before.addingTimeInterval(-2) && shown <= after.addingTimeInterval(2))
    }

    @Test(arguments: LocalAPICMode.allCases)
    func pciTestDeviceDeliversMSIAndINTxThroughTheIOAPICPinAndThePIRQLink(lapic: LocalAPICMode) throws {
        let result = HyveBinary.run(["-m", "64M", "-s", "0,hostbridge", "-s", "3,pci-testdev", "-s", "31,lpc",
                                     "--lapic", lapic.rawValue, "--program", try GuestPrograms.path("pci-intr.bin")])
        #expect(result.status == (0x40 << 1) | 1, "output: \(result.standardOutput)\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first == "pci: testdev at 00:03.0; 3 functions, same ids through conf1 and ECAM")
        #expect(lines.contains("pci: MSI received"))
        #expect(lines.contains("pci: INTx on I/O APIC pin 16"))
        #expect(lines.contains { $0.hasPrefix("pci: INTx on 8259A IRQ ") })
        #expect(lines.last == "pci: ok")
    }

    @Test(arguments: LocalAPICMode.allCases)
    func sleepTypeFiveWithSleepEnablePowersOffWithStatusOne(lapic: LocalAPICMode) throws {
        let run = try GuestRunner.run("poweroff.bin", cpus: 2, lapic: lapic)
        #expect(run.output == "powering off\n")
        #expect(run.outcome.reason == .powerOff)
        #expect(run.outcome.exitStatus == 1)
    }

    @Test func sigtermPressesThePowerButtonOfAGuestWithoutACPI() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HyveBinary.path)
        process.arguments = ["--program", try GuestPrograms.path("spin.bin")]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The console arrives a byte at a time; the guest is running once its line is complete.
        var printed = Data()
        while !printed.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed.append(chunk)
        }
        #expect(String(decoding: printed, as: UTF8.self) == "spinning\n")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 1)
    }
}
