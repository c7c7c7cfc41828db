import Glibc

/// An owned file descriptor, closed when the last reference goes away.
final class OwnedFD: Sendable {
    let raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    deinit { close(raw) }
}
