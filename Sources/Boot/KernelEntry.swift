/// How the bootstrap processor enters a kernel: the mode, the first instruction and the registers the boot
/// protocol passes values in.
///
/// The mode's segments, descriptor tables and control registers are Hyve's usual ones (see
/// ``ProgramBoot/entryState(vcpu:registers:special:)``); the application processors are not started
/// here but left for the kernel to wake with INIT and SIPI.
public struct KernelEntry: Sendable, Equatable {
    /// ``CPUMode/long`` for the 64-bit Linux protocol, ``CPUMode/protected`` otherwise.
    public var mode: CPUMode
    /// Guest physical address of the first instruction.
    public var instructionPointer: UInt64
    /// The multiboot magic 0x2BADB002; zero otherwise.
    public var rax: UInt64
    /// The start_info or multiboot information address; zero for Linux.
    public var rbx: UInt64
    /// The zero page address for Linux; zero otherwise.
    public var rsi: UInt64

    /// Creates an entry at `instructionPointer` in `mode` with the given argument registers.
    public init(mode: CPUMode, instructionPointer: UInt64, rax: UInt64 = 0, rbx: UInt64 = 0, rsi: UInt64 = 0) {
        self.mode = mode
        self.instructionPointer = instructionPointer
        self.rax = rax
        self.rbx = rbx
        self.rsi = rsi
    }
}
