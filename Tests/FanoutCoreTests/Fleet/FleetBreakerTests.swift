import Testing

@testable import FanoutCore

/// The fleet side of a breaker with an injected clock (nanoseconds): the store's answers are given as values.
@Suite struct FleetBreakerTests {
    static let ms: UInt64 = 1_000_000

    static func opened(at now: UInt64) -> CircuitBreaker {
        var breaker = CircuitBreaker(settings: BreakerSettings(failures: 1, cooldownMs: 1_000))
        breaker.callFailed(wasProbe: breaker.callStarted(now: now), now: now)
        return breaker
    }

    @Test func aLocalOpeningIsPublishedWithItsCooldown() {
        #expect(FleetBreaker().localOpened(cooldownMs: 1_000) == .publishOpen(cooldownMs: 1_000))
    }

    @Test func aPolledOpenKeyOpensAClosedBreakerUntilTheKeyExpires() {
        var fleet = FleetBreaker()
        var breaker = CircuitBreaker(settings: BreakerSettings(failures: 5, cooldownMs: 30_000))
        fleet.polled(openRemainingMs: 800, probeHeld: false, breaker: &breaker, now: 100 * Self.ms)
        #expect(breaker.state == .open(until: 900 * Self.ms))
        #expect(!breaker.allows(now: 899 * Self.ms))
        // No key: nothing changes for a breaker this worker did not wait on.
        var closed = CircuitBreaker(settings: BreakerSettings(failures: 5, cooldownMs: 30_000))
        fleet.polled(openRemainingMs: nil, probeHeld: false, breaker: &closed, now: 0)
        #expect(closed.state == .closed(consecutiveFailures: 0))
    }

    @Test func theProbeNeedsTheFleetLockAndADeniedLockKeepsTheBreakerOpen() {
        var fleet = FleetBreaker()
        var breaker = Self.opened(at: 0)
        #expect(!fleet.needsProbeLock(breaker, now: 999 * Self.ms))  // still cooling down: fails fast anyway
        #expect(fleet.needsProbeLock(breaker, now: 1_000 * Self.ms))
        let first = fleet.probeLockCommand(ttlMs: 5_000)
        let second = fleet.probeLockCommand(ttlMs: 5_000)
        #expect(first == .acquireProbe(ttlMs: 5_000))
        #expect(second == nil)  // one request at a time
        fleet.probeLockAnswered(granted: false, breaker: &breaker, now: 1_000 * Self.ms)
        #expect(fleet.waitingForFleetProbe)
        #expect(!breaker.allows(now: 1_500 * Self.ms))
        // The other replica is still probing.
        fleet.polled(openRemainingMs: nil, probeHeld: true, breaker: &breaker, now: 1_500 * Self.ms)
        #expect(!breaker.allows(now: 2_000 * Self.ms))
        // Its probe succeeded: neither key is there, the breaker closes here without a probe of its own.
        fleet.polled(openRemainingMs: nil, probeHeld: false, breaker: &breaker, now: 2_000 * Self.ms)
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(!fleet.waitingForFleetProbe)
    }

    @Test func aFailedFleetProbeKeepsTheWaitingReplicaOpenForTheNewCooldown() {
        var fleet = FleetBreaker()
        var breaker = Self.opened(at: 0)
        _ = fleet.probeLockCommand(ttlMs: 5_000)
        fleet.probeLockAnswered(granted: false, breaker: &breaker, now: 1_000 * Self.ms)
        fleet.polled(openRemainingMs: 1_000, probeHeld: false, breaker: &breaker, now: 1_200 * Self.ms)
        #expect(breaker.state == .open(until: 2_200 * Self.ms))
        #expect(!fleet.waitingForFleetProbe)
        // The key expires with the cool-down: the next call asks for the lock again, it does not close.
        fleet.polled(openRemainingMs: nil, probeHeld: false, breaker: &breaker, now: 2_300 * Self.ms)
        #expect(breaker.state == .open(until: 2_200 * Self.ms))
        #expect(fleet.needsProbeLock(breaker, now: 2_300 * Self.ms))
    }

    @Test func aGrantedLockLetsTheNextCallProbeAndItsEndReleasesTheLock() {
        var fleet = FleetBreaker()
        var breaker = Self.opened(at: 0)
        _ = fleet.probeLockCommand(ttlMs: 5_000)
        fleet.probeLockAnswered(granted: true, breaker: &breaker, now: 1_000 * Self.ms)
        #expect(!fleet.needsProbeLock(breaker, now: 1_000 * Self.ms))
        #expect(breaker.allows(now: 1_000 * Self.ms))
        let probe = breaker.callStarted(now: 1_000 * Self.ms)
        #expect(probe)
        // A poll during its own probe does not disturb it.
        fleet.polled(openRemainingMs: 300, probeHeld: true, breaker: &breaker, now: 1_100 * Self.ms)
        #expect(breaker.state == .halfOpen(probeInFlight: true))
        breaker.callSucceeded(wasProbe: probe)
        let release = fleet.probeFinished()
        let again = fleet.probeFinished()
        #expect(release == .releaseProbe)
        #expect(again == nil)
    }

    @Test func anUnansweredLockLetsTheLocalBreakerDecide() {
        var fleet = FleetBreaker()
        let breaker = Self.opened(at: 0)
        _ = fleet.probeLockCommand(ttlMs: 5_000)
        fleet.probeLockUnanswered()
        #expect(!fleet.needsProbeLock(breaker, now: 1_000 * Self.ms))
        fleet.storeLost()
        #expect(fleet == FleetBreaker())
    }
}
