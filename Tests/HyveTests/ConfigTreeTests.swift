import Testing
import Hyve
import VMM

@Suite struct ConfigTreeTests {
    private func tree(_ contents: String, options: [String] = []) throws -> ConfigTree {
        var tree = ConfigTree()
        try tree.parse(contents: contents, path: "vm.conf")
        for option in options { try tree.parse(option, origin: .option) }
        return tree
    }

    @Test func commentsBlankLinesAndDottedKeysParse() throws {
        let tree = try tree("""
            # a VM
            name=test

              memory.size=64M
            \t# indented comment
            pci.0.31.0.device=lpc\r
            hyve.append=console=ttyS0 quiet
            """)
        #expect(tree.paths == ["hyve.append", "memory.size", "name", "pci.0.31.0.device"])
        #expect(try tree.value("memory.size") == "64M")
        #expect(try tree.value("pci.0.31.0.device") == "lpc")
        #expect(try tree.value("hyve.append") == "console=ttyS0 quiet")
        #expect(tree.origin("memory.size") == .file("vm.conf", line: 4))
    }

    @Test func laterSettingsAndOptionsOverrideEarlierOnes() throws {
        let tree = try tree("cpus=1\ncpus=2\nname=a\n", options: ["cpus=4"])
        #expect(try tree.value("cpus") == "4")
        #expect(tree.origin("cpus") == .option)
        #expect(tree.origin("name") == .file("vm.conf", line: 3))
    }

    @Test(arguments: [
        ("cpus=2\nnonsense\n", "vm.conf line 2: invalid setting 'nonsense' (expected KEY=VALUE)"),
        ("cpus=2\n\nmemory.size=\n", "vm.conf line 3: invalid setting 'memory.size=' (expected KEY=VALUE)"),
        ("=1", "vm.conf line 1: invalid configuration variable name ''"),
        ("pci..device=lpc", "vm.conf line 1: invalid configuration variable name 'pci..device'"),
        ("memory size=1G", "vm.conf line 1: invalid configuration variable name 'memory size'"),
        ("lpc=1\nlpc.com1.path=stdio", "vm.conf line 2: 'lpc.com1.path' cannot be set below the variable 'lpc' (vm.conf line 1)"),
        ("lpc.com1.path=stdio\nlpc.com1=x", "vm.conf line 2: 'lpc.com1' is a node holding 'lpc.com1.path' (vm.conf line 1), not a variable"),
    ])
    func malformedLinesAreRefusedWithTheirLineNumber(contents: String, message: String) {
        #expect(throws: HyveError(message)) { try tree(contents) }
    }

    @Test func optionsNeedAKeyAndAValue() {
        var tree = ConfigTree()
        #expect(throws: HyveError("-o: invalid setting 'cpus' (expected KEY=VALUE)")) { try tree.parse("cpus", origin: .option) }
        #expect(throws: HyveError("-o: invalid setting 'cpus=' (expected KEY=VALUE)")) { try tree.parse("cpus=", origin: .option) }
    }

    @Test func valuesExpandReferencesAndEscapes() throws {
        let tree = try tree("""
            name=web
            dir=/vms/%(name)
            hyve.kernel=%(dir)/vmlinuz
            hyve.append=100% \\%(name) %name
            """)
        #expect(try tree.value("hyve.kernel") == "/vms/web/vmlinuz")
        #expect(try tree.value("hyve.append") == "100% %(name) %name")
    }

    @Test func undefinedAndCircularReferencesAreRefused() throws {
        #expect(throws: HyveError("vm.conf line 1: 'a' refers to 'b', which is not set")) { try tree("a=%(b)").value("a") }
        #expect(throws: HyveError.self) { try tree("a=%(b)\nb=%(a)").value("a") }
    }

    @Test func aMissingFileIsOneClearError() {
        var tree = ConfigTree()
        #expect(throws: HyveError("cannot read configuration file '/nonexistent/vm.conf': No such file or directory")) {
            try tree.load(file: "/nonexistent/vm.conf")
        }
    }
}

@Suite struct ConfigTreeMappingTests {
    private func config(_ contents: String) throws -> MachineConfig {
        var tree = ConfigTree()
        try tree.parse(contents: contents, path: "vm.conf")
        return try MachineConfig(tree)
    }

    @Test func anEmptyTreeIsTheDefaultMachine() throws {
        let config = try config("")
        let defaults = MachineConfig()
        #expect(config.name == defaults.name && config.cpus == defaults.cpus && config.memorySize == defaults.memorySize)
        #expect(config.pciSlots.isEmpty && config.serialPorts.isEmpty && config.pinning.isEmpty)
        #expect(config.cpuid == CPUIDPolicy() && config.fwCfg == nil && config.program == nil && config.kernel == nil)
    }

    @Test func bhyveVariablesMapOntoTheMachine() throws {
        let config = try config("""
            name=vm1
            cpus=2
            memory.size=1G
            memory.wired=YES
            vcpu.0.cpuset=3
            vcpu.1.cpuset=2
            x86.strictio=on
            x86.vmexit_on_hlt=true
            destroy_on_poweroff=1
            rtc.use_localtime=true
            lpc.com1.path=stdio
            lpc.com2.path=file=/tmp/com2.log
            lpc.fwcfg=qemu
            pci.0.0.0.device=hostbridge
            pci.0.3.1.device=pci-testdev
            pci.0.31.0.device=lpc
            pci.0.31.0.pcireg.vendor=0x1234
            """)
        #expect(config.name == "vm1")
        #expect(config.cpus == 2)
        #expect(config.memorySize == 1 << 30)
        #expect(config.wired && config.strictIO && config.rtcLocalTime)
        #expect(config.pinning == [0: 3, 1: 2])
        #expect(config.serialPorts == [SerialPortSpec(port: 1, backend: .stdio), SerialPortSpec(port: 2, backend: .file("/tmp/com2.log"))])
        #expect(config.fwCfg == .qemu)
        var lpc = PCISlotSpec(slot: 31, emulation: .lpc)
        lpc.identity.vendorID = 0x1234
        #expect(config.pciSlots == [PCISlotSpec(slot: 0, emulation: .hostbridge), PCISlotSpec(slot: 3, function: 1, emulation: .pciTestdev), lpc])
    }

    @Test func hyveVariablesChooseTheGuestAndItsOptions() throws {
        let kernel = try config("""
            hyve.kernel=/boot/vmlinuz
            hyve.initrd=/boot/initrd
            hyve.append=console=ttyS0
            hyve.cpuid=-avx x2apic=off
            hyve.no_reboot=true
            hyve.host_workarounds=off
            hyve.boot_timer=on
            hyve.fwcfg.10=opt/b,file=/etc/hostname
            hyve.fwcfg.2=opt/a,string=x
            """)
        #expect(kernel.kernel?.kernel == "/boot/vmlinuz" && kernel.kernel?.initrd == "/boot/initrd")
        #expect(kernel.kernel?.commandLine == "console=ttyS0")
        #expect(kernel.cpuid == CPUIDPolicy(x2APIC: false, hiddenFeatures: [.avx]))
        #expect(kernel.noReboot && !kernel.hostWorkarounds && kernel.bootTimer)
        #expect(kernel.fwCfgFiles == [FwCfgFileSpec(name: "opt/a", content: .string("x")),
                                      FwCfgFileSpec(name: "opt/b", content: .file("/etc/hostname"))])
        #expect(kernel.fwCfgMode == .qemu)

        let program = try config("hyve.program=/p.bin\nhyve.mode=real\nhyve.load_address=0x7c00\nlpc.fwcfg=bhyve")
        #expect(program.program?.path == "/p.bin" && program.program?.mode == .real && program.program?.loadAddress == 0x7C00)
        #expect(program.fwCfgMode == FwCfgMode.none)
    }

    @Test func topologyFollowsBhyve() throws {
        let derived = try config("sockets=2\ncores=2\nthreads=2")
        #expect(derived.cpus == 8)
        #expect(derived.cpuid.topology == CPUTopology(sockets: 2, cores: 2, threads: 2))
        let matching = try config("cpus=4\nsockets=1\ncores=4")
        #expect(matching.cpus == 4 && matching.cpuid.topology == CPUTopology(sockets: 1, cores: 4, threads: 1))
        // As bhyve: sockets defaults to cpus, so cores=2 alone doubles the count.
        #expect(throws: HyveError("cpus (vm.conf line 1): the topology (4 sockets, 2 cores, 1 threads) does not match 4 vCPUs")) {
            try config("cpus=4\ncores=2")
        }
    }

    @Test(arguments: [
        ("memory.sise=1G", "memory.sise (vm.conf line 1): unknown configuration variable (or one Hyve does not implement)"),
        ("acpi_tables=false", "acpi_tables (vm.conf line 1): unknown configuration variable (or one Hyve does not implement)"),
        ("cpus=0", "cpus (vm.conf line 1): invalid value '0' (expected 1-65535)"),
        ("memory.size=lots", "memory.size (vm.conf line 1): invalid memory size 'lots' (expected a number with an optional K, M, G or T suffix)"),
        ("x86.strictio=maybe", "x86.strictio (vm.conf line 1): invalid boolean 'maybe'"),
        ("lpc.com5.path=stdio", "lpc.com5.path (vm.conf line 1): unknown configuration variable (or one Hyve does not implement)"),
        ("lpc.com1.path=tty", "lpc.com1.path (vm.conf line 1): unknown serial back end 'tty' in 'com1,tty' (expected stdio, file=PATH or socket=PATH)"),
        ("lpc.fwcfg=fwctl", "lpc.fwcfg (vm.conf line 1): expected qemu, bhyve or none, not 'fwctl'"),
        ("pci.0.3.0.device=frob", "pci.0.3.0.device (vm.conf line 1): unknown PCI emulation 'frob'"),
        ("pci.0.3.0.pcireg.vendor=1", "pci.0.3.0.pcireg.vendor (vm.conf line 1): pci.0.3.0 has no device"),
        ("pci.0.3.device=lpc", "pci.0.3.device (vm.conf line 1): expected pci.BUS.SLOT.FUNCTION.device or an option of that function"),
        ("pci.0.3.0.device=lpc\npci.0.4.0.device=lpc", "only one LPC bridge is allowed ('0:4:0,lpc')"),
        ("vcpu.0.cpuset=1-3", "vcpu.0.cpuset (vm.conf line 1): invalid value '1-3' (Hyve pins a vCPU to one host CPU, given by its number)"),
        ("hyve.program=/a\nhyve.kernel=/b", "hyve.kernel (vm.conf line 2): hyve.program and hyve.kernel cannot both be set"),
        ("hyve.kernel=/b\nhyve.mode=long", "hyve.mode (vm.conf line 2): applies to hyve.program, not hyve.kernel"),
        ("hyve.append=quiet", "hyve.append (vm.conf line 1): no hyve.program or hyve.kernel to apply it to"),
        ("hyve.cpuid=hide=avx9", "hyve.cpuid (vm.conf line 1): unknown CPU feature 'avx9'"),
        ("hyve.fwcfg.1=opt/a,string=1\nhyve.fwcfg.2=opt/a,string=2", "hyve.fwcfg.2 (vm.conf line 2): fw_cfg file 'opt/a' is given twice"),
    ])
    func badVariablesAreRefusedByName(contents: String, message: String) {
        #expect(throws: HyveError(message)) { try config(contents) }
    }

    @Test func localAPICVariablesChooseWhoseAPICsAndX2APICMode() throws {
        let user = try config("hyve.lapic=user\nx86.x2apic=yes")
        #expect(user.localAPIC == .user && user.x2APIC)
        let defaults = try config("")
        #expect(defaults.localAPIC == .kernel && !defaults.x2APIC)
        #expect(throws: HyveError("hyve.lapic (vm.conf line 1): expected kernel or user, not 'both'")) {
            try config("hyve.lapic=both")
        }
    }
}

@Suite struct CommandLineMergeTests {
    @Test func slotOptionsReplaceTheFunctionAtTheirAddressAndKeepTheOthers() throws {
        let base = [PCISlotSpec(slot: 0, emulation: .hostbridge), PCISlotSpec(slot: 31, emulation: .lpc)]
        let merged = try PCISlotSpec.parse(["0,amd_hostbridge", "3,pci-testdev"], over: base)
        #expect(merged == [PCISlotSpec(slot: 31, emulation: .lpc), PCISlotSpec(slot: 0, emulation: .amdHostbridge),
                           PCISlotSpec(slot: 3, emulation: .pciTestdev)])
        #expect(throws: HyveError("only one LPC bridge is allowed ('30,lpc')")) { try PCISlotSpec.parse(["30,lpc"], over: base) }
    }

    @Test func lpcOptionsReplaceTheirPortAndStillAllowOneStdio() throws {
        let base = [SerialPortSpec(port: 1, backend: .stdio), SerialPortSpec(port: 2, backend: .file("/a"))]
        #expect(try SerialPortSpec.parse(["com1,file=/b"], over: base)
            == [SerialPortSpec(port: 2, backend: .file("/a")), SerialPortSpec(port: 1, backend: .file("/b"))])
        #expect(throws: HyveError("only one serial port can use stdio")) { try SerialPortSpec.parse(["com2,stdio"], over: base) }
    }

    @Test func fwCfgFileOptionsReplaceTheFileOfTheSameName() throws {
        let base = [FwCfgFileSpec(name: "opt/a", content: .string("file")), FwCfgFileSpec(name: "opt/b", content: .string("b"))]
        #expect(try FwCfgFileSpec.parse(["name=opt/a,string=cli"], over: base)
            == [FwCfgFileSpec(name: "opt/b", content: .string("b")), FwCfgFileSpec(name: "opt/a", content: .string("cli"))])
    }

    @Test func cpuidDirectivesApplyOverTheFilesPolicy() throws {
        let base = try CPUIDPolicy.parse(["-avx", "x2apic=off"])
        #expect(try CPUIDPolicy.parse(["+avx"], onto: base) == CPUIDPolicy(x2APIC: false))
    }
}

@Suite struct FwCfgFileSpecTests {
    @Test func bhyveFileOptionsParse() throws {
        #expect(try FwCfgFileSpec.parse("opt/com.example/x,string=a,b=c")
            == FwCfgFileSpec(name: "opt/com.example/x", content: .string("a,b=c")))
        #expect(try FwCfgFileSpec.parse("name=opt/y,file=/tmp/y") == FwCfgFileSpec(name: "opt/y", content: .file("/tmp/y")))
        #expect(try FwCfgFileSpec.parse("opt/empty,string=") == FwCfgFileSpec(name: "opt/empty", content: .string("")))
    }

    @Test(arguments: ["opt/x", ",string=a", "opt/x,file=", "opt/x,data=1"])
    func malformedFileOptionsAreRefused(text: String) {
        #expect(throws: HyveError("invalid fw_cfg file '\(text)' (expected NAME,string=VALUE or NAME,file=PATH)")) {
            try FwCfgFileSpec.parse(text)
        }
    }

    @Test func namesOf56BytesOrMoreAreRefused() throws {
        let longest = String(repeating: "n", count: 55)
        #expect(try FwCfgFileSpec.parse(longest + ",string=x").name == longest)
        #expect(throws: HyveError("fw_cfg file name '\(longest)n' is too long (at most 55 bytes)")) {
            try FwCfgFileSpec.parse(longest + "n,string=x")
        }
    }
}
