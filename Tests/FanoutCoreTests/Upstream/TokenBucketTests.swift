import Testing

@testable import FanoutCore

/// The rate limit's bucket with an injected clock (nanoseconds).
@Suite struct TokenBucketTests {
    static let ms: UInt64 = 1_000_000

    @Test func startsFullAndEmptiesAfterItsBurst() {
        var bucket = TokenBucket(ratePerSecond: 10, capacity: 3, now: 0)
        for _ in 0..<3 {
            let taken = bucket.take(now: 0)
            #expect(taken)
        }
        let fourth = bucket.take(now: 0)
        #expect(!fourth)
        #expect(bucket.nanosecondsUntilToken(now: 0) == 100 * Self.ms)
    }

    @Test func refillsAtItsRateUpToItsCapacity() {
        var bucket = TokenBucket(ratePerSecond: 10, capacity: 2, now: 0)
        _ = bucket.take(now: 0)
        _ = bucket.take(now: 0)
        #expect(bucket.nanosecondsUntilToken(now: 50 * Self.ms) == 50 * Self.ms)
        let early = bucket.take(now: 99 * Self.ms)
        #expect(!early)
        let onTime = bucket.take(now: 100 * Self.ms)
        #expect(onTime)
        // A long pause refills to the capacity, no further.
        for _ in 0..<2 {
            let taken = bucket.take(now: 10_000 * Self.ms)
            #expect(taken)
        }
        let third = bucket.take(now: 10_000 * Self.ms)
        #expect(!third)
    }

    @Test func aRateBelowOnePerSecondStillHoldsOneToken() {
        var bucket = TokenBucket(ratePerSecond: 0.5, capacity: 0.5, now: 0)
        #expect(bucket.capacity == 1)
        let first = bucket.take(now: 0)
        #expect(first)
        #expect(bucket.nanosecondsUntilToken(now: 0) == 2_000 * Self.ms)
    }

    @Test func reconfiguringKeepsTheTokensUpToTheNewCapacity() {
        var bucket = TokenBucket(ratePerSecond: 100, capacity: 100, now: 0)
        bucket.reconfigure(ratePerSecond: 5, capacity: 5, now: 0)
        #expect(bucket.tokens == 5)
        #expect(bucket.ratePerSecond == 5)
    }
}
