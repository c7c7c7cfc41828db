import Testing
import VMM

@Suite struct CPUSetTests {
    @Test func insertAndRemoveTrackMembership() {
        var set = CPUSet()
        set.insert(0)
        set.insert(65)
        #expect(set.contains(0) && set.contains(65) && !set.contains(1))
        #expect(set.count == 2)
        set.remove(65)
        #expect(!set.contains(65))
        #expect(set == CPUSet([0]))
    }

    @Test func setsWithTheSameMembersAreEqualWhateverTheirHistory() {
        var a = CPUSet([1, 200])
        a.remove(200)
        #expect(a == CPUSet([1]))
        #expect(CPUSet() == CPUSet([3]).removing(3))
    }

    @Test func descriptionUsesBhyveRanges() {
        #expect(CPUSet([0, 1, 2, 5, 7, 8]).description == "0-2,5,7-8")
        #expect(CPUSet().description == "")
    }

    @Test func iterationIsInIdOrder() {
        #expect(Array(CPUSet([9, 3, 64])) == [3, 9, 64])
    }
}

extension CPUSet {
    func removing(_ id: Int) -> CPUSet {
        var copy = self
        copy.remove(id)
        return copy
    }
}
