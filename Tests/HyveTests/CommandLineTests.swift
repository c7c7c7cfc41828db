import Foundation
import Testing
import TestSupport

/// `hyve` as a user meets it: exit statuses, and one clear line for every kind of bad input.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct CommandLineTests {
    @Test func programRunsFromTheCommandLineWithCPUsAndMemory() throws {
        let result = HyveBinary.run(["--cpus", "2", "--memory", "64M", "--program", try GuestPrograms.path("long-hello.bin")])
        #expect(result.standardOutput == "hello from long mode\n")
        #expect(result.status == (0x23 << 1) | 1)
        #expect(result.standardError == "")
    }

    @Test func verboseReportsTheHostProfileOnOneLine() throws {
        let result = HyveBinary.run(["--verbose", "--program", try GuestPrograms.path("long-hello.bin")])
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("hyve: host profile: ") == true)
        #expect(result.status == (0x23 << 1) | 1)
    }

    @Test func realModeFlatBinaryRunsAtItsLoadAddress() throws {
        let result = HyveBinary.run(["--mode", "real", "--load-address", "0x8000", "--program", try GuestPrograms.path("real-hello.bin")])
        #expect(result.standardOutput == "hello from real mode\n")
        #expect(result.status == (0x21 << 1) | 1)
    }

    @Test(arguments: [1, 2])
    func multibootKernelGetsItsCommandLineAndOnlyTheBSPEntersIt(cpus: Int) throws {
        let result = HyveBinary.run(["-c", "\(cpus)", "--kernel", try GuestPrograms.path("multiboot-hello.bin"),
                                     "--append", "console=ttyS0 quiet"])
        #expect(result.standardOutput == "console=ttyS0 quiet\n")
        #expect(result.status == (0x60 << 1) | 1, "stderr: \(result.standardError)")
    }

    @Test func exitStatusesFollowBhyve() throws {
        #expect(HyveBinary.run(["--program", try GuestPrograms.path("triple-fault.bin")]).status == 3)
        #expect(HyveBinary.run(["-c", "2", "--program", try GuestPrograms.path("halt.bin")]).status == 2)
        #expect(HyveBinary.run(["--no-reboot", "--program", try GuestPrograms.path("reset.bin")]).status == 0)
    }

    @Test func wiredMemoryAndPinnedVCPUsRun() throws {
        let result = HyveBinary.run(["-S", "-m", "32M", "-c", "2", "-p", "0:0", "-p", "1:1",
                                     "--program", try GuestPrograms.path("long-hello.bin")])
        #expect(result.standardOutput == "hello from long mode\n")
        #expect(result.status == (0x23 << 1) | 1)
    }

    @Test func pinningToAHostCPUThatDoesNotExistIsRefused() throws {
        let result = HyveBinary.run(["-p", "0:4096", "--program", try GuestPrograms.path("long-hello.bin")])
        #expect(result.status == 4)
        #expect(result.standardError.hasPrefix("hyve: cannot pin vCPU 0 to host CPU 4096: the host has CPUs 0-"))
    }

    @Test func hyvectlReportsTheHostKVM() {
        let result = Subprocess.run(HyveBinary.hyvectlPath, ["--get-host-caps"])
        #expect(result.status == 0)
        #expect(result.standardOutput.hasPrefix("api-version=12\nmax-vcpus="))
        #expect(result.standardOutput.contains("immediate-exit=1"))
    }

    static let badInputs: [(arguments: [String], message: String)] = [
        (["--program", "/nonexistent/guest.bin"], "hyve: cannot read program file '/nonexistent/guest.bin': No such file or directory"),
        (["--program", "/"], "hyve: cannot read program file '/': not a regular file"),
        (["--memory", "abc", "--program", "/dev/null"], "hyve: invalid memory size 'abc' (expected a number with an optional K, M, G or T suffix)"),
        (["--memory", "0", "--program", "/dev/null"], "hyve: memory size '0' is too small (at least 1 MiB)"),
        (["--cpus", "100000", "--program", "/dev/null"], "hyve: 100000 vCPUs requested, but this host's KVM allows at most"),
        (["--frobnicate"], "hyve: Unknown option '--frobnicate'"),
        ([], "hyve: no guest to run (give one with --program FILE or --kernel FILE)"),
        (["--mode", "virtual86", "--program", "/dev/null"], "hyve: The value 'virtual86' is invalid for '--mode <mode>'"),
        (["--pin", "0-1", "--program", "/dev/null"], "hyve: invalid pinning '0-1' (expected vcpu:hostcpu)"),
        (["-s", "3,frobnicator", "--program", "/dev/null"], "hyve: unknown PCI emulation 'frobnicator'"),
        (["-s", "0,hostbridge", "-s", "0,lpc", "--program", "/dev/null"], "hyve: PCI slot 0:0:0 is already occupied ('0,lpc')"),
        (["-s", "3:9,pci-testdev", "--program", "/dev/null"], "hyve: PCI function 9 out of range (0-7) in '3:9,pci-testdev'"),
        (["-s", "slot3", "--program", "/dev/null"], "hyve: invalid PCI slot 'slot3'"),
        (["--kernel", "/etc/passwd"], "hyve: cannot boot kernel '/etc/passwd': kernel is not a Linux bzImage, an ELF file or a multiboot kernel"),
        (["--kernel", "/nonexistent/vmlinuz"], "hyve: cannot read kernel '/nonexistent/vmlinuz': No such file or directory"),
        (["--kernel", "/dev/null", "--program", "/dev/null"], "hyve: give either --program or --kernel, not both"),
        (["--initrd", "/dev/null", "--program", "/dev/null"], "hyve: --initrd needs --kernel"),
        (["--cpuid", "hide=avx9", "--program", "/dev/null"], "hyve: --cpuid: unknown CPU feature 'avx9'"),
        (["--cpuid", "topology=sockets=1,cores=1", "-c", "2", "--program", "/dev/null"],
         "hyve: --cpuid: topology 1x1x1 holds 1 CPUs, fewer than the 2 vCPUs"),
        (["--lapic", "virtual", "--program", "/dev/null"], "hyve: The value 'virtual' is invalid for '--lapic <lapic>'"),
        (["-x", "--cpuid", "x2apic=off", "--program", "/dev/null"], "hyve: x2APIC mode (-x) needs x2APIC in CPUID"),
        (["--lapic", "user", "--cpuid", "pv=pv-eoi,steal-time", "--program", "/dev/null"],
         "hyve: --lapic user cannot offer pv-eoi: they need KVM's local APIC"),
    ]

    @Test(arguments: badInputs)
    func badInputGetsOneClearLineAndStatusFour(input: (arguments: [String], message: String)) {
        let result = HyveBinary.run(input.arguments)
        #expect(result.status == 4)
        #expect(result.standardOutput == "")
        #expect(result.standardError.hasPrefix(input.message), "stderr was: \(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "stderr was: \(result.standardError)")
    }

    @Test func malformedELFIsRefusedInOneLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-truncated-\(getpid()).elf").path
        try Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = HyveBinary.run(["--program", path])
        #expect(result.status == 4)
        #expect(result.standardError == "hyve: cannot load program file '\(path)': truncated ELF file: the ELF header extends past the end of the file\n")
    }
}
