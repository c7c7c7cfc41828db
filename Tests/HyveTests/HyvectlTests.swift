import Foundation
import Glibc
import HyveControl
import Testing
import TestSupport

extension ControlGuestTests {
    /// `hyve --name` serving its control socket and `hyvectl --vm` driving it, as a user would, each
    /// VM in a runtime directory of its own.
    @Suite
    struct HyvectlTests {
        /// A control-target VM started with `hyve --name NAME`, ready for hyvectl.
        final class VM {
            let runtime = ControlRuntimeDirectory()
            let name: String
            let process: HyveProcess
            let target: ControlTarget

            init(_ name: String, cpus: Int = 1, program: String = ControlTarget.program) throws {
                self.name = name
                process = try HyveProcess(["--name", name, "-c", "\(cpus)", "--program", try GuestPrograms.path(program)],
                                          environment: runtime.environment)
                #expect(process.waitForOutput("ready\n"), "output: \(process.output) \(process.errorOutput)")
                target = try #require(ControlTarget(output: process.output), "output: \(process.output)")
            }

            deinit { process.terminate() }

            var socket: String { runtime.socketDirectory + "/" + name + ".sock" }

            /// hyvectl with `--vm=NAME` and `arguments`.
            func ctl(_ arguments: String...) -> Subprocess.Result {
                runtime.hyvectl(["--vm=\(name)"] + arguments)
            }

            /// The value of a `REG[VCPU]\t…0x…` line.
            func register(_ name: String, vcpu: Int = 0, in output: String) -> UInt64? {
                output.split(separator: "\n").first { $0.hasPrefix("\(name)[\(vcpu)]\t") }
                    .flatMap { $0.split(separator: "\t").last }.flatMap { ControlTarget.hex($0) }
            }

            /// The guest's last line: its exception report, if it took one.
            var lastLine: String { process.output.split(separator: "\n").last.map(String.init) ?? "" }
        }

        @Test func hyvectlInspectsAndSteersARunningVMUntilForcePoweroff() throws {
            let vm = try VM("main", cpus: 2)
            #expect(vm.runtime.hyvectl(["--list"]).standardOutput == "main\n")
            #expect(vm.runtime.hyvectl(["list"]).standardOutput == "main\n")
            #expect(vm.ctl("--get-active-cpus").standardOutput == "active cpus:\t 0, 1\n")
            #expect(vm.ctl("--get-suspended-cpus").standardOutput == "suspended cpus:\t (none)\n")

            let rip = vm.register("rip", in: vm.ctl("--get-rip").standardOutput)
            #expect(rip.map(vm.target.loop.contains) == true, "rip \(String(describing: rip))")
            let all = vm.ctl("--get-all")
            #expect(all.status == 0, "\(all.standardError)")
            #expect(vm.register("rip", in: all.standardOutput).map(vm.target.loop.contains) == true)
            for line in ["cr3[0]\t\t0x0000000000002000", "cs[0]\t\t0x0018", "active cpus:\t 0, 1", "pending:\tn/a",
                         "cpu_topology:\tsockets=1, cores=2, threads=1, maxcpus=2", "x2apic_state[0]\t1"] {
                #expect(all.standardOutput.contains(line + "\n"), "\(line) missing from \(all.standardOutput)")
            }
            #expect(all.standardOutput.contains("idtr[0]\t\t0x"))
            #expect(all.standardOutput.contains("cs desc[0]\t0x0000000000000000/0xffffffff/0x0000a09b\n"))

            #expect(vm.ctl("--set-rax=0x1234").status == 0)
            #expect(vm.process.waitForOutput("rax 0x0000000000001234\n"))

            let stats = vm.ctl("--get-stats").standardOutput
            #expect(stats.hasPrefix("vcpu0 stats:\n"))
            let portIOLine = stats.split(separator: "\n").first { $0.hasPrefix("number of times in/out was intercepted") }
            let portIO: UInt64? = portIOLine.flatMap { $0.split(separator: "\t").last }.flatMap { UInt64($0) }
            #expect((portIO ?? 0) > 50, "\(stats)")

            #expect(vm.ctl("--get-memmap").standardOutput == """
                Address     Length      Segment     Offset      Prot  Flags
                0           256MB       sysmem      0           RWX   \n
                """)
            #expect(vm.ctl("--get-lowmem", "--get-highmem").standardOutput
                    == "lowmem\t\t0x0000000000000000/268435456\nhighmem\t\t0x0000000100000000/0\n")

            let alias = String(vm.target.alias + 0x18, radix: 16)
            let expected = "gla2gpa[0]\t0x\(alias) -> \(Self.hex16(vm.target.aliasTarget + 0x18))\n"
            #expect(vm.ctl("--gla=0x\(alias)", "--gla2gpa-nofault").standardOutput == expected)
            #expect(vm.ctl("--gla=0x\(alias)", "--gla2gpa", "--access=write").standardOutput == expected)
            #expect(vm.ctl("--gla=0x\(String(vm.target.alias, radix: 16))", "--copyin=8").standardOutput
                    == "0x\(String(vm.target.alias, radix: 16)): 5a 5a 5a 5a 5a 5a 5a 5a\n")

            // vCPU 1 waits in HLT with interrupts off, right after the instruction.
            let halted = vm.ctl("--cpu=1", "--get-rip", "--get-rflags").standardOutput
            #expect(vm.register("rflags", vcpu: 1, in: halted).map { $0 & 0x200 } == 0, "\(halted)")
            let poweroff = vm.ctl("--force-poweroff")
            #expect(poweroff.status == 0, "\(poweroff.standardError)")
            #expect(vm.process.waitForExit() == 1)
            #expect(access(vm.socket, F_OK) != 0)
            #expect(vm.runtime.hyvectl(["--list"]).standardOutput == "")
            let gone = vm.ctl("--get-rip")
            #expect(gone.status == 1)
            #expect(gone.standardError == "hyvectl: no VM named 'main' is running (no control socket at '\(vm.socket)')\n")
        }

        static func hex16(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
        }

        /// Checks that the guest reported `exception 0xVV error 0x<code> rip <in its loop>` and ended.
        static func expectException(_ vm: VM, vector: String, errorCode: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(vm.process.waitForExit() == 3, sourceLocation: sourceLocation)
            let words = vm.lastLine.split(separator: " ")
            #expect(words.count == 6 && words[0] == "exception" && words[1] == "0x\(vector)", "output: \(vm.process.output)",
                    sourceLocation: sourceLocation)
            guard words.count == 6 else { return }
            #expect(ControlTarget.hex(words[3]) == errorCode, sourceLocation: sourceLocation)
            #expect(ControlTarget.hex(words[5]).map(vm.target.loop.contains) == true, "\(vm.lastLine)", sourceLocation: sourceLocation)
        }

        @Test func spinningGuestReceivesAnInjectedNMI() throws {
            let vm = try VM("nmi", program: ControlTarget.spinningProgram)
            #expect(vm.ctl("--inject-nmi").status == 0)
            Self.expectException(vm, vector: "02", errorCode: 0)
        }

        @Test func injectedGeneralProtectionFaultReachesItsHandlerWithItsErrorCode() throws {
            let vm = try VM("gp")
            let intinfo = vm.ctl("--get-intinfo").standardOutput
            #expect(intinfo == "pending:\tn/a\ncurrent:\tn/a\n")
            #expect(vm.ctl("--inject-exception=13", "--error-code=0x18").status == 0)
            Self.expectException(vm, vector: "0d", errorCode: 0x18)
        }

        @Test func injectedInvalidOpcodeReachesItsHandler() throws {
            let vm = try VM("ud")
            #expect(vm.ctl("--inject-exception=6").status == 0)
            Self.expectException(vm, vector: "06", errorCode: 0)
        }

        @Test func gla2gpaWithFaultInjectsThePageFault() throws {
            let vm = try VM("pf")
            let result = vm.ctl("--gla=0xffff800000400000", "--gla2gpa")
            #expect(result.standardOutput
                    == "gla2gpa[0]\t0xffff800000400000 -> fault: #PF error code 0x0 at 0xffff800000400000 (injected)\n")
            #expect(vm.process.waitForExit() == 3)
            #expect(vm.lastLine.hasPrefix("exception 0x0e error 0x0000000000000000 rip "), "\(vm.process.output)")
        }

        /// Address of byte 5 (type and present bit) of IDT gate `vector`.
        static func gateAccessByte(_ vm: VM, _ vector: UInt64) throws -> String {
            let line = try #require(vm.ctl("--get-desc-idtr").standardOutput.split(separator: "\t").last)
            let base = try #require(ControlTarget.hex(line.split(separator: "/")[0]))
            return "--gla=0x" + String(base + vector * 16 + 5, radix: 16)
        }

        @Test func exceptionWhoseDeliveryFaultsBecomesADoubleFault() throws {
            let vm = try VM("df")
            // Gate 13 not present: delivering #GP raises #NP, contributory on contributory.
            #expect(vm.ctl(try Self.gateAccessByte(vm, 13), "--copyout=0e", "--inject-exception=13", "--error-code=0").status == 0)
            Self.expectException(vm, vector: "08", errorCode: 0)
        }

        @Test func faultWhileDeliveringTheDoubleFaultEndsTheVMWithTripleFault() throws {
            let vm = try VM("tf")
            #expect(vm.ctl(try Self.gateAccessByte(vm, 8), "--copyout=0e").status == 0)
            #expect(vm.ctl(try Self.gateAccessByte(vm, 13), "--copyout=0e", "--inject-exception=13", "--error-code=0").status == 0)
            #expect(vm.process.waitForExit() == 3)
            #expect(!vm.process.output.contains("exception"))
            #expect(vm.process.errorOutput == "")
        }

        @Test func secondVMWithALiveNameIsRefusedInOneLine() throws {
            let vm = try VM("twin")
            let second = Subprocess.run(HyveBinary.path, ["--name", "twin", "--program", try GuestPrograms.path(ControlTarget.program)],
                                        environment: vm.runtime.environment)
            #expect(second.status == 4)
            #expect(second.standardError == "hyve: a VM named 'twin' is already running (its control socket is '\(vm.socket)')\n")
            #expect(vm.ctl("--get-active-cpus").standardOutput == "active cpus:\t 0\n")
        }

        @Test func vmNamedByTheNameVariableServesItsSocketAndTheDefaultNameDoesNot() throws {
            let runtime = ControlRuntimeDirectory()
            let program = try GuestPrograms.path(ControlTarget.program)
            let named = try HyveProcess(["-o", "name=configured", "--program", program], environment: runtime.environment)
            defer { named.terminate() }
            let unnamed = try HyveProcess(["--program", program], environment: runtime.environment)
            defer { unnamed.terminate() }
            #expect(named.waitForOutput("ready\n") && unnamed.waitForOutput("ready\n"))
            #expect(runtime.hyvectl(["--list"]).standardOutput == "configured\n")
            #expect(runtime.hyvectl(["--vm=configured", "--force-poweroff"]).status == 0)
            #expect(named.waitForExit() == 1)
        }

        @Test func destroyEndsHyveWithStatusFourAndRemovesTheSocket() throws {
            let vm = try VM("doomed")
            #expect(vm.ctl("--destroy").status == 0)
            #expect(vm.process.waitForExit() == 4)
            #expect(vm.process.errorOutput == "hyve: the VM was destroyed (hyvectl --destroy)\n")
            #expect(access(vm.socket, F_OK) != 0)
        }

        @Test func interruptSignalRemovesTheSocket() throws {
            let vm = try VM("interrupted")
            vm.process.send(SIGINT)
            #expect(vm.process.waitForExit() != nil)
            #expect(access(vm.socket, F_OK) != 0)
        }

        @Test func randomAndOversizedBytesGetErrorsAndTheVMKeepsRunning() throws {
            let vm = try VM("fuzz")
            var generator = SeededGenerator(seed: 0x5EED)
            for round in 0..<20 {
                let client = try ControlClient(path: vm.socket)
                var bytes = (0..<Int.random(in: 1...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                bytes.removeAll { $0 == UInt8(ascii: "\n") }
                bytes.append(UInt8(ascii: "\n"))
                if round % 5 == 4 {
                    bytes = [UInt8](repeating: UInt8(ascii: "{"), count: ControlProtocol.maximumMessageSize + 2)
                }
                do {
                    let reply = try ControlResponse.decodeResponse(try client.exchange(bytes))
                    guard case .error(let error) = reply else {
                        Issue.record("random bytes were answered with \(reply)")
                        continue
                    }
                    #expect([EPROTO, EMSGSIZE, EINVAL, ENOSYS, EPROTONOSUPPORT].contains(error.code))
                } catch {
                    // The server may close before an oversized message is fully written.
                    #expect([EPIPE, ECONNRESET].contains(error.code), "\(error)")
                }
            }
            #expect(vm.register("rip", in: vm.ctl("--get-rip").standardOutput).map(vm.target.loop.contains) == true)
            #expect(vm.ctl("--force-poweroff").status == 0)
            #expect(vm.process.waitForExit() == 1)
        }

        @Test func anotherUserCannotConnectToTheSocket() throws {
            let vm = try VM("private")
            // Open the directories so that only the socket's own mode (0600) stands in the way.
            #expect(chmod(vm.runtime.path, 0o755) == 0 && chmod(vm.runtime.socketDirectory, 0o755) == 0)
            guard getuid() == 0 else { return }
            let other = Subprocess.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                           HyveBinary.hyvectlPath, "--vm=private", "--get-rip"],
                                       environment: vm.runtime.environment)
            #expect(other.status == 1)
            #expect(other.standardError.hasPrefix("hyvectl: connecting to '\(vm.socket)': Permission denied"), "\(other.standardError)")
            #expect(vm.ctl("--get-active-cpus").standardOutput == "active cpus:\t 0\n")
        }

        @Test func badInvocationsGetOneLineAndStatusOne() {
            let runtime = ControlRuntimeDirectory()
            let cases: [([String], String)] = [
                (["--get-rip"], "hyvectl: --vm=NAME is required (see --help)"),
                ([], "hyvectl: nothing to do (see --help)"),
                (["--vm=x", "--frobnicate"], "hyvectl: unknown option '--frobnicate' (see --help)"),
                (["--vm=x", "--set-rip=zz"], "hyvectl: --set-rip: 'zz' is not a number that fits 64 bits unsigned"),
                (["--vm=x", "--gla2gpa"], "hyvectl: --gla2gpa, --gla2gpa-nofault, --copyin and --copyout need --gla=ADDRESS"),
                (["--vm=x", "--inject-nmi=1"], "hyvectl: --inject-nmi takes no value"),
                (["--vm=../x", "--get-rip"], "hyvectl: '../x' is not a valid VM name"),
                (["--vm=absent", "--get-rip"], "hyvectl: no VM named 'absent' is running"),
            ]
            for (arguments, message) in cases {
                let result = runtime.hyvectl(arguments)
                #expect(result.status == 1, "\(arguments)")
                #expect(result.standardError.hasPrefix(message), "\(arguments): \(result.standardError)")
                #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(arguments): \(result.standardError)")
            }
        }
    }
}
