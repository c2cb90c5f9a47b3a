import Testing

@testable import FanoutCore

@Suite struct ArrayFillingTests {
    @Test(arguments: [0, 1, 3, 17])
    func holdsCountCopiesLikeRepeating(_ count: Int) {
        let filled = [String?](filling: "x", count: count)
        #expect(filled == Array(repeating: "x", count: count))
        #expect(filled.capacity >= count)
    }

    @Test func copiesAValueTypeIndependently() {
        var states = [CallState](filling: CallState(), count: 2)
        states[0].phase = .running
        #expect(states[0].phase == .running)
        #expect(states[1].phase == .waiting)
    }
}
