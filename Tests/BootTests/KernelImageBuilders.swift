// Hand-made kernel images and the helpers that read back what the loaders wrote, so the kernel boot tests
// can check exact bytes of the zero page, start_info and multiboot information.

import Boot
import KVM

/// A bzImage laid out as: boot sector and setup sectors (only the setup header filled in), then the
/// protected-mode kernel.
struct BzImageBuilder {
    var storedSetupSectors: UInt8 = 4
    var version: UInt16 = 0x020F
    var loadFlags: UInt8 = 0x01
    var extendedLoadFlags: UInt16 = 0x0001
    var kernelAlignment: UInt32 = 0x20_0000
    var relocatable: UInt8 = 1
    var initrdAddressMax: UInt32 = 0x7FFF_FFFF
    var commandLineSize: UInt32 = 2048
    var preferredAddress: UInt64 = 0x100_0000
    var initSize: UInt32 = 0x40_0000
    var bootFlag: UInt16 = 0xAA55
    /// The protected-mode kernel.
    var kernel: [UInt8] = (0..<0x800).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }

    /// 0x202 + 0x6A: the header of protocol 2.15 ends at 0x26C.
    static let jumpDisplacement: UInt8 = 0x6A
    static let headerEnd = 0x26C

    var setupSize: Int {
        (Int(storedSetupSectors == 0 ? 4 : storedSetupSectors) + 1) * 512
    }

    func build() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: setupSize)
        bytes[0x1F1] = storedSetupSectors
        bytes.patch(UInt32((kernel.count + 15) / 16), at: 0x1F4)
        bytes.patch(bootFlag, at: 0x1FE)
        bytes[0x200] = 0xEB
        bytes[0x201] = Self.jumpDisplacement
        bytes.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        bytes.patch(version, at: 0x206)
        bytes.patch(UInt16(0x1234), at: 0x20E)
        bytes[0x211] = loadFlags
        bytes.patch(initrdAddressMax, at: 0x22C)
        bytes.patch(kernelAlignment, at: 0x230)
        bytes[0x234] = relocatable
        bytes[0x235] = 21
        bytes.patch(extendedLoadFlags, at: 0x236)
        bytes.patch(commandLineSize, at: 0x238)
        bytes.patch(preferredAddress, at: 0x258)
        bytes.patch(initSize, at: 0x260)
        // A marker beyond the header that must not reach the zero page.
        bytes[Self.headerEnd] = 0xCC
        return bytes + kernel
    }
}

/// One ELF note: 12-byte header, then name and descriptor, each padded to 4 bytes.
func elfNote(name: String, type: UInt32, descriptor: [UInt8]) -> [UInt8] {
    let nameBytes = Array(name.utf8) + [0]
    var bytes: [UInt8] = []
    bytes.appendLittleEndian(UInt32(nameBytes.count))
    bytes.appendLittleEndian(UInt32(descriptor.count))
    bytes.appendLittleEndian(type)
    bytes += nameBytes + [UInt8](repeating: 0, count: (4 - nameBytes.count % 4) % 4)
    bytes += descriptor + [UInt8](repeating: 0, count: (4 - descriptor.count % 4) % 4)
    return bytes
}

/// A multiboot header: magic, flags, checksum and, when given, the five flag 16 address fields.
func multibootHeader(flags: UInt32, checksumError: UInt32 = 0, addresses: [UInt32] = []) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.appendLittleEndian(UInt32(0x1BAD_B002))
    bytes.appendLittleEndian(flags)
    bytes.appendLittleEndian(0 &- (0x1BAD_B002 &+ flags) &+ checksumError)
    for address in addresses {
        bytes.appendLittleEndian(address)
    }
    return bytes
}

/// The map of a 256 MiB guest: conventional memory, the EBDA, the BIOS area and RAM from 1 MiB.
let standardMemoryMap = memoryMap(top: 0x1000_0000)

func memoryMap(top: UInt64) -> [E820Entry] {
    [
        E820Entry(address: 0, length: 0x9_FC00, kind: .ram),
        E820Entry(address: 0x9_FC00, length: 0x400, kind: .reserved),
        E820Entry(address: 0xF_0000, length: 0x1_0000, kind: .reserved),
        E820Entry(address: 0x10_0000, length: top - 0x10_0000, kind: .ram),
    ]
}

let hyveRSDP: UInt64 = 0xF_2400

func kernelBootError(_ kernel: [UInt8], initrd: Initrd? = nil, commandLine: String = "",
                     memoryMap: [E820Entry] = standardMemoryMap) -> KernelBootError? {
    do {
        _ = try KernelBoot(kernel: kernel, initrd: initrd, commandLine: commandLine, memoryMap: memoryMap)
        return nil
    } catch {
        return error
    }
}

extension KernelBoot {
    /// The bytes of the write that starts at `address`.
    func written(at address: UInt64) -> [UInt8]? {
        memoryWrites.first { $0.address == address }?.bytes
    }

    /// The state the bootstrap processor enters with, starting from reset-like registers.
    func bootstrapState() -> (Registers, SpecialRegisters) {
        var registers = Registers()
        registers.rbp = 0x5555
        var special = SpecialRegisters()
        entryState(registers: &registers, special: &special)
        return (registers, special)
    }
}

extension Array where Element == UInt8 {
    func littleEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    func littleEndianUInt32(at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(self[offset + $1]) << (8 * $1) }
    }

    /// The NUL-terminated string at `offset`.
    func string(at offset: Int) -> String {
        String(decoding: self[offset...].prefix { $0 != 0 }, as: UTF8.self)
    }
}
