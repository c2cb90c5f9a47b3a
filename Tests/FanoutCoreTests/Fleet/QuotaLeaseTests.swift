import Testing

@testable import FanoutCore

/// A worker's lease of a fleet-wide quota with an injected clock (nanoseconds): no store, no sleeping.
@Suite struct QuotaLeaseTests {
    static let ms: UInt64 = 1_000_000

    @Test func anEmptyLeaseAsksForOneTokenAtFirstAndNothingWhileARenewalIsInFlight() {
        var lease = QuotaLease(ratePerSecond: 100, now: 0)
        do {
            let taken = lease.take(now: 0)
            #expect(taken == false)
        }
        #expect(lease.renewal(now: 0) == 1)
        lease.renewalSent()
        #expect(lease.renewal(now: 0) == nil)
        lease.granted(1, asked: 1, retryAfterMs: 0, now: Self.ms)
        do {
            let taken = lease.take(now: Self.ms)
            #expect(taken == true)
        }
        do {
            let taken = lease.take(now: Self.ms)
            #expect(taken == false)
        }
    }

    @Test func theBatchFollowsTheLocalRateUpToTheBurst() {
        var lease = QuotaLease(ratePerSecond: 1_000, now: 0)
        #expect(lease.burst == 50)
        // 400 calls per second for 300 ms.
        var now: UInt64 = 0
        for _ in 0..<120 {
            _ = lease.take(now: now)
            now += 2_500_000
        }
        _ = lease.take(now: now)
        #expect(lease.localRate > 300 && lease.localRate < 500)
        // About 50 ms of 400/s: 20.
        #expect((15...25).contains(lease.batchSize))
        var fast = QuotaLease(ratePerSecond: 100, now: 0)
        for step in 0..<1_000 { _ = fast.take(now: UInt64(step) * 200_000) }
        _ = fast.take(now: 200 * Self.ms)
        #expect(fast.batchSize == fast.burst)
        #expect(fast.burst == 5)
    }

    @Test func renewsAtAQuarterOfTheLastBatchNotBefore() {
        var lease = QuotaLease(ratePerSecond: 1_000, now: 0)
        lease.renewalSent()
        lease.granted(8, asked: 8, retryAfterMs: 0, now: 0)
        for _ in 0..<5 {
            do {
                let taken = lease.take(now: Self.ms)
                #expect(taken == true)
            }
        }
        #expect(lease.renewal(now: Self.ms) == nil)  // 3 left of 8
        do {
            let taken = lease.take(now: Self.ms)
            #expect(taken == true)
        }
        #expect(lease.renewal(now: Self.ms) != nil)  // 2 left: renew before running out
        lease.renewalSent()
        lease.granted(8, asked: 8, retryAfterMs: 0, now: 2 * Self.ms)
        #expect(lease.tokens == 10)
    }

    @Test func leasedTokensExpireSoAWorkerCannotHoardThem() {
        var lease = QuotaLease(ratePerSecond: 1_000, now: 0)
        lease.renewalSent()
        lease.granted(10, asked: 10, retryAfterMs: 0, now: 0)
        #expect(lease.hasToken(now: QuotaLease.leaseLifetimeNs - 1))
        #expect(!lease.hasToken(now: QuotaLease.leaseLifetimeNs))
        do {
            let taken = lease.take(now: QuotaLease.leaseLifetimeNs)
            #expect(taken == false)
        }
        #expect(lease.renewal(now: QuotaLease.leaseLifetimeNs) != nil)
    }

    @Test func aPartialGrantIsSpentAndTheNextAskWaitsForTheStoresHint() {
        var lease = QuotaLease(ratePerSecond: 100, now: 0)
        lease.renewalSent()
        lease.granted(2, asked: 5, retryAfterMs: 30, now: 0)
        do {
            let taken = lease.take(now: 0)
            #expect(taken == true)
        }
        do {
            let taken = lease.take(now: 0)
            #expect(taken == true)
        }
        do {
            let taken = lease.take(now: 0)
            #expect(taken == false)
        }
        #expect(lease.renewal(now: 29 * Self.ms) == nil)
        #expect(lease.nanosecondsUntilRenewal(now: 10 * Self.ms) == 20 * Self.ms)
        #expect(lease.renewal(now: 30 * Self.ms) != nil)
        // Nothing granted: no tokens, and the wait applies all the same.
        lease.renewalSent()
        lease.granted(0, asked: 1, retryAfterMs: 10, now: 30 * Self.ms)
        do {
            let taken = lease.take(now: 30 * Self.ms)
            #expect(taken == false)
        }
        #expect(lease.renewal(now: 35 * Self.ms) == nil)
        #expect(lease.renewal(now: 40 * Self.ms) == 1)
    }

    @Test func aFailedRenewalHandsCallsToTheLocalLimitForHalfASecond() {
        var lease = QuotaLease(ratePerSecond: 100, now: 0)
        #expect(lease.usesStore(now: 0))
        lease.renewalSent()
        lease.renewalFailed(now: 10 * Self.ms)
        #expect(!lease.usesStore(now: 10 * Self.ms))
        #expect(!lease.usesStore(now: 509 * Self.ms))
        #expect(lease.usesStore(now: 510 * Self.ms))
        #expect(lease.renewal(now: 510 * Self.ms) == 1)
    }

    @Test func theScriptArgumentsAreMicrosecondsPerTokenAndTheBurst() {
        let lease = QuotaLease(ratePerSecond: 200, now: 0)
        #expect(FleetQuotaScript.arguments(lease, asking: 3) == ["5000", "50000", "3"])
    }

    @Test func aSharedRateSplitsTheQuotaByReplicasWithoutTheStore() {
        #expect(SharedRate(replicas: 4).fallbackRate(100) == 25)
        #expect(SharedRate().fallbackRate(100) == 100)
    }
}
