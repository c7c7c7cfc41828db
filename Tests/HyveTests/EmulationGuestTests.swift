import Testing
import TestSupport
import VMM

/// The user-space instruction emulator under real KVM: a CPL 0 guest runs the instructions this
/// kind of host's KVM does not emulate and checks each architectural result itself.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct EmulationGuestTests {
    /// What guest/emulate.c prints when every check passes.
    static let expectedLines = [
        "int3: ok", "ud0: ok", "ud1: ok", "ud2: ok", "int 0x80: ok", "popcnt: ok", "cmpxchg16b: ok", "xgetbv: ok",
        "fxsave/fxrstor: ok", "xsave/xrstor: ok", "xsavec: ok", "clac/stac: ok", "movbe", "fwait: ok", "invpcid: ok",
        "clwb/clflushopt: ok", "emulate: 16/16 ok",
    ]

    @Test func kernelModeInstructionsKVMLeavesToTheVMMHaveTheirArchitecturalResults() throws {
        let run = try GuestRunner.run("emulate.bin")
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == Self.expectedLines.count, "output: \(run.output)")
        for (line, expected) in zip(lines, Self.expectedLines) {
            // MOVBE either works or is refused by KVM itself with #UD, which no VMM sees.
            if expected == "movbe" {
                #expect(line == "movbe: ok" || line == "movbe: #UD from KVM")
            } else {
                #expect(line == expected)
            }
        }
        #expect(run.outcome.reason == .debugExit(0x50), "output: \(run.output)")
    }

    @Test func protectedModeSoftwareInterruptsAndIretReturnWhereTheyShould() throws {
        let run = try GuestRunner.run("iret32.bin", mode: .protected)
        #expect(run.output == "iret32: ok\n")
        #expect(run.outcome.reason == .debugExit(0x51))
    }

    @Test(.enabled(if: HostKVM.emulatesGuestKernelCode, "only a kvm_pvm host leaves these instructions to the VMM"))
    func protectedModeInterruptsAndIretAreEmulatedInUserSpace() throws {
        let run = try GuestRunner.run("iret32.bin", mode: .protected)
        #expect(run.vm.emulationCounters.snapshot() == ["int": 1, "int3": 1, "iret": 3])
    }

    @Test(.enabled(if: HostKVM.emulatesGuestKernelCode, "only a kvm_pvm host leaves these instructions to the VMM"))
    func verboseReportsTheInstructionsEmulatedInUserSpaceAtExit() throws {
        let result = HyveBinary.run(["--verbose", "--mode", "protected", "--program", try GuestPrograms.path("iret32.bin")])
        #expect(result.standardOutput == "iret32: ok\n")
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.last == "hyve: instructions emulated in user space: iret 3, int 1, int3 1")
    }

    @Test(.enabled(if: HostKVM.emulatesGuestKernelCode, "only a kvm_pvm host leaves these instructions to the VMM"))
    func everyInstructionEmulatedForTheGuestIsCountedByMnemonic() throws {
        let run = try GuestRunner.run("emulate.bin")
        let counts = run.vm.emulationCounters.snapshot()
        let expected: [String: UInt64] = [
            "int3": 1, "ud0": 1, "ud1": 1, "int": 1, "popcnt": 3, "cmpxchg16b": 2, "xgetbv": 2, "clac": 1, "stac": 1,
            "fwait": 2, "invpcid": 5, "clwb": 1, "xsaveopt": 1, "xsavec": 1,
        ]
        for (mnemonic, count) in expected {
            #expect(counts[mnemonic] == count, "\(mnemonic): \(counts)")
        }
        #expect(counts["xrstor", default: 0] >= 4 && counts["xsave", default: 0] >= 2, "\(counts)")
    }

    @Test(.enabled(if: HostKVM.emulatesGuestKernelCode, "only a kvm_pvm host fails to emulate MONITOR"))
    func anInstructionNobodyEmulatesStopsTheVMWithOneDiagnosticLine() throws {
        let run = try GuestRunner.run("unemulated.bin")
        #expect(run.output == "monitor\n")
        guard case .failure(let message) = run.outcome.reason else {
            Issue.record("the VM ended with \(run.outcome.reason)")
            return
        }
        #expect(message.hasPrefix("vCPU 0: cannot emulate monitor [0f 01 c8] (monitor is not emulated) at RIP 0x1000"))
        #expect(!message.contains("\n"))
    }
}
