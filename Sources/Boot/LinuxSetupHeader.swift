/// The setup header of a Linux bzImage: the part of the real-mode setup code's first sectors that tells
/// a boot loader how to load the kernel (Documentation/arch/x86/boot.rst).
///
/// Fields added after protocol 2.06, the oldest Hyve accepts, read as zero from older kernels.
public struct LinuxSetupHeader: Sendable, Equatable {
    /// 512-byte sectors of real-mode setup code after the boot sector (a stored 0 means 4).
    public var setupSectors: Int
    /// Size of the protected-mode kernel in 16-byte paragraphs.
    public var systemSize: UInt32
    /// Boot protocol version, major in the high byte (0x020F is 2.15).
    public var version: UInt16
    /// `loadflags`: bit 0 LOADED_HIGH says the kernel is a bzImage loaded at 1 MiB.
    public var loadFlags: UInt8
    /// Physical alignment a relocatable kernel needs (2.05+).
    public var kernelAlignment: UInt32
    /// Whether the kernel may be loaded at any ``kernelAlignment``-aligned address (2.05+).
    public var relocatable: Bool
    /// `xloadflags` (2.12+): bit 0 XLF_KERNEL_64 says there is a 64-bit entry 0x200 bytes in.
    public var extendedLoadFlags: UInt16
    /// Highest address the initrd's last byte may have (2.03+).
    public var initrdAddressMax: UInt32
    /// Longest command line the kernel accepts, not counting the NUL (2.06+).
    public var commandLineSize: UInt32
    /// Where the kernel would like to be loaded, and where it runs if it is not relocatable (2.10+).
    public var preferredAddress: UInt64
    /// Bytes the kernel needs from its run address to unpack and start itself (2.10+).
    public var initSize: UInt32
    /// File offset one past the header, which the zero page receives a copy of.
    public var end: Int

    /// Whether `bytes` carry the "HdrS" signature of a protocol 2.00+ setup header.
    public static func isPresent(in bytes: [UInt8]) -> Bool {
        bytes.count >= signatureOffset + 4 && bytes.littleEndian(UInt32.self, at: signatureOffset) == signature
    }

    /// Reads and checks the header of the bzImage `bytes`.
    ///
    /// - Throws: ``KernelBootError/unrecognizedKernel`` without the signature,
    ///   ``KernelBootError/truncatedKernel(size:needed:)``, ``KernelBootError/badBootSectorMagic(_:)``,
    ///   ``KernelBootError/protocolTooOld(_:)`` or ``KernelBootError/notLoadedHigh``.
    public init(_ bytes: [UInt8]) throws(KernelBootError) {
        guard Self.isPresent(in: bytes) else { throw .unrecognizedKernel }
        guard bytes.count >= Self.versionOffset + 2 else {
            throw .truncatedKernel(size: bytes.count, needed: UInt64(Self.versionOffset + 2))
        }
        let bootFlag = bytes.littleEndian(UInt16.self, at: Self.bootFlagOffset)
        guard bootFlag == Self.bootFlag else { throw .badBootSectorMagic(bootFlag) }
        version = bytes.littleEndian(UInt16.self, at: Self.versionOffset)
        guard version >= Self.minimumVersion else { throw .protocolTooOld(version) }

        let storedSectors = Int(bytes[Self.setupSectorsOffset])
        setupSectors = storedSectors == 0 ? Self.defaultSetupSectors : storedSectors
        // The setup sectors hold the whole header (at least 1024 bytes against its end below 0x290), so
        // once they are all there every field below can be read.
        let setupSize = (setupSectors + 1) * Self.sectorSize
        guard bytes.count >= setupSize else { throw .truncatedKernel(size: bytes.count, needed: UInt64(setupSize)) }

        systemSize = bytes.littleEndian(UInt32.self, at: Self.systemSizeOffset)
        loadFlags = bytes[Self.loadFlagsOffset]
        initrdAddressMax = bytes.littleEndian(UInt32.self, at: Self.initrdAddressMaxOffset)
        kernelAlignment = bytes.littleEndian(UInt32.self, at: Self.kernelAlignmentOffset)
        relocatable = bytes[Self.relocatableOffset] != 0
        commandLineSize = bytes.littleEndian(UInt32.self, at: Self.commandLineSizeOffset)
        extendedLoadFlags = version >= 0x020C ? bytes.littleEndian(UInt16.self, at: Self.extendedLoadFlagsOffset) : 0
        let has210 = version >= 0x020A
        preferredAddress = has210 ? bytes.littleEndian(UInt64.self, at: Self.preferredAddressOffset) : 0
        initSize = has210 ? bytes.littleEndian(UInt32.self, at: Self.initSizeOffset) : 0
        // The jump at 0x200 skips the header: its 8-bit displacement, counted from 0x202, marks the end.
        // Past 0x290 the zero page holds fields the loader owns, so a longer claim is cut there.
        end = min(Self.signatureOffset + Int(bytes[Self.jumpDisplacementOffset]), Self.endLimit)

        guard loadFlags & Self.loadedHigh != 0 else { throw .notLoadedHigh }
        let needed = UInt64(setupSize) + UInt64(systemSize) * 16
        guard UInt64(bytes.count) >= needed else { throw .truncatedKernel(size: bytes.count, needed: needed) }
    }

    /// Bytes of the boot sector and real-mode setup code before the protected-mode kernel.
    public var setupSize: Int {
        (setupSectors + 1) * Self.sectorSize
    }

    /// Whether the kernel has a 64-bit entry point 0x200 bytes after its start (XLF_KERNEL_64).
    public var has64BitEntry: Bool {
        extendedLoadFlags & Self.kernel64 != 0
    }

    /// Where the header starts in the file and in the zero page.
    static let startOffset = 0x1F1
    /// `loadflags` bit 0: the protected-mode kernel is loaded at 1 MiB (a bzImage).
    static let loadedHigh: UInt8 = 1 << 0
    /// `loadflags` bit 6: the 32-bit entry keeps the loader's segment registers instead of loading its own.
    static let keepSegments: UInt8 = 1 << 6

    private static let setupSectorsOffset = 0x1F1
    private static let systemSizeOffset = 0x1F4
    private static let bootFlagOffset = 0x1FE
    private static let jumpDisplacementOffset = 0x201
    private static let signatureOffset = 0x202
    private static let versionOffset = 0x206
    private static let loadFlagsOffset = 0x211
    private static let initrdAddressMaxOffset = 0x22C
    private static let kernelAlignmentOffset = 0x230
    private static let relocatableOffset = 0x234
    private static let extendedLoadFlagsOffset = 0x236
    private static let commandLineSizeOffset = 0x238
    private static let preferredAddressOffset = 0x258
    private static let initSizeOffset = 0x260
    private static let endLimit = 0x290

    private static let signature: UInt32 = 0x5372_6448  // "HdrS"
    private static let bootFlag: UInt16 = 0xAA55
    private static let minimumVersion: UInt16 = 0x0206
    private static let defaultSetupSectors = 4
    private static let sectorSize = 512
    private static let kernel64: UInt16 = 1 << 0
}
