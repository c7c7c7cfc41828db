import Foundation
import Testing
import TestSupport

/// The system test: the project's Linux guest boots under `hyve` to its initramfs shell, and what
/// Linux found of the machine is read back over the serial console.
@Suite(.enabled(if: LinuxGuest.testsEnabled, "needs the Linux test guest and /dev/kvm"), .serialized)
struct LinuxBootTests {
    /// A minimal kernel reaches its shell in about 30 s here (software KVM); a second vCPU and a
    /// loaded machine add to that.
    static let bootTimeout: Duration = .seconds(300)
    static let commandTimeout: Duration = .seconds(120)
    static let readyLine = "hyve-guest: init ready"

    private func boot(cpus: Int, kernel: String = LinuxGuest.vmlinux, options: [String] = [],
                      append: String = "console=ttyS0 panic=-1") throws -> ConsoleSession {
        try LinuxGuest.requireBuilt()
        return try ConsoleSession(HyveBinary.path, ["-c", "\(cpus)", "-m", "256M", "-l", "com1,stdio", "--boot-timer",
                                                    "--kernel", kernel, "--initrd", LinuxGuest.initramfs,
                                                    "--append", append] + options)
    }

    /// Runs `commands` in the guest's shell in one line (each fork costs about a second here) and
    /// returns what they printed between two markers.
    private func run(_ commands: String, in session: ConsoleSession, after offset: Int) -> String? {
        // printf writes the markers, so the terminal's echo of the command line cannot match them.
        session.send("printf '@@%s\\n' BEGIN; \(commands); printf '@@%s\\n' END\n")
        guard let begin = session.waitFor("\n@@BEGIN", after: offset, timeout: Self.commandTimeout),
              let end = session.waitFor("\n@@END", after: begin, timeout: Self.commandTimeout) else { return nil }
        return session.output(from: begin, to: end - "\n@@END".count).replacingOccurrences(of: "\r", with: "")
    }

    private func section(_ name: String, of output: String) -> [Substring] {
        guard let start = output.range(of: "@@\(name)\n") else { return [] }
        let rest = output[start.upperBound...]
        let end = rest.range(of: "\n@@")?.lowerBound ?? rest.endIndex
        return rest[..<end].split(separator: "\n")
    }

    /// The count column(s) of the `/proc/interrupts` line whose description contains `device`.
    private func interruptCount(_ device: String, in lines: [Substring]) -> (count: Int, controller: String)? {
        guard let line = lines.first(where: { $0.hasSuffix(device) || $0.contains(" \(device)") }) else { return nil }
        let fields = line.split(separator: " ")
        let counts = fields.dropFirst().prefix { Int($0) != nil }.compactMap { Int($0) }
        return (counts.reduce(0, +), fields.dropFirst(1 + counts.count).joined(separator: " "))
    }

    /// One vCPU boots the ELF vmlinux by PVH; two boot the bzImage by the 64-bit boot protocol (its
    /// decompressor costs about half a minute here) with KVM's local APICs, and the vmlinux with
    /// Hyve's own (`--lapic user`).
    @Test(arguments: [(1, LinuxGuest.vmlinux, "kernel"), (2, LinuxGuest.bzImage, "kernel"), (2, LinuxGuest.vmlinux, "user")])
    func linuxBootsToItsShellAndSeesThePlatform(cpus: Int, kernel: String, lapic: String) throws {
        let session = try boot(cpus: cpus, kernel: kernel, options: ["--lapic", lapic])
        defer { session.terminate() }
        let ready = try #require(session.waitFor(Self.readyLine, timeout: Self.bootTimeout),
                                 "no shell within \(Self.bootTimeout): \(session.output.suffix(3000))")
        #expect(session.output.contains("hyve: boot marker 0x"), "the initramfs marks its start on port 0x80")

        let output = try #require(run("""
            echo @@cmdline; cat /proc/cmdline; echo @@cpus; grep -c ^processor /proc/cpuinfo; \
            echo @@interrupts; cat /proc/interrupts; echo @@acpi; dmesg | grep -i acpi; \
            echo @@clocksource; cat /sys/devices/system/clocksource/clocksource0/current_clocksource
            """, in: session, after: ready), "the shell did not answer: \(session.output.suffix(3000))")

        #expect(section("cmdline", of: output).first?.hasPrefix("console=ttyS0 panic=-1") == true)
        #expect(section("cpus", of: output) == ["\(cpus)"])

        let interrupts = section("interrupts", of: output)
        let timer = try #require(interruptCount("timer", in: interrupts), "\(interrupts)")
        #expect(timer.controller.contains("IO-APIC"))
        let serial = try #require(interruptCount("ttyS0", in: interrupts), "\(interrupts)")
        #expect(serial.controller.contains("IO-APIC"))
        #expect(serial.count > 0, "the serial port's interrupt counts")

        let acpi = section("acpi", of: output)
        for table in ["RSDP", "XSDT", "FACP", "DSDT", "APIC", "HPET", "MCFG"] {
            #expect(acpi.contains { $0.contains("ACPI: \(table) ") }, "Linux found the \(table) table")
        }
        #expect(!acpi.contains { $0.contains("Error") || $0.contains("error") }, "\(acpi)")

        let clocksource = section("clocksource", of: output)
        #expect(clocksource.count == 1 && ["tsc", "hpet", "kvm-clock", "acpi_pm"].contains(String(clocksource[0])))

        session.send("poweroff -f\n")
        #expect(session.waitForExit(timeout: Self.commandTimeout) == 1, "poweroff ends hyve with status 1")
    }

    @Test func rebootReBootsInPlaceAndNoRebootEndsWithStatusZero() throws {
        let session = try boot(cpus: 1)
        defer { session.terminate() }
        let first = try #require(session.waitFor(Self.readyLine, timeout: Self.bootTimeout),
                                 "no shell: \(session.output.suffix(3000))")
        session.send("reboot -f\n")
        let second = try #require(session.waitFor(Self.readyLine, after: first, timeout: Self.bootTimeout),
                                  "no shell after the reboot: \(session.output.suffix(3000))")
        #expect(session.output(from: first, to: second).contains("Linux version"), "the kernel booted again")
        session.send("poweroff -f\n")
        #expect(session.waitForExit(timeout: Self.commandTimeout) == 1)

        let once = try boot(cpus: 1, options: ["--no-reboot"])
        defer { once.terminate() }
        _ = try #require(once.waitFor(Self.readyLine, timeout: Self.bootTimeout), "no shell: \(once.output.suffix(3000))")
        once.send("reboot -f\n")
        #expect(once.waitForExit(timeout: Self.commandTimeout) == 0, "with --no-reboot a reset ends hyve with status 0")
    }

    /// With instruction emulation, the test kernel needs none of this host's command-line
    /// work-arounds: it sees the host's features (POPCNT, SMAP's CLAC/STAC, ERMS, …) and runs the
    /// instructions the host's KVM cannot emulate, int3 included (the boot-time self-test).
    @Test(.enabled(if: HostKVM.emulatesGuestKernelCode, "only a kvm_pvm host leaves these instructions to the VMM"))
    func linuxBootsWithoutHostWorkaroundsThroughInstructionEmulation() throws {
        let session = try boot(cpus: 1, options: ["--no-host-workarounds", "--verbose"],
                               append: "console=ttyS0 panic=-1 int3_selftest")
        defer { session.terminate() }
        let ready = try #require(session.waitFor(Self.readyLine, timeout: Self.bootTimeout),
                                 "no shell: \(session.output.suffix(3000))")
        let output = try #require(run("echo @@cmdline; cat /proc/cmdline; echo @@flags; grep -m1 ^flags /proc/cpuinfo",
                                      in: session, after: ready), "the shell did not answer: \(session.output.suffix(3000))")
        #expect(section("cmdline", of: output) == ["console=ttyS0 panic=-1 int3_selftest"])
        let flags = Set((section("flags", of: output).first ?? "").split(separator: " ").map(String.init))
        #expect(flags.contains("popcnt"), "\(flags)")
        session.send("poweroff -f\n")
        #expect(session.waitForExit(timeout: Self.commandTimeout) == 1)
        #expect(session.output.contains("hyve: instructions emulated in user space: "), "--verbose reports them at exit")
    }
}
