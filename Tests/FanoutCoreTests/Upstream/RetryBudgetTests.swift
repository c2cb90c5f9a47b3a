import Testing

@testable import FanoutCore

/// The retry budget with an injected clock (nanoseconds): a share of the calls over a sliding 10 s window,
/// plus a floor.
@Suite struct RetryBudgetTests {
    static let second: UInt64 = 1_000_000_000
    static let floor = RetryBudget.floorPerSecond * RetryBudget.windowSeconds

    /// Spends extras at `now` until refused; returns how many were granted (bounded).
    static func spendAll(_ budget: inout RetryBudget, now: UInt64) -> Int {
        var granted = 0
        while granted < 10_000, budget.spendExtra(now: now) { granted += 1 }
        return granted
    }

    @Test func withoutTrafficOnlyTheFloorIsAllowed() {
        var budget = RetryBudget(percent: 20)
        #expect(Self.spendAll(&budget, now: 0) == Self.floor)
        #expect(budget.extrasInWindow == Self.floor)
    }

    @Test func allowsThePercentOfTheCallsInTheWindowPlusTheFloor() {
        var budget = RetryBudget(percent: 20)
        for _ in 0..<1_000 { budget.callStarted(now: 3 * Self.second) }
        #expect(budget.allowedExtras == 200 + Self.floor)
        #expect(Self.spendAll(&budget, now: 3 * Self.second) == 200 + Self.floor)
        // More calls make room for more extras.
        for _ in 0..<100 { budget.callStarted(now: 4 * Self.second) }
        #expect(Self.spendAll(&budget, now: 4 * Self.second) == 20)
    }

    @Test func callsAndExtrasLeaveTheWindowAfterTenSeconds() {
        var budget = RetryBudget(percent: 50)
        for _ in 0..<100 { budget.callStarted(now: 0) }
        #expect(Self.spendAll(&budget, now: 0) == 50 + Self.floor)
        // Still inside the window 9.9 s later: nothing left.
        let late = budget.spendExtra(now: 9 * Self.second + Self.second * 9 / 10)
        #expect(!late)
        // At 10 s the first second's calls and extras are out: only the floor again.
        #expect(Self.spendAll(&budget, now: 10 * Self.second) == Self.floor)
        #expect(budget.callsInWindow == 0)
    }

    @Test func aLongPauseEmptiesEveryBucket() {
        var budget = RetryBudget(percent: 10)
        for second in 0..<10 {
            for _ in 0..<10 { budget.callStarted(now: UInt64(second) * Self.second) }
        }
        #expect(budget.callsInWindow == 100)
        #expect(budget.allowedExtras == 10 + Self.floor)
        budget.callStarted(now: 1_000 * Self.second)
        #expect(budget.callsInWindow == 1)
        #expect(budget.extrasInWindow == 0)
    }

    @Test func zeroPercentStillAllowsTheFloor() {
        var budget = RetryBudget(percent: 0)
        for _ in 0..<10_000 { budget.callStarted(now: 0) }
        #expect(Self.spendAll(&budget, now: 0) == Self.floor)
    }
}

/// Which calls may be repeated, and which outcomes are worth another attempt.
@Suite struct AttemptPolicyTests {
    @Test func retriesNeedAnIdempotentMethodAndHedgesASafeOne() {
        for method in ["GET", "HEAD", "OPTIONS"] {
            #expect(AttemptPolicy.allowsRetries(method: method))
            #expect(AttemptPolicy.allowsHedging(method: method))
        }
        for method in ["PUT", "DELETE"] {
            #expect(AttemptPolicy.allowsRetries(method: method))
            #expect(!AttemptPolicy.allowsHedging(method: method))
        }
        for method in ["POST", "PATCH", "CONNECT"] {
            #expect(!AttemptPolicy.allowsRetries(method: method))
            #expect(!AttemptPolicy.allowsHedging(method: method))
        }
    }

    @Test(arguments: [
        (CallFailure.timeout, true), (.refused, true), (.connection("reset"), true), (.status(502), true),
        (.status(503), true), (.status(504), true), (.status(500), false), (.status(404), false),
        (.unreachable("no such host"), false), (.tls("certificate verify failed"), false), (.circuitOpen, false),
        (.overloaded(queueLimit: 1), false),
        (.tooLarge, false), (.invalidBody, false), (.htmlPage, false),
    ])
    func retryableOutcomes(failure: CallFailure, retryable: Bool) {
        #expect(AttemptPolicy.isRetryable(failure) == retryable)
    }
}
