/// 256 bits, one per interrupt vector: a local APIC's IRR, ISR or TMR.
struct APICVectorSet: Equatable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    static func == (lhs: APICVectorSet, rhs: APICVectorSet) -> Bool {
        lhs.words == rhs.words
    }

    func contains(_ vector: UInt8) -> Bool {
        word(Int(vector) >> 6) & (1 << UInt64(vector & 63)) != 0
    }

    mutating func insert(_ vector: UInt8) {
        setWord(Int(vector) >> 6, word(Int(vector) >> 6) | 1 << UInt64(vector & 63))
    }

    mutating func remove(_ vector: UInt8) {
        setWord(Int(vector) >> 6, word(Int(vector) >> 6) & ~(1 << UInt64(vector & 63)))
    }

    mutating func set(_ vector: UInt8, _ present: Bool) {
        if present { insert(vector) } else { remove(vector) }
    }

    /// The highest vector in the set.
    var highest: UInt8? {
        for index in stride(from: 3, through: 0, by: -1) where word(index) != 0 {
            return UInt8(index * 64 + 63 - word(index).leadingZeroBitCount)
        }
        return nil
    }

    var isEmpty: Bool { words == (0, 0, 0, 0) }

    /// The 32 bits of vectors 32·`index` to 32·`index`+31, as one of the eight APIC registers shows them.
    func register(_ index: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: word(index >> 1) >> UInt64((index & 1) * 32))
    }

    private func word(_ index: Int) -> UInt64 {
        switch index {
        case 0: words.0
        case 1: words.1
        case 2: words.2
        default: words.3
        }
    }

    private mutating func setWord(_ index: Int, _ value: UInt64) {
        switch index {
        case 0: words.0 = value
        case 1: words.1 = value
        case 2: words.2 = value
        default: words.3 = value
        }
    }
}
