import Testing

@testable import FanoutCore

/// ``CallFailure/gatewayStatus``: the one 502/503/504 mapping of proxy routes and of a composite answer.
@Suite struct GatewayStatusTests {
    @Test(
        arguments: [
            (CallFailure.timeout, 504),
            (.tooSlow(MinimumRate(bytesPerSecond: 1_000, graceMs: 1_000)), 504),
            (.circuitOpen, 503),
            (.overloaded(queueLimit: 4), 503),
            (.refused, 502),
            (.connection("reset"), 502),
            (.status(500), 502),
            (.auth("no token"), 502),
        ] as [(CallFailure, Int)])
    func oneFailure(_ failure: CallFailure, _ status: Int) {
        #expect(failure.gatewayStatus == status)
        #expect(CallFailure.gatewayStatus(of: [failure]) == status)
    }

    @Test(
        arguments: [
            ([CallFailure.timeout, .skipped("input failed"), .timeout], 504),
            ([.circuitOpen, .overloaded(queueLimit: 0), .skipped("input failed")], 503),
            ([.timeout, .circuitOpen], 502),
            ([.timeout, .refused], 502),
            ([.skipped("input failed")], 502),
            ([], 502),
        ] as [([CallFailure], Int)])
    func severalFailures(_ failures: [CallFailure], _ status: Int) {
        #expect(CallFailure.gatewayStatus(of: failures) == status)
    }
}
