import Testing

@testable import FanoutCore

/// `min_rate`'s time budget, on an injected clock (nanoseconds).
@Suite struct RateBudgetTests {
    static let ms: UInt64 = 1_000_000
    /// 1000 bytes/s with 2 s of grace: one byte buys 1 ms.
    static let rate = MinimumRate(bytesPerSecond: 1_000, graceMs: 2_000)

    @Test func aBodyThatSendsNothingIsSpentAfterTheGracePeriod() {
        let budget = RateBudget(Self.rate, start: 500 * Self.ms)
        #expect(budget.deadline == 2_500 * Self.ms)
        #expect(!budget.isSpent(at: 2_499 * Self.ms))
        #expect(budget.isSpent(at: 2_500 * Self.ms))
    }

    @Test func bytesBuyTimeAtTheRate() {
        var budget = RateBudget(Self.rate, start: 0)
        budget.bytesMoved(500, at: 1_000 * Self.ms)
        #expect(budget.deadline == 2_500 * Self.ms)
    }

    @Test func aDripBelowTheRateIsCutEvenThoughItIsNeverIdleLong() {
        // One byte every 100 ms (10 bytes/s) against 1000 bytes/s: each byte buys 1 ms of the 100 ms that pass.
        var budget = RateBudget(Self.rate, start: 0)
        var now: UInt64 = 0
        while !budget.isSpent(at: now) {
            now += 100 * Self.ms
            if !budget.isSpent(at: now) { budget.bytesMoved(1, at: now) }
        }
        // 2 s of grace, less than 1 % regained: cut after about 2.02 s.
        #expect(now >= 2_000 * Self.ms && now <= 2_100 * Self.ms)
    }

    @Test func aBodyAtTheRateIsNeverCut() {
        var budget = RateBudget(Self.rate, start: 0)
        for step in 1...1_000 {
            let now = UInt64(step) * 10 * Self.ms
            #expect(!budget.isSpent(at: now))
            budget.bytesMoved(10, at: now)
        }
    }

    @Test func fastBytesEarlyBuyNoMoreThanTheGracePeriod() {
        var budget = RateBudget(Self.rate, start: 0)
        budget.bytesMoved(1_000_000_000, at: 10 * Self.ms)
        #expect(budget.deadline == 2_010 * Self.ms)
        #expect(budget.isSpent(at: 2_010 * Self.ms))
    }

    @Test func pausedTimeDoesNotCount() {
        var budget = RateBudget(Self.rate, start: 0)
        budget.pause(at: 1_500 * Self.ms)
        #expect(!budget.isSpent(at: 60_000 * Self.ms))
        budget.pause(at: 3_000 * Self.ms)  // idempotent: the first pause counts
        budget.resume(at: 10_000 * Self.ms)
        // 500 ms were left at the pause.
        #expect(budget.pausedAt == nil)
        #expect(budget.deadline == 10_500 * Self.ms)
        #expect(budget.isSpent(at: 10_500 * Self.ms))
    }

    @Test func bytesDuringAPauseAreCreditedUpToTheGracePeriod() {
        var budget = RateBudget(Self.rate, start: 0)
        budget.pause(at: 1_000 * Self.ms)
        budget.bytesMoved(5_000, at: 1_200 * Self.ms)
        budget.resume(at: 4_000 * Self.ms)
        #expect(budget.deadline == 6_000 * Self.ms)
    }

    @Test func resumingWithoutAPauseChangesNothing() {
        var budget = RateBudget(Self.rate, start: 0)
        budget.resume(at: 1_000 * Self.ms)
        #expect(budget.deadline == 2_000 * Self.ms)
    }

    @Test(arguments: [
        (MinimumRate.standard, "1k/s 30s"), (MinimumRate(bytesPerSecond: 1_500, graceMs: 2_500), "1500/s 2500ms"),
        (MinimumRate(bytesPerSecond: 2 << 20, graceMs: 60_000), "2m/s 60s"),
    ])
    func theRateReadsAsItIsWritten(rate: MinimumRate, text: String) {
        #expect(rate.description == text)
    }
}
