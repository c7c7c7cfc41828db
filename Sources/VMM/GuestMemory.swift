import CKVM
import Glibc

/// A guest physical range that is not entirely guest RAM.
public struct GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    public let address: UInt64
    public let length: UInt64

    public var description: String {
        "guest physical range 0x\(String(address, radix: 16)) (+0x\(String(length, radix: 16)) bytes) is outside guest RAM"
    }
}

/// Failure to set up guest memory on the host.
public struct GuestMemorySetupError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Guest RAM, laid out as bhyve's `vm_setup_memory`: up to 3 GiB at guest physical 0 ("lowmem"),
/// the rest from 4 GiB ("highmem"), leaving the hole below 4 GiB for MMIO.
///
/// Every access is bounds-checked: a range that is not entirely inside one RAM segment throws, so
/// a guest-chosen address can never reach host memory outside guest RAM. The host mapping is one
/// reservation in which guest physical address `gpa` sits at `base + gpa`, with the MMIO hole and
/// 4 MiB guard areas on either side left inaccessible.
public final class GuestMemory: @unchecked Sendable {
    /// bhyve's `VM_LOWMEM_LIMIT`.
    public static let lowMemoryLimit: UInt64 = 3 << 30
    /// Where memory above `lowMemoryLimit` continues.
    public static let highMemoryBase: UInt64 = 4 << 30
    static let guardSize = 4 << 20
    static let pageSize: UInt64 = 4096

    /// One contiguous piece of guest RAM.
    public struct Segment: Sendable, Equatable {
        public let guestAddress: UInt64
        public let size: UInt64
        public var end: UInt64 { guestAddress + size }
    }

    /// The RAM segments for a memory size, in address order (pure; see the type's doc).
    public static func layout(size: UInt64) -> [Segment] {
        let low = min(size, lowMemoryLimit)
        var segments = [Segment(guestAddress: 0, size: low)]
        if size > low { segments.append(Segment(guestAddress: highMemoryBase, size: size - low)) }
        return segments
    }

    public let segments: [Segment]
    /// Total RAM in bytes.
    public let size: UInt64
    /// Whether the memory is locked into host RAM (bhyve's `-S`).
    public let isWired: Bool
    private let reservation: UnsafeMutableRawPointer
    private let reservationSize: Int
    /// Host address of guest physical 0.
    private let base: UnsafeMutableRawPointer

    /// Allocates `size` bytes of guest RAM backed by a memfd. `size` must be a positive multiple of 4 KiB.
    public init(size: UInt64, wired: Bool = false) throws(GuestMemorySetupError) {
        guard size > 0, size % Self.pageSize == 0 else {
            throw GuestMemorySetupError(description: "guest memory size \(size) is not a positive multiple of 4 KiB")
        }
        segments = Self.layout(size: size)
        self.size = size
        isWired = wired
        let span = Int(segments.last!.end)
        reservationSize = span + 2 * Self.guardSize
        guard let reserved = mmap(nil, reservationSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              reserved != MAP_FAILED else {
            throw GuestMemorySetupError(description: "cannot reserve \(span >> 20) MiB of address space for guest memory: \(String(cString: strerror(errno)))")
        }
        reservation = reserved
        base = reserved + Self.guardSize

        let fd = ckvm_memfd_create("hyve-guest-ram", UInt32(MFD_CLOEXEC))
        guard fd >= 0 else {
            munmap(reserved, reservationSize)
            throw GuestMemorySetupError(description: "memfd_create for guest memory failed: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        do throws(GuestMemorySetupError) {
            guard ftruncate(fd, off_t(size)) == 0 else {
                throw GuestMemorySetupError(description: "cannot size guest memory to \(size >> 20) MiB: \(String(cString: strerror(errno)))")
            }
            var fileOffset: UInt64 = 0
            for segment in segments {
                let target = base + Int(segment.guestAddress)
                let mapped = mmap(target, Int(segment.size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off_t(fileOffset))
                guard mapped == target else {
                    throw GuestMemorySetupError(description: "cannot map guest memory: \(String(cString: strerror(errno)))")
                }
                // Huge pages cut TLB misses for the guest; the kernel may decline, which is harmless.
                _ = madvise(target, Int(segment.size), MADV_HUGEPAGE)
                _ = madvise(target, Int(segment.size), MADV_DONTDUMP)
                if wired && mlock(target, Int(segment.size)) != 0 {
                    throw GuestMemorySetupError(description: "cannot wire \(segment.size >> 20) MiB of guest memory: \(String(cString: strerror(errno))) (raise RLIMIT_MEMLOCK or run as root)")
                }
                fileOffset += segment.size
            }
        } catch {
            munmap(reserved, reservationSize)
            throw error
        }
    }

    deinit { munmap(reservation, reservationSize) }

    /// The host address backing each segment, for registering it with KVM.
    public func hostAddress(of segment: Segment) -> UnsafeMutableRawPointer {
        base + Int(segment.guestAddress)
    }

    /// Whether `[address, address + length)` lies inside one RAM segment.
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = address.addingReportingOverflow(length)
        if overflow { return false }
        for segment in segments where address >= segment.guestAddress && end <= segment.end {
            return true
        }
        return false
    }

    /// Host pointer to `length` bytes of guest RAM at `address`; throws unless all of them are RAM.
    /// The pointer stays valid as long as this object.
    public func pointer(_ address: UInt64, length: UInt64) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
        guard contains(address, length: length) else { throw GuestMemoryError(address: address, length: length) }
        return base + Int(address)
    }

    /// Calls `body` with the guest bytes `[address, address + length)`.
    public func withBytes<R>(_ address: UInt64, length: Int,
                             _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        guard length >= 0 else { throw GuestMemoryError(address: address, length: UInt64(bitPattern: Int64(length))) }
        let start = try pointer(address, length: UInt64(length))
        return try body(UnsafeMutableRawBufferPointer(start: start, count: length))
    }

    public func read(_ address: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else { throw GuestMemoryError(address: address, length: UInt64(bitPattern: Int64(count))) }
        let start = try pointer(address, length: UInt64(count))
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    public func write(_ bytes: [UInt8], at address: UInt64) throws(GuestMemoryError) {
        let start = try pointer(address, length: UInt64(bytes.count))
        bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Sets `count` bytes at `address` to `value`.
    public func fill(_ value: UInt8, at address: UInt64, count: UInt64) throws(GuestMemoryError) {
        let start = try pointer(address, length: count)
        memset(start, Int32(value), Int(count))
    }

    /// A little-endian integer at `address` (any alignment).
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) throws(GuestMemoryError) -> T {
        let start = try pointer(address, length: UInt64(MemoryLayout<T>.size))
        return T(littleEndian: start.loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer at `address` (any alignment).
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
        let start = try pointer(address, length: UInt64(MemoryLayout<T>.size))
        start.storeBytes(of: value.littleEndian, as: T.self)
    }
}
