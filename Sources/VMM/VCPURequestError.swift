/// Why ``VCPU/perform(timeout:_:)`` gave up.
public enum VCPURequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The vCPU thread did not reach the request in time (it is stuck in a device model or a
    /// long wait); the request was withdrawn and never ran.
    case timedOut(vcpu: Int)

    public var description: String {
        switch self {
        case .timedOut(let vcpu): "vCPU \(vcpu) did not answer in time"
        }
    }
}
