import Testing

@testable import FanoutRuntime

@Suite struct TimerHeapTests {
    @Test func firesInDeadlineOrderAndSkipsCancelled() {
        var heap = TimerHeap()
        var fired: [Int] = []
        _ = heap.schedule(at: 30) { fired.append(30) }
        let cancelled = heap.schedule(at: 10) { fired.append(10) }
        _ = heap.schedule(at: 20) { fired.append(20) }
        _ = heap.schedule(at: 20) { fired.append(21) }
        heap.cancel(cancelled)
        #expect(heap.earliestDeadline() == 20)
        while let action = heap.popExpired(now: 25) { action() }
        #expect(fired.sorted() == [20, 21])
        #expect(heap.earliestDeadline() == 30)
        while let action = heap.popExpired(now: 100) { action() }
        #expect(fired.count == 3 && fired.last == 30)
        #expect(heap.isEmpty)
        #expect(heap.earliestDeadline() == nil)
    }

    @Test func cancellingEverythingLeavesNoDeadline() {
        var heap = TimerHeap()
        let ids = (0..<100).map { heap.schedule(at: UInt64($0)) {} }
        for id in ids { heap.cancel(id) }
        // An idle loop must not wake for timers nobody wants.
        #expect(heap.earliestDeadline() == nil)
    }

    @Test func manyRandomTimersComeOutSorted() {
        var heap = TimerHeap()
        var generator = SystemRandomNumberGenerator()
        var fired: [UInt64] = []
        for _ in 0..<1_000 {
            let deadline = UInt64.random(in: 0..<10_000, using: &generator)
            _ = heap.schedule(at: deadline) { fired.append(deadline) }
        }
        while let action = heap.popExpired(now: .max) { action() }
        #expect(fired.count == 1_000)
        #expect(fired == fired.sorted())
    }
}

@Suite struct TimerHeapRescheduleTests {
    @Test func rescheduledTimerKeepsItsActionAndMoves() {
        var heap = TimerHeap()
        var fired: [String] = []
        let moved = heap.schedule(at: 10) { fired.append("moved") }
        _ = heap.schedule(at: 20) { fired.append("fixed") }
        let movedLater = heap.reschedule(moved, at: 30)
        #expect(movedLater)
        #expect(heap.earliestDeadline() == 20)
        while let action = heap.popExpired(now: 25) { action() }
        #expect(fired == ["fixed"])
        let movedEarlier = heap.reschedule(moved, at: 5)
        #expect(movedEarlier)
        while let action = heap.popExpired(now: 25) { action() }
        #expect(fired == ["fixed", "moved"])
        // Fired: neither moved nor cancelled any more, and a new timer in its slot is not touched.
        let movedAfterFiring = heap.reschedule(moved, at: 40)
        #expect(!movedAfterFiring)
        let next = heap.schedule(at: 50) { fired.append("next") }
        heap.cancel(moved)
        #expect(heap.earliestDeadline() == 50)
        heap.cancel(next)
        #expect(heap.isEmpty)
    }

    @Test func equalDeadlinesFireInSchedulingOrder() {
        var heap = TimerHeap()
        var fired: [Int] = []
        for i in 0..<50 { _ = heap.schedule(at: UInt64(i % 3)) { fired.append(i) } }
        while let action = heap.popExpired(now: 10) { action() }
        let expected =
            (0..<50).filter { $0 % 3 == 0 } + (0..<50).filter { $0 % 3 == 1 } + (0..<50).filter { $0 % 3 == 2 }
        #expect(fired == expected)
    }

    @Test func randomCancelsAndMovesKeepTheHeapOrdered() {
        var heap = TimerHeap()
        var generator = SystemRandomNumberGenerator()
        var live: [(TimerID, Int)] = []
        var deadlines: [Int: UInt64] = [:]
        var fired: [UInt64] = []
        for n in 0..<2_000 {
            let deadline = UInt64.random(in: 0..<10_000, using: &generator)
            let id = heap.schedule(at: deadline) { fired.append(deadlines[n]!) }
            deadlines[n] = deadline
            live.append((id, n))
            if Bool.random(using: &generator), !live.isEmpty {
                let pick = Int.random(in: 0..<live.count, using: &generator)
                if Bool.random(using: &generator) {
                    heap.cancel(live[pick].0)
                    deadlines[live[pick].1] = nil
                    live.remove(at: pick)
                } else {
                    let moved = UInt64.random(in: 0..<10_000, using: &generator)
                    let found = heap.reschedule(live[pick].0, at: moved)
                    #expect(found)
                    deadlines[live[pick].1] = moved
                }
            }
        }
        while let action = heap.popExpired(now: .max) { action() }
        #expect(fired.count == live.count)
        #expect(fired == fired.sorted())
        #expect(heap.isEmpty)
    }
}
