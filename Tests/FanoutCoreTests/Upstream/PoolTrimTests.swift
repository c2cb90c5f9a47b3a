import Testing

@testable import FanoutCore

/// The upstream pool's trim policy with an injected clock (nanoseconds).
@Suite struct PoolTrimTests {
    static let ms: UInt64 = 1_000_000

    @Test func aBurstIsKeptForOneFullIntervalThenTrimmedToTheFloor() {
        var trim = PoolTrim(intervalMilliseconds: 1_000, floor: 4, now: 0)
        for inUse in [1, 50, 200, 120] { trim.noteInUse(inUse) }
        // Mid-interval: the burst's peak stays.
        #expect(trim.keep(inUseNow: 0, now: 500 * Self.ms) == 200)
        // The interval ends: its peak is still kept for the next one.
        #expect(trim.keep(inUseNow: 0, now: 1_000 * Self.ms) == 200)
        // A quiet interval after it: down to the floor.
        #expect(trim.keep(inUseNow: 0, now: 2_000 * Self.ms) == 4)
        #expect(trim.keep(inUseNow: 0, now: 3_000 * Self.ms) == 4)
    }

    @Test func steadyTrafficKeepsItsOwnPeak() {
        var trim = PoolTrim(intervalMilliseconds: 1_000, floor: 2, now: 0)
        var keeps: [Int] = []
        for second in 1...5 {
            for inUse in [3, 9, 6] { trim.noteInUse(inUse) }
            keeps.append(trim.keep(inUseNow: 5, now: UInt64(second) * 1_000 * Self.ms))
        }
        #expect(keeps == [9, 9, 9, 9, 9])
    }

    @Test func transfersRunningAtTheTrimAreAlwaysKept() {
        var trim = PoolTrim(intervalMilliseconds: 1_000, floor: 0, now: 0)
        #expect(trim.keep(inUseNow: 7, now: 5_000 * Self.ms) == 7)
        #expect(trim.keep(inUseNow: 0, now: 5_100 * Self.ms) == 7)
    }

    @Test func aLateTimerForgetsAPeakOlderThanTwoIntervals() {
        var trim = PoolTrim(intervalMilliseconds: 1_000, floor: 1, now: 0)
        trim.noteInUse(300)
        // The loop was busy or the timer was not armed: the burst ended long ago.
        #expect(trim.keep(inUseNow: 0, now: 2_500 * Self.ms) == 1)
    }

    @Test func aClockBeforeTheIntervalStartChangesNothing() {
        var trim = PoolTrim(intervalMilliseconds: 1_000, floor: 1, now: 10_000 * Self.ms)
        trim.noteInUse(8)
        #expect(trim.keep(inUseNow: 0, now: 0) == 8)
    }
}
