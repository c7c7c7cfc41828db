import Boot
import Dispatch
import Foundation
import Hyve
import KVM
import Synchronization
import VMM

/// What a guest program did: what it printed on the debug console and how its VM ended.
public struct GuestRun: Sendable {
    public let output: String
    public let outcome: MachineOutcome
    /// The VM afterwards, for inspecting its CPU sets.
    public let vm: VirtualMachine
}

/// A guest program loaded into a machine on real KVM, the way `hyve --program` does it.
public final class GuestSession: Sendable {
    public let machine: Machine
    private let console = ConsoleBuffer()

    /// Loads `program` (a file name under the built guest programs).
    public init(_ program: String, mode: CPUMode? = nil, cpus: Int = 1, memory: UInt64 = 32 << 20,
                noReboot: Bool = false, strictIO: Bool = false, lapic: LocalAPICMode = .kernel,
                x2APIC: Bool = false) throws {
        var config = MachineConfig()
        config.localAPIC = lapic
        config.x2APIC = x2APIC
        config.cpus = cpus
        config.memorySize = memory
        config.noReboot = noReboot
        config.strictIO = strictIO
        config.program = ProgramSource(path: try GuestPrograms.path(program), mode: mode)
        let console = console
        machine = try Machine(config: config, system: try KVMSystem(), console: { byte in
            console.bytes.withLock { $0.append(byte) }
        })
    }

    /// What the guest has printed so far.
    public var output: String { String(decoding: console.bytes.withLock { $0 }, as: UTF8.self) }

    /// Runs the guest to its end; a guest still running after `timeout` seconds is stopped with a failure.
    public func run(timeout: Double = 60) throws -> GuestRun {
        let vm = machine.vm
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [weak vm] in
            vm?.suspend(.failure("guest did not finish within \(timeout) s"))
        }
        let outcome = try machine.run()
        return GuestRun(output: output, outcome: outcome, vm: vm)
    }

    /// Waits until the guest has printed `text`, for at most `timeout` seconds.
    public func waitForOutput(_ text: String, timeout: Double = 30) -> Bool {
        let deadline = DispatchTime.now() + timeout
        while DispatchTime.now() < deadline {
            if output.contains(text) { return true }
            usleep(10_000)
        }
        return false
    }
}

/// Runs guest programs to their end in one call.
public enum GuestRunner {
    public static func run(_ program: String, mode: CPUMode? = nil, cpus: Int = 1, memory: UInt64 = 32 << 20,
                           noReboot: Bool = false, strictIO: Bool = false, lapic: LocalAPICMode = .kernel,
                           x2APIC: Bool = false, timeout: Double = 60) throws -> GuestRun {
        try GuestSession(program, mode: mode, cpus: cpus, memory: memory, noReboot: noReboot, strictIO: strictIO,
                         lapic: lapic, x2APIC: x2APIC)
            .run(timeout: timeout)
    }
}

/// The debug console's bytes, shared between vCPU threads and the test.
final class ConsoleBuffer: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
