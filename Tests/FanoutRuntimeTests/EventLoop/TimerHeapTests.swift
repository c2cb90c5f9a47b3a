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
