import Testing

@testable import FanoutRuntime

@Suite struct IDTableTests {
    @Test func findsStoresAndRemovesLikeADictionary() {
        var table = IDTable<Int>()
        var model: [UInt64: Int] = [:]
        // A fixed linear congruential sequence: ids in a window that moves up, with old ones left behind (a
        // queued call admitted late) and ids that share their low bits, so probes cross wrapped places.
        var state: UInt64 = 12_345
        func next(_ bound: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % bound
        }
        var nextID: UInt64 = 1
        for step in 0..<20_000 {
            switch next(10) {
            case 0..<5:
                let id = next(4) == 0 ? 1 + next(nextID) : nextID
                nextID += 1 + next(3) * 64
                table.insert(step, for: id)
                model[id] = step
            case 5..<9:
                let id = 1 + next(nextID)
                #expect(table.removeValue(forKey: id) == model.removeValue(forKey: id))
            default:
                let id = 1 + next(nextID)
                #expect(table[id] == model[id])
            }
            if step % 1_000 == 0 {
                #expect(table.count == model.count)
                for (id, value) in model { #expect(table[id] == value) }
            }
        }
        #expect(table.count == model.count)
        #expect(table.values.sorted() == model.values.sorted())
        for (id, value) in model { #expect(table.removeValue(forKey: id) == value) }
        #expect(table.isEmpty)
        #expect(table.values.isEmpty)
    }

    /// Ids in order (transfers in flight) sit at their own places, so a removal has nothing to look at past its
    /// hole; an id that outlives a table's worth of others makes the ids after it collide, and once it is gone
    /// the bound falls back within a table's worth of removals. Every id stays found throughout.
    @Test func idsInOrderNeedNoLookPastTheHole() {
        var table = IDTable<UInt64>()
        var next: UInt64 = 1
        var oldest: UInt64 = 1
        func step() {
            table.insert(next, for: next)
            next += 1
            #expect(table.removeValue(forKey: oldest) == oldest)
            oldest += 1
        }
        while next <= 191 {
            table.insert(next, for: next)
            next += 1
        }
        for _ in 0..<2_000 { step() }
        #expect(table.maxDisplacement == 0)
        let places = UInt64(table.places)
        // The oldest id stays while the window moves on past a whole table.
        let lingering = oldest
        oldest += 1
        for _ in 0..<(2 * places) { step() }
        #expect(table.maxDisplacement > 0)
        #expect(table[lingering] == lingering)
        #expect(table.removeValue(forKey: lingering) == lingering)
        for _ in 0..<(2 * places) { step() }
        #expect(table.maxDisplacement == 0)
        #expect(table.count == 190)
        for id in oldest..<next { #expect(table[id] == id) }
    }

    @Test func replacesTheValueOfAnIdStoredAgain() {
        var table = IDTable<String>()
        table.insert("a", for: 7)
        table.insert("b", for: 7)
        #expect(table.count == 1)
        #expect(table[7] == "b")
        #expect(table[0] == nil)
        #expect(table.removeValue(forKey: 0) == nil)
        table.removeAll()
        #expect(table.isEmpty && table[7] == nil)
    }
}
