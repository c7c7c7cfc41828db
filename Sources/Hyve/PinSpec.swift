/// bhyve's `-p vcpu:hostcpu` pinning arguments.
public enum PinSpec {
    public static func parse(_ specs: [String]) throws(HyveError) -> [Int: Int] {
        var pinning: [Int: Int] = [:]
        for spec in specs {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let vcpu = Int(parts[0]), let host = Int(parts[1]), vcpu >= 0, host >= 0 else {
                throw HyveError("invalid pinning '\(spec)' (expected vcpu:hostcpu)")
            }
            guard pinning[vcpu] == nil else { throw HyveError("vCPU \(vcpu) is pinned twice") }
            pinning[vcpu] = host
        }
        return pinning
    }
}
