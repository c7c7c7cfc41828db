/// A set of vCPU ids, as bhyve's `cpuset_t` (active, suspended, halted sets).
public struct CPUSet: Sendable, Equatable, Sequence, CustomStringConvertible {
    private var words: [UInt64]

    public init() { words = [] }

    public init<S: Sequence<Int>>(_ ids: S) {
        self.init()
        for id in ids { insert(id) }
    }

    public mutating func insert(_ id: Int) {
        precondition(id >= 0, "vCPU ids are non-negative")
        let word = id / 64
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        words[word] |= 1 << UInt64(id % 64)
    }

    public mutating func remove(_ id: Int) {
        let word = id / 64
        guard id >= 0, word < words.count else { return }
        words[word] &= ~(1 << UInt64(id % 64))
        while words.last == 0 { words.removeLast() }
    }

    public func contains(_ id: Int) -> Bool {
        let word = id / 64
        guard id >= 0, word < words.count else { return false }
        return words[word] & (1 << UInt64(id % 64)) != 0
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    public func makeIterator() -> some IteratorProtocol<Int> {
        var index = 0
        let words = self.words
        return AnyIterator {
            while index < words.count * 64 {
                defer { index += 1 }
                if words[index / 64] & (1 << UInt64(index % 64)) != 0 { return index }
            }
            return nil
        }
    }

    public static func == (lhs: CPUSet, rhs: CPUSet) -> Bool {
        let n = Swift.max(lhs.words.count, rhs.words.count)
        for i in 0..<n where (i < lhs.words.count ? lhs.words[i] : 0) != (i < rhs.words.count ? rhs.words[i] : 0) {
            return false
        }
        return true
    }

    /// bhyve's cpuset notation: ids and ranges, e.g. "0-2,5".
    public var description: String {
        var parts: [String] = []
        var runStart: Int?
        var previous = -2
        for id in self {
            if id != previous + 1 {
                if let start = runStart { parts.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
                runStart = id
            }
            previous = id
        }
        if let start = runStart { parts.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
        return parts.joined(separator: ",")
    }
}
