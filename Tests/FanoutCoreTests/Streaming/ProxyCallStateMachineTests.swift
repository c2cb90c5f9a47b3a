import Testing

@testable import FanoutCore

/// One `proxy` route's call: its phases and its two limits, on an injected clock (nanoseconds).
@Suite struct ProxyCallStateMachineTests {
    static let ms: UInt64 = 1_000_000
    /// 1000 bytes/s with 2 s of grace: one byte buys 1 ms.
    static let rate = MinimumRate(bytesPerSecond: 1_000, graceMs: 2_000)

    /// A call started at 1 s with a `timeout` of 5 s.
    static func call(minRate: MinimumRate? = nil) -> ProxyCallStateMachine {
        ProxyCallStateMachine(timeoutMs: 5_000, minRate: minRate, start: 1_000 * ms)
    }

    @Test func aCallEndsOnceAndSaysWhichPhaseItEndedFrom() {
        var call = Self.call()
        #expect(call.phase == .awaitingHead)
        let ended1 = call.finish()
        #expect(ended1 == .awaitingHead)
        #expect(call.isFinished)
        let ended2 = call.finish()
        #expect(ended2 == nil)

        var streamed = Self.call()
        streamed.headArrived(status: 201, at: 1_100 * Self.ms)
        let ended3 = streamed.finish()
        #expect(ended3 == .streaming(status: 201, paused: false))
        let ended4 = streamed.finish()
        #expect(ended4 == nil)
    }

    @Test func theHeadStartsTheStreamOnceAndKeepsItsStatus() {
        var call = Self.call()
        #expect(call.headStatus == nil && !call.isStreaming)
        call.headArrived(status: 404, at: 1_100 * Self.ms)
        #expect(call.phase == .streaming(status: 404, paused: false))
        #expect(call.headStatus == 404 && call.isStreaming)
        call.headArrived(status: 200, at: 1_200 * Self.ms)
        #expect(call.headStatus == 404)
        _ = call.finish()
        call.headArrived(status: 200, at: 1_300 * Self.ms)
        #expect(call.phase == .finished && call.headStatus == nil)
    }

    @Test func refusedBytesPauseTheTransferUntilTheClientTakesItsOutput() {
        var call = Self.call()
        // Nothing to resume before the head, nor while bytes flow.
        let resumes1 = call.clientTookOutput(at: 1_050 * Self.ms)
        #expect(!resumes1)
        call.headArrived(status: 200, at: 1_100 * Self.ms)
        let resumes2 = call.clientTookOutput(at: 1_150 * Self.ms)
        #expect(!resumes2)
        call.bodyRefused(at: 1_200 * Self.ms)
        #expect(call.isPaused)
        #expect(call.phase == .streaming(status: 200, paused: true))
        let resumes3 = call.clientTookOutput(at: 1_300 * Self.ms)
        #expect(resumes3)
        #expect(!call.isPaused)
        // Resumed once: a second report is nothing to do.
        let resumes4 = call.clientTookOutput(at: 1_400 * Self.ms)
        #expect(!resumes4)
        // A refusal before the head or after the end changes nothing.
        var early = Self.call()
        early.bodyRefused(at: 1_100 * Self.ms)
        #expect(early.phase == .awaitingHead)
        _ = call.finish()
        call.bodyRefused(at: 1_500 * Self.ms)
        #expect(call.phase == .finished && !call.isPaused)
    }

    @Test func aSilentPartnerIsCutAtTheTimeoutAndProgressMovesTheDeadline() {
        var call = Self.call()
        #expect(call.watchDeadline == 6_000 * Self.ms)
        call.noteProgress(at: 2_000 * Self.ms)
        // The timer armed for 6 s fires and finds the later deadline.
        let verdict1 = call.watchFired(at: 6_000 * Self.ms, clientIsBehind: false)
        #expect(verdict1 == .checkAgain(at: 7_000 * Self.ms))
        let verdict2 = call.watchFired(at: 7_000 * Self.ms, clientIsBehind: false)
        #expect(verdict2 == .cut(.timeout))
        // Cut is an instruction: the call ends when the runtime finishes it.
        #expect(call.phase == .awaitingHead)
        let ended5 = call.finish()
        #expect(ended5 == .awaitingHead)
        let verdict3 = call.watchFired(at: 8_000 * Self.ms, clientIsBehind: false)
        #expect(verdict3 == .ended)
    }

    @Test func bytesTakenByTheClientAreProgress() {
        var call = Self.call()
        call.headArrived(status: 200, at: 2_000 * Self.ms)
        #expect(call.watchDeadline == 7_000 * Self.ms)
        call.bodyTaken(100, at: 3_000 * Self.ms)
        #expect(call.watchDeadline == 8_000 * Self.ms)
    }

    @Test func waitingOnTheClientIsNotThePartnersSilence() {
        // Paused for the client: the limit starts afresh when the timer fires.
        var paused = Self.call()
        paused.headArrived(status: 200, at: 1_000 * Self.ms)
        paused.bodyRefused(at: 1_500 * Self.ms)
        let verdict4 = paused.watchFired(at: 6_000 * Self.ms, clientIsBehind: false)
        #expect(verdict4 == .checkAgain(at: 11_000 * Self.ms))
        // The client holds things up (its output unwritten, the request body waiting for it): the same.
        var behind = Self.call()
        let verdict5 = behind.watchFired(at: 6_000 * Self.ms, clientIsBehind: true)
        #expect(verdict5 == .checkAgain(at: 11_000 * Self.ms))
        let verdict6 = behind.watchFired(at: 11_000 * Self.ms, clientIsBehind: false)
        #expect(verdict6 == .cut(.timeout))
    }

    @Test func aDripBelowMinRateIsCutBeforeTheIdleLimit() {
        var call = Self.call(minRate: Self.rate)
        // No budget before the head: only the idle limit.
        #expect(call.answerBudget == nil)
        #expect(call.watchDeadline == 6_000 * Self.ms)
        call.headArrived(status: 200, at: 1_000 * Self.ms)
        // The budget's grace (2 s) is due before the idle limit (5 s).
        #expect(call.watchDeadline == 3_000 * Self.ms)
        // One byte every 100 ms never leaves the partner idle, but buys 1 ms each.
        var now = 1_000 * Self.ms
        var verdict = ProxyCallStateMachine.WatchVerdict.ended
        while now < 6_000 * Self.ms {
            now += 100 * Self.ms
            if now >= call.watchDeadline {
                verdict = call.watchFired(at: now, clientIsBehind: false)
                if case .cut = verdict { break }
            }
            call.bodyTaken(1, at: now)
        }
        #expect(verdict == .cut(.tooSlow(Self.rate)))
        #expect(now >= 3_000 * Self.ms && now <= 3_100 * Self.ms)
    }

    @Test func theBudgetStopsWhileTheTransferWaitsForTheClient() {
        var call = Self.call(minRate: Self.rate)
        call.headArrived(status: 200, at: 1_000 * Self.ms)
        call.bodyRefused(at: 1_500 * Self.ms)
        // Paused: only the idle limit is watched, and the spent-looking budget does not cut.
        #expect(call.watchDeadline == 6_000 * Self.ms)
        let verdict7 = call.watchFired(at: 4_000 * Self.ms, clientIsBehind: false)
        #expect(verdict7 == .checkAgain(at: 9_000 * Self.ms))
        // Resumed at 5 s: the 1.5 s of budget left when it paused run from there.
        let resumes5 = call.clientTookOutput(at: 5_000 * Self.ms)
        #expect(resumes5)
        #expect(call.watchDeadline == 6_500 * Self.ms)
        let verdict8 = call.watchFired(at: 6_500 * Self.ms, clientIsBehind: false)
        #expect(verdict8 == .cut(.tooSlow(Self.rate)))
    }
}
