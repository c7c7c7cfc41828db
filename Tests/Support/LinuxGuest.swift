import Foundation

/// The project's Linux test guest: a kernel and a busybox initramfs that
/// `scripts/build-linux-guest.sh` builds (and caches) into `.build/linux-guest`, which
/// `scripts/test.sh` runs before the tests.
public enum LinuxGuest {
    public static let directory = ProcessInfo.processInfo.environment["HYVE_LINUX_GUEST"]
        ?? GuestPrograms.repositoryRoot + "/.build/linux-guest"

    public static var vmlinux: String { directory + "/vmlinux" }
    public static var bzImage: String { directory + "/bzImage" }
    public static var initramfs: String { directory + "/initramfs.cpio" }

    /// Whether the guest has been built.
    public static var isBuilt: Bool {
        [vmlinux, bzImage, initramfs].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    }

    /// Whether the Linux system tests run: when the guest is built and KVM is here, and always in
    /// CI, where a missing guest or /dev/kvm must fail them instead of skipping them.
    public static var testsEnabled: Bool {
        ProcessEnvironment.isCI || (isBuilt && HostKVM.testsEnabled)
    }

    /// Throws unless the guest has been built, naming the script that builds it.
    public static func requireBuilt() throws {
        guard isBuilt else {
            throw ProgramBuildError(description: "the Linux test guest is not in \(directory); run scripts/build-linux-guest.sh")
        }
    }
}
