import Testing

@testable import FanoutCore

/// The admission controller with an injected clock (nanoseconds) and no libcurl: the runtime's part is played
/// by the tests, which start, finish and cancel calls by id.
@Suite struct AdmissionControllerTests {
    static let ms: UInt64 = 1_000_000
    /// A deadline far away: the calls of most tests do not time out.
    static let later: UInt64 = 60_000 * ms

    fileprivate static func controller(
        limit: Int, queueLimit: Int? = nil, breaker: BreakerSettings? = nil, rate: Double? = nil,
        fleet: some AdmissionFleet = NoFleet()
    ) -> Harness {
        let harness = Harness()
        let actions = harness.setLimits(
            [
                .init(
                    slot: 0, upstreamName: "a", limit: limit, queueLimit: queueLimit, breaker: breaker,
                    ratePerSecond: rate)
            ],
            now: 0, fleet: fleet)
        #expect(actions.isEmpty)
        return harness
    }

    static func starts(_ ids: UInt64...) -> AdmissionActions {
        AdmissionActions(steps: ids.map { .start(id: $0, isProbe: false) })
    }

    @Test func callsBeyondTheLimitWaitAndStartInOrder() {
        let admission = Self.controller(limit: 2)
        #expect(admission.request(slot: 0, id: 1, now: 0, deadline: Self.later) == .start(isProbe: false))
        #expect(admission.request(slot: 0, id: 2, now: 0, deadline: Self.later) == .start(isProbe: false))
        for id: UInt64 in 3...5 {
            #expect(admission.request(slot: 0, id: id, now: 0, deadline: Self.later) == .queued(AdmissionActions()))
        }
        #expect(admission.load["a"] == ServerMetrics.UpstreamLoad(inFlight: 2, queued: 3))
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 1)
        #expect(admission.admitWaiting(slot: 0, now: 1) == Self.starts(3))
        // No place free: nothing more starts.
        #expect(admission.admitWaiting(slot: 0, now: 1).isEmpty)
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: 2)
        admission.finished(slot: 0, wasProbe: false, outcome: .abandoned, now: 2)
        #expect(admission.admitWaiting(slot: 0, now: 2) == Self.starts(4, 5))
        #expect(admission.slots[0].inFlight == 2)
        #expect(admission.slots[0].waiting == 0)
    }

    @Test func aBurstsQueueStorageIsGivenUpOnceDrainedAndTheQueueStillWorks() {
        let admission = Self.controller(limit: 1)
        for id: UInt64 in 1...2_000 { _ = admission.request(slot: 0, id: id, now: 0, deadline: Self.later) }
        // While calls wait, nothing is given up.
        admission.controller.releaseSpareCapacity(above: 256)
        #expect(admission.slots[0].waiting == 1_999)
        #expect(admission.controller.queueCapacity >= 2 * 1_999)
        for id: UInt64 in 2...2_000 {
            admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 1)
            #expect(admission.admitWaiting(slot: 0, now: 1) == Self.starts(id))
        }
        #expect(admission.controller.queueCapacity >= 2_000)
        admission.controller.releaseSpareCapacity(above: 256)
        #expect(admission.controller.queueCapacity <= 256)
        // The next wave (call 2,000 still holds the one place) queues and starts in order as before.
        for id: UInt64 in 3_001...3_003 {
            #expect(admission.request(slot: 0, id: id, now: 2, deadline: Self.later) == .queued(AdmissionActions()))
        }
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 3)
        #expect(admission.admitWaiting(slot: 0, now: 3) == Self.starts(3_001))
        #expect(admission.slots[0].waiting == 2)
    }

    @Test func aNewCallQueuesBehindWaitingOnesEvenWithAPlaceFree() {
        let admission = Self.controller(limit: 1)
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: Self.later)
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 1)
        // The completion of call 1 starts call 3 before the queue is drained: 2 goes first.
        #expect(admission.request(slot: 0, id: 3, now: 1, deadline: Self.later) == .queued(Self.starts(2)))
        #expect(admission.admitWaiting(slot: 0, now: 1).isEmpty)
        #expect(admission.slots[0].waiting == 1)
    }

    @Test func aRaisedLimitAdmitsAtOnceAndALoweredOneLetsRunningCallsFinish() {
        let admission = Self.controller(limit: 1)
        for id: UInt64 in 1...4 { _ = admission.request(slot: 0, id: id, now: 0, deadline: Self.later) }
        let raised = admission.setLimits([.init(slot: 0, upstreamName: "a", limit: 3)], now: 1)
        #expect(raised == Self.starts(2, 3))
        #expect(admission.slots[0].inFlight == 3)

        #expect(admission.setLimits([.init(slot: 0, upstreamName: "a", limit: 1)], now: 2).isEmpty)
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 3)
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 3)
        #expect(admission.admitWaiting(slot: 0, now: 3).isEmpty)  // 1 in flight, limit 1
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 4)
        #expect(admission.admitWaiting(slot: 0, now: 4) == Self.starts(4))
    }

    @Test func aFullQueueFailsTheCallOverloadedAndCancelledCallsFreeTheirPlace() {
        let admission = Self.controller(limit: 1, queueLimit: 2)
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 3, now: 0, deadline: Self.later)
        #expect(admission.request(slot: 0, id: 4, now: 0, deadline: Self.later) == .fail(.overloaded(queueLimit: 2)))

        #expect(admission.cancelled(id: 2))
        #expect(!admission.cancelled(id: 2))  // once
        #expect(!admission.cancelled(id: 1))  // started, not queued
        #expect(admission.slots[0].waiting == 1)
        #expect(admission.request(slot: 0, id: 5, now: 0, deadline: Self.later) == .queued(AdmissionActions()))
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 1)
        // The cancelled call is skipped at the head of the queue.
        #expect(admission.admitWaiting(slot: 0, now: 1) == Self.starts(3))
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 2)
        #expect(admission.admitWaiting(slot: 0, now: 2) == Self.starts(5))
    }

    @Test func aBreakerOpensFailsFastThenLetsOneProbeThrough() {
        let admission = Self.controller(limit: 10, breaker: BreakerSettings(failures: 2, cooldownMs: 100))
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: Self.later)
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: 10 * Self.ms)
        #expect(admission.request(slot: 0, id: 3, now: 10 * Self.ms, deadline: Self.later) == .start(isProbe: false))
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: 20 * Self.ms)
        #expect(admission.breakerOpens == ["a": 1])
        #expect(admission.request(slot: 0, id: 4, now: 20 * Self.ms, deadline: Self.later) == .fail(.circuitOpen))
        #expect(admission.request(slot: 0, id: 5, now: 119 * Self.ms, deadline: Self.later) == .fail(.circuitOpen))
        #expect(!admission.admitsAtOnce(slot: 0, now: 119 * Self.ms))
        #expect(admission.load["a"]?.breakersOpen == 1)

        // Cool-down over: one probe, the others fail fast while it runs.
        #expect(admission.request(slot: 0, id: 6, now: 120 * Self.ms, deadline: Self.later) == .start(isProbe: true))
        #expect(admission.request(slot: 0, id: 7, now: 121 * Self.ms, deadline: Self.later) == .fail(.circuitOpen))
        // An abandoned probe lets the next call probe; a failed probe opens the breaker again.
        admission.finished(slot: 0, wasProbe: true, outcome: .abandoned, now: 122 * Self.ms)
        #expect(admission.request(slot: 0, id: 8, now: 122 * Self.ms, deadline: Self.later) == .start(isProbe: true))
        admission.finished(slot: 0, wasProbe: true, outcome: .failed, now: 130 * Self.ms)
        #expect(admission.breakerOpens == ["a": 2])
        #expect(admission.request(slot: 0, id: 9, now: 229 * Self.ms, deadline: Self.later) == .fail(.circuitOpen))
        // The late answer of call 2 (started before the breaker opened) does not close it.
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 230 * Self.ms)
        #expect(admission.request(slot: 0, id: 10, now: 230 * Self.ms, deadline: Self.later) == .start(isProbe: true))
        admission.finished(slot: 0, wasProbe: true, outcome: .succeeded, now: 240 * Self.ms)
        #expect(admission.request(slot: 0, id: 11, now: 240 * Self.ms, deadline: Self.later) == .start(isProbe: false))
        #expect(admission.slots[0].breaker?.state == .closed(consecutiveFailures: 0))
        #expect(admission.slots[0].inFlight == 1)
    }

    @Test func aQueuedCallIsCheckedAgainstTheBreakerWhenItReachesTheHead() {
        let admission = Self.controller(limit: 1, breaker: BreakerSettings(failures: 1, cooldownMs: 100))
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 3, now: 0, deadline: Self.later)
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: Self.ms)
        #expect(
            admission.admitWaiting(slot: 0, now: Self.ms)
                == AdmissionActions(steps: [.fail(id: 2, .circuitOpen), .fail(id: 3, .circuitOpen)]))
        #expect(admission.slots[0].waiting == 0)
        #expect(admission.slots[0].inFlight == 0)
    }

    @Test func aQueuedCallWhoseDeadlinePassedFailsAsATimeout() {
        let admission = Self.controller(limit: 1)
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: 50 * Self.ms)
        _ = admission.request(slot: 0, id: 3, now: 0, deadline: Self.later)
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 50 * Self.ms)
        #expect(
            admission.admitWaiting(slot: 0, now: 50 * Self.ms)
                == AdmissionActions(steps: [.fail(id: 2, .timeout), .start(id: 3, isProbe: false)]))
        // Less than a millisecond left: not started either.
        let fresh = Self.controller(limit: 1)
        #expect(fresh.request(slot: 0, id: 1, now: 10 * Self.ms, deadline: 10 * Self.ms + 999_999) == .fail(.timeout))
        #expect(fresh.slots[0].inFlight == 0)
    }

    @Test func aRateHoldsCallsInTheQueueUntilTheirTokenIsDue() {
        // 2/s: a burst of two, then one token every 500 ms.
        let admission = Self.controller(limit: 10, rate: 2)
        #expect(admission.request(slot: 0, id: 1, now: 0, deadline: Self.later) == .start(isProbe: false))
        #expect(admission.request(slot: 0, id: 2, now: 0, deadline: Self.later) == .start(isProbe: false))
        #expect(!admission.admitsAtOnce(slot: 0, now: 0))
        let timer = AdmissionActions.RateTimer(slot: 0, deadline: 500 * Self.ms)
        #expect(admission.request(slot: 0, id: 3, now: 0, deadline: Self.later) == .queued(.init(rateTimers: [timer])))
        // One timer per slot: the next call waits behind without another.
        #expect(admission.request(slot: 0, id: 4, now: 0, deadline: Self.later) == .queued(.init()))
        #expect(admission.slots[0].rateTimerArmed)
        // A finished call frees a place but brings no token.
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 0)
        #expect(admission.admitWaiting(slot: 0, now: 0).isEmpty)

        let next = AdmissionActions.RateTimer(slot: 0, deadline: 1_000 * Self.ms)
        #expect(
            admission.timerFired(slot: 0, now: 500 * Self.ms)
                == AdmissionActions(steps: [.start(id: 3, isProbe: false)], rateTimers: [next]))
        #expect(admission.timerFired(slot: 0, now: 1_000 * Self.ms) == Self.starts(4))
        #expect(!admission.slots[0].rateTimerArmed)
        #expect(admission.slots[0].waiting == 0)
    }

    @Test func aReloadKeepsCountsQueuesBucketsAndBreakers() {
        let admission = Self.controller(limit: 1, breaker: BreakerSettings(failures: 1, cooldownMs: 1_000))
        _ = admission.request(slot: 0, id: 1, now: 0, deadline: Self.later)
        _ = admission.request(slot: 0, id: 2, now: 0, deadline: Self.later)
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: Self.ms)
        // The breaker is open; a reload with other settings keeps it open (the queued call fails on it).
        let reloaded = admission.setLimits(
            [
                .init(slot: 0, upstreamName: "a", limit: 1, breaker: BreakerSettings(failures: 5, cooldownMs: 2_000)),
                .init(slot: 1, upstreamName: "b", limit: 4),
            ],
            now: 2 * Self.ms)
        #expect(reloaded == AdmissionActions(steps: [.fail(id: 2, .circuitOpen)]))
        #expect(admission.request(slot: 0, id: 3, now: 3 * Self.ms, deadline: Self.later) == .fail(.circuitOpen))
        #expect(admission.slots[0].breaker?.settings == BreakerSettings(failures: 5, cooldownMs: 2_000))
        #expect(admission.breakerOpens == ["a": 1])

        // A configuration without the breaker drops it.
        _ = admission.setLimits([.init(slot: 0, upstreamName: "a", limit: 1, ratePerSecond: 1)], now: 4 * Self.ms)
        #expect(admission.slots[0].breaker == nil)
        #expect(admission.request(slot: 0, id: 4, now: 1_000 * Self.ms, deadline: Self.later) == .start(isProbe: false))
        #expect(admission.request(slot: 0, id: 5, now: 1_000 * Self.ms, deadline: Self.later) == .queued(.init()))
        // The bucket keeps its (spent) tokens across a reload: a new one would be full.
        _ = admission.setLimits([.init(slot: 0, upstreamName: "a", limit: 1, ratePerSecond: 1)], now: 1_000 * Self.ms)
        #expect(admission.slots[0].bucket.map { $0.tokens < 1 } == true)
        // A configuration that no longer names the slot keeps its limits; it is reported while it holds calls.
        _ = admission.setLimits([.init(slot: 1, upstreamName: "b", limit: 4)], now: 1_000 * Self.ms)
        #expect(!admission.slots[0].isCurrent)
        #expect(admission.slots[0].limit == 1)
        #expect(admission.load["a"] == ServerMetrics.UpstreamLoad(inFlight: 1, queued: 1))
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 2_000 * Self.ms)
        #expect(admission.admitWaiting(slot: 0, now: 2_000 * Self.ms) == Self.starts(5))
        admission.finished(slot: 0, wasProbe: false, outcome: .succeeded, now: 2_001 * Self.ms)
        #expect(admission.load["a"] == nil)
        #expect(admission.load["b"] == ServerMetrics.UpstreamLoad())
    }

    @Test func aFleetDecidesLeasedTokensAndTheProbe() {
        let fleet = FakeFleet()
        fleet.leasedTokens = 1
        let admission = Self.controller(
            limit: 10, breaker: BreakerSettings(failures: 1, cooldownMs: 100), rate: 1, fleet: fleet)
        #expect(admission.request(slot: 0, id: 1, now: 0, deadline: Self.later, fleet: fleet) == .start(isProbe: false))
        // The lease is spent: the call waits without a rate timer (the fleet wakes the slot).
        #expect(admission.request(slot: 0, id: 2, now: 0, deadline: Self.later, fleet: fleet) == .queued(.init()))
        #expect(!admission.slots[0].rateTimerArmed)
        #expect(!admission.admitsAtOnce(slot: 0, now: 0, fleet: fleet))
        fleet.leasedTokens = 1
        #expect(admission.admitWaiting(slot: 0, now: Self.ms, fleet: fleet) == Self.starts(2))

        // The breaker's opening is told; while the fleet holds the probe back, calls fail fast.
        admission.finished(slot: 0, wasProbe: false, outcome: .failed, now: 2 * Self.ms, fleet: fleet)
        #expect(fleet.opened == [100])
        fleet.holdsProbe = true
        fleet.leasedTokens = 5
        #expect(
            admission.request(slot: 0, id: 3, now: 200 * Self.ms, deadline: Self.later, fleet: fleet)
                == .fail(.circuitOpen))
        fleet.holdsProbe = false
        #expect(
            admission.request(slot: 0, id: 4, now: 200 * Self.ms, deadline: Self.later, fleet: fleet)
                == .start(isProbe: true))
        admission.finished(slot: 0, wasProbe: true, outcome: .succeeded, now: 201 * Self.ms, fleet: fleet)
        #expect(fleet.probesEnded == 1)
        // The fleet may open the local breaker (another replica's opening).
        admission.adjustBreaker(slot: 0) { $0.callFailed(wasProbe: false, now: 300 * Self.ms) }
        #expect(
            admission.request(slot: 0, id: 5, now: 300 * Self.ms, deadline: Self.later, fleet: fleet)
                == .fail(.circuitOpen))
    }
}

/// Holds the controller under test, so that `#expect` can take its mutating calls.
private final class Harness {
    var controller = AdmissionController()

    var slots: [AdmissionController.SlotState] { controller.slots }
    var load: [String: ServerMetrics.UpstreamLoad] { controller.load }
    var breakerOpens: [String: UInt64] { controller.breakerOpens }

    func setLimits(
        _ settings: [AdmissionController.SlotSettings], now: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) -> AdmissionActions {
        controller.setLimits(settings, now: now, fleet: fleet)
    }

    func request(
        slot: Int, id: UInt64, now: UInt64, deadline: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) -> Admission {
        controller.request(slot: slot, id: id, now: now, deadline: deadline, fleet: fleet)
    }

    func finished(
        slot: Int, wasProbe: Bool, outcome: AdmissionOutcome, now: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) {
        controller.finished(slot: slot, wasProbe: wasProbe, outcome: outcome, now: now, fleet: fleet)
    }

    func cancelled(id: UInt64) -> Bool { controller.cancelled(id: id) }

    func timerFired(slot: Int, now: UInt64) -> AdmissionActions { controller.timerFired(slot: slot, now: now) }

    func admitWaiting(slot: Int, now: UInt64, fleet: some AdmissionFleet = NoFleet()) -> AdmissionActions {
        controller.admitWaiting(slot: slot, now: now, fleet: fleet)
    }

    func admitsAtOnce(slot: Int, now: UInt64, fleet: some AdmissionFleet = NoFleet()) -> Bool {
        controller.admitsAtOnce(slot: slot, now: now, fleet: fleet)
    }

    func adjustBreaker(slot: Int, _ change: (inout CircuitBreaker) -> Void) {
        controller.adjustBreaker(slot: slot, change)
    }
}

/// A fleet whose answers the test sets: `leasedTokens` nil leaves the rate to the local bucket.
private final class FakeFleet: AdmissionFleet {
    var leasedTokens: Int? = nil
    var holdsProbe = false
    var opened: [Int] = []
    var probesEnded = 0

    func takeToken(slot: Int) -> Bool? {
        guard let tokens = leasedTokens else { return nil }
        guard tokens > 0 else { return false }
        leasedTokens = tokens - 1
        return true
    }

    func hasToken(slot: Int) -> Bool? { leasedTokens.map { $0 > 0 } }
    func managesRate(slot: Int) -> Bool { leasedTokens != nil }
    func holdsBackProbe(slot: Int, breaker: CircuitBreaker) -> Bool { holdsProbe }
    func breakerOpened(slot: Int, cooldownMs: Int) { opened.append(cooldownMs) }
    func probeEnded(slot: Int) { probesEnded += 1 }
}
