import Testing

@testable import FanoutCore

/// A proxy route's `timeout` as an exact idle limit, on an injected clock (nanoseconds).
@Suite struct IdleLimitTests {
    static let ms: UInt64 = 1_000_000

    @Test func expiresOneLimitAfterTheStartWhenNothingMoves() {
        var idle = IdleLimit(milliseconds: 300, start: 1_000 * Self.ms)
        #expect(idle.deadline == 1_300 * Self.ms)
        #expect(idle.check(now: 1_299 * Self.ms, waitingOnClient: false) == .checkAgain(at: 1_300 * Self.ms))
        #expect(idle.check(now: 1_300 * Self.ms, waitingOnClient: false) == .expired)
    }

    @Test func aTimerThatFiresAfterProgressIsArmedForTheRestOfTheLimitNotAFullOne() {
        // Head and 5 bytes at 40 ms, then silence: the cut is due at 340 ms, not at 600 ms (the first look at
        // 300 ms saw progress; re-arming a full period from there was the old bug).
        var idle = IdleLimit(milliseconds: 300, start: 0)
        idle.noteProgress(at: 40 * Self.ms)
        #expect(idle.check(now: 300 * Self.ms, waitingOnClient: false) == .checkAgain(at: 340 * Self.ms))
        #expect(idle.check(now: 340 * Self.ms, waitingOnClient: false) == .expired)
    }

    @Test func theLimitIsMeasuredFromTheLastByteOnly() {
        var idle = IdleLimit(milliseconds: 100, start: 0)
        for step in 1...10 { idle.noteProgress(at: UInt64(step) * 90 * Self.ms) }
        #expect(idle.lastProgress == 900 * Self.ms)
        #expect(idle.check(now: 999 * Self.ms, waitingOnClient: false) == .checkAgain(at: 1_000 * Self.ms))
        #expect(idle.check(now: 1_000 * Self.ms, waitingOnClient: false) == .expired)
    }

    @Test func progressNeverMovesTheClockBack() {
        var idle = IdleLimit(milliseconds: 100, start: 0)
        idle.noteProgress(at: 80 * Self.ms)
        idle.noteProgress(at: 50 * Self.ms)
        #expect(idle.lastProgress == 80 * Self.ms)
    }

    @Test func timeWaitingOnTheClientDoesNotCount() {
        var idle = IdleLimit(milliseconds: 300, start: 0)
        // Silent for 500 ms, but the client held things up: the limit starts afresh at the check.
        #expect(idle.check(now: 500 * Self.ms, waitingOnClient: true) == .checkAgain(at: 800 * Self.ms))
        // The wait ended at 600 ms (the exchange notes that as progress): 300 ms more from there.
        idle.noteProgress(at: 600 * Self.ms)
        #expect(idle.check(now: 800 * Self.ms, waitingOnClient: false) == .checkAgain(at: 900 * Self.ms))
        #expect(idle.check(now: 901 * Self.ms, waitingOnClient: false) == .expired)
    }

    @Test func aLimitBelowOneMillisecondIsOneMillisecond() {
        let idle = IdleLimit(milliseconds: 0, start: 0)
        #expect(idle.limitNanoseconds == Self.ms)
    }
}
