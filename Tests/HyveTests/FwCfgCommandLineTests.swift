import Foundation
import Testing
import TestSupport

private func temporaryFile(_ name: String, _ contents: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("hyve-\(getpid())-\(name)").path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The fw_cfg guest's report for a 64 MiB, 2-vCPU machine, up to its list of files.
private let sixtyFourMiBTwoCPUs = """
    id 0x3 cpus 2 ram 0x04000000
    file bootorder 0
    file etc/e820 100
    e820 0x000000000 0x0000a0000 1
    e820 0x0000a0000 0x000060000 2
    e820 0x000100000 0x003f00000 1
    e820 0x0e0000000 0x010000000 2
    e820 0x0fec00000 0x001400000 2
    file opt/bhyve/hw.ncpu 4: ....

    """

/// A guest reading QEMU's fw_cfg through `hyve -f` and `--fwcfg`.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct FwCfgCommandLineTests {
    @Test func guestReadsCPUsRAMTheE820MapAndUserFilesByPortAndDMA() throws {
        let blob = try temporaryFile("blob", "abc")
        defer { try? FileManager.default.removeItem(atPath: blob) }
        let result = HyveBinary.run(["-c", "2", "-m", "64M", "-f", "opt/hyve/greeting,string=hello",
                                     "-f", "name=opt/hyve/blob,file=\(blob)", "--program", try GuestPrograms.path("fwcfg.bin")])
        #expect(result.standardOutput == sixtyFourMiBTwoCPUs + "file opt/hyve/blob 3: abc\nfile opt/hyve/greeting 6: hello.\nfw_cfg ok\n")
        #expect(result.status == (0x27 << 1) | 1, "stderr: \(result.standardError)")
    }

    @Test func withoutFilesThereIsNoFwCfgUnlessAsked() throws {
        let program = try GuestPrograms.path("fwcfg.bin")
        #expect(HyveBinary.run(["--program", program]).standardOutput == "no fw_cfg\n")
        let asked = HyveBinary.run(["--fwcfg", "qemu", "-m", "64M", "-c", "2", "--program", program])
        #expect(asked.standardOutput == sixtyFourMiBTwoCPUs + "fw_cfg ok\n")
    }

    @Test(arguments: [
        (["-f", "opt/x,file=/nonexistent/blob"], "hyve: cannot read fw_cfg file '/nonexistent/blob': No such file or directory\n"),
        (["--fwcfg", "none", "-f", "opt/x,string=1"], "hyve: fw_cfg files (-f) need the QEMU fw_cfg device (--fwcfg qemu or lpc.fwcfg=qemu)\n"),
        (["-f", "bootorder,string=x"], "hyve: fw_cfg file 'bootorder' is one Hyve provides itself\n"),
        (["-f", "opt/x,string=1", "-f", "opt/x,string=2"], "hyve: fw_cfg file 'opt/x' is given twice\n"),
    ])
    func badFilesGetOneClearLineAndStatusFour(arguments: [String], message: String) throws {
        let result = HyveBinary.run(arguments + ["--program", try GuestPrograms.path("fwcfg.bin")])
        #expect(result.status == 4)
        #expect(result.standardOutput == "")
        #expect(result.standardError == message)
    }
}

/// `hyve -k FILE` and `-o KEY=VALUE` against the equivalent options.
@Suite(.enabled(if: HostKVM.testsEnabled, "needs /dev/kvm"))
struct ConfigFileCommandLineTests {
    @Test func aConfigFileRunsTheSameMachineAsTheEquivalentOptions() throws {
        let program = try GuestPrograms.path("fwcfg.bin")
        let config = try temporaryFile("vm.conf", """
            # the machine of the options below
            name=fwcfg
            cpus=2
            memory.size=64M
            pci.0.0.0.device=hostbridge
            pci.0.31.0.device=lpc
            hyve.program=\(program)
            hyve.fwcfg.0=opt/hyve/greeting,string=hello from %(name)

            """)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let fromFile = HyveBinary.run(["-k", config])
        let fromOptions = HyveBinary.run(["--name", "fwcfg", "-c", "2", "-m", "64M", "-s", "0,hostbridge", "-s", "31,lpc",
                                          "-f", "opt/hyve/greeting,string=hello from fwcfg", "--program", program])
        #expect(fromFile.standardOutput == sixtyFourMiBTwoCPUs + "file opt/hyve/greeting 17: hello from fwcfg.\nfw_cfg ok\n")
        #expect(fromFile.standardOutput == fromOptions.standardOutput)
        #expect(fromFile.status == fromOptions.status && fromFile.status == (0x27 << 1) | 1, "stderr: \(fromFile.standardError)")
    }

    @Test func optionsWinOverTheFileAndSettingsOverBoth() throws {
        let config = try temporaryFile("override.conf", "cpus=2\nmemory.size=64M\nhyve.program=\(try GuestPrograms.path("fwcfg.bin"))\nlpc.fwcfg=qemu\n")
        defer { try? FileManager.default.removeItem(atPath: config) }
        let result = HyveBinary.run(["-k", config, "-o", "memory.size=32M", "-c", "1"])
        #expect(result.standardOutput.hasPrefix("id 0x3 cpus 1 ram 0x02000000\n"), "stdout: \(result.standardOutput)")
    }

    @Test(arguments: [
        (["-k", "/nonexistent/vm.conf"], "hyve: cannot read configuration file '/nonexistent/vm.conf': No such file or directory\n"),
        (["-o", "cpus"], "hyve: -o: invalid setting 'cpus' (expected KEY=VALUE)\n"),
        (["-o", "memory.sise=1G", "--program", "/dev/null"],
         "hyve: memory.sise (-o): unknown configuration variable (or one Hyve does not implement)\n"),
    ])
    func badConfigurationGetsOneClearLineAndStatusFour(arguments: [String], message: String) {
        let result = HyveBinary.run(arguments)
        #expect(result.status == 4)
        #expect(result.standardError == message)
    }

    @Test func aMalformedLineIsReportedWithItsFileAndLine() throws {
        let config = try temporaryFile("bad.conf", "cpus=2\n\nthis is not a setting\n")
        defer { try? FileManager.default.removeItem(atPath: config) }
        let result = HyveBinary.run(["-k", config])
        #expect(result.status == 4)
        #expect(result.standardError == "hyve: \(config) line 3: invalid setting 'this is not a setting' (expected KEY=VALUE)\n")
    }
}
