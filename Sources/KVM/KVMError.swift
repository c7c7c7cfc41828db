import Glibc

/// A failed KVM or system call: the operation that failed and the errno it returned.
public struct KVMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What Hyve was doing, in words a user can act on ("open /dev/kvm", "KVM_CREATE_VCPU 3").
    public let operation: String
    public let errno: Int32
    /// Replaces the generic errno text when the cause is known better than strerror says it.
    public let detail: String?

    public init(_ operation: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        if let detail { return "\(operation): \(detail)" }
        return "\(operation) failed: \(String(cString: strerror(errno)))"
    }
}

/// Retries a system call while it fails with EINTR; throws `KVMError` for any other failure.
@inline(__always)
func syscallRetrying(_ operation: @autoclosure () -> String, _ call: () -> Int32) throws(KVMError) -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code != EINTR { throw KVMError(operation(), errno: code) }
    }
}
