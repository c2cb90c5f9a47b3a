import Testing

@testable import FanoutCore

/// The breaker's transitions with an injected clock (nanoseconds): no sockets, no sleeping.
@Suite struct CircuitBreakerTests {
    static let second: UInt64 = 1_000_000_000

    /// A breaker that opens after `failures` and cools down for 30 s, already opened at `now`.
    static func opened(failures: Int = 3, at now: UInt64) -> CircuitBreaker {
        var breaker = CircuitBreaker(settings: BreakerSettings(failures: failures, cooldownMs: 30_000))
        for _ in 0..<failures {
            let probe = breaker.callStarted(now: now)
            breaker.callFailed(wasProbe: probe, now: now)
        }
        return breaker
    }

    @Test func staysClosedBelowTheThresholdAndASuccessResetsTheCount() {
        var breaker = CircuitBreaker(settings: BreakerSettings(failures: 3, cooldownMs: 30_000))
        breaker.callFailed(wasProbe: breaker.callStarted(now: 0), now: 0)
        breaker.callFailed(wasProbe: breaker.callStarted(now: 0), now: 0)
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        breaker.callSucceeded(wasProbe: breaker.callStarted(now: 0))
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        breaker.callFailed(wasProbe: breaker.callStarted(now: 0), now: 0)
        breaker.callFailed(wasProbe: breaker.callStarted(now: 0), now: 0)
        #expect(breaker.allows(now: 0))
        #expect(breaker.opens == 0)
    }

    @Test func opensAfterConsecutiveFailuresAndFailsFastUntilTheCooldownEnds() {
        let breaker = Self.opened(at: 5 * Self.second)
        #expect(breaker.state == .open(until: 35 * Self.second))
        #expect(breaker.opens == 1)
        #expect(!breaker.allows(now: 5 * Self.second))
        #expect(!breaker.allows(now: 35 * Self.second - 1))
        #expect(breaker.allows(now: 35 * Self.second))
    }

    @Test func letsExactlyOneProbeThroughAfterTheCooldown() {
        var breaker = Self.opened(at: 0)
        let now = 30 * Self.second
        let probe = breaker.callStarted(now: now)
        #expect(probe)
        #expect(breaker.state == .halfOpen(probeInFlight: true))
        #expect(!breaker.allows(now: now))
        #expect(!breaker.allows(now: now + 3600 * Self.second))
    }

    @Test func aSuccessfulProbeClosesIt() {
        var breaker = Self.opened(at: 0)
        let probe = breaker.callStarted(now: 30 * Self.second)
        breaker.callSucceeded(wasProbe: probe)
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.allows(now: 30 * Self.second))
        let next = breaker.callStarted(now: 30 * Self.second)
        #expect(!next)
    }

    @Test func aFailedProbeReopensItForAnotherCooldown() {
        var breaker = Self.opened(at: 0)
        let probe = breaker.callStarted(now: 40 * Self.second)
        breaker.callFailed(wasProbe: probe, now: 41 * Self.second)
        #expect(breaker.state == .open(until: 71 * Self.second))
        #expect(breaker.opens == 2)
        #expect(!breaker.allows(now: 70 * Self.second))
        #expect(breaker.allows(now: 71 * Self.second))
    }

    @Test func anAbandonedProbeLetsTheNextCallProbe() {
        var breaker = Self.opened(at: 0)
        let probe = breaker.callStarted(now: 30 * Self.second)
        breaker.callAbandoned(wasProbe: probe)
        #expect(breaker.state == .halfOpen(probeInFlight: false))
        #expect(breaker.allows(now: 30 * Self.second))
        let second = breaker.callStarted(now: 30 * Self.second)
        #expect(second)
        #expect(!breaker.allows(now: 30 * Self.second))
    }

    @Test func callsStartedBeforeItOpenedDoNotDecideIt() {
        var breaker = Self.opened(at: 0)
        // Late outcomes of calls started while it was closed (not probes).
        breaker.callSucceeded(wasProbe: false)
        breaker.callFailed(wasProbe: false, now: 1)
        breaker.callAbandoned(wasProbe: false)
        #expect(breaker.state == .open(until: 30 * Self.second))
        _ = breaker.callStarted(now: 30 * Self.second)
        breaker.callSucceeded(wasProbe: false)
        breaker.callFailed(wasProbe: false, now: 30 * Self.second)
        #expect(breaker.state == .halfOpen(probeInFlight: true))
        #expect(breaker.opens == 1)
    }

    @Test func aCallStartedWhileOpenBeforeTheCooldownIsNoProbe() {
        var breaker = Self.opened(at: 0)
        let early = breaker.callStarted(now: 1)
        #expect(!early)
        #expect(breaker.state == .open(until: 30 * Self.second))
    }

    @Test func oneFailureOpensAThresholdOfOne() {
        let breaker = Self.opened(failures: 1, at: 0)
        #expect(breaker.state == .open(until: 30 * Self.second))
    }
}
