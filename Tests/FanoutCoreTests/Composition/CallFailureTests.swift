import Testing

@testable import FanoutCore

@Suite struct CallFailureTests {
    static let kinds: [(CallFailure, String)] = [
        (.timeout, "timeout"), (.refused, "refused"), (.unreachable("x"), "unreachable"),
        (.connection("x"), "connection"), (.status(503), "status"), (.invalidBody, "invalid_body"),
        (.htmlPage, "html_page"), (.tooLarge, "too_large"), (.circuitOpen, "circuit_open"),
        (.overloaded(queueLimit: 4), "overloaded"), (.tls("x"), "tls"), (.tooSlow(.standard), "timeout"),
    ]

    @Test(arguments: Self.kinds)
    func exposesTheDocumentedKind(_ example: (CallFailure, String)) {
        #expect(example.0.kind == example.1)
        #expect(!example.0.message.isEmpty)
        #expect(example.0.description.hasPrefix(example.1 + ": "))
    }

    @Test func carriesTheRuntimeMessageForNetworkFailures() {
        #expect(CallFailure.unreachable("could not resolve host: users").message == "could not resolve host: users")
        #expect(CallFailure.connection("Connection reset by peer").message == "Connection reset by peer")
        #expect(CallFailure.tls("SSL certificate problem").message == "SSL certificate problem")
        #expect(CallFailure.tls("").message == "TLS handshake failed")
        #expect(CallFailure.unreachable("").message == "upstream unreachable")
        #expect(CallFailure.status(418).message == "upstream answered with status 418")
    }

    @Test func comparesByCaseAndPayload() {
        #expect(CallFailure.status(500) == .status(500))
        #expect(CallFailure.status(500) != .status(502))
        #expect(CallFailure.connection("a") != .connection("b"))
    }

    @Test func onlyTransportFailuresAnd5xxCountAgainstTheBreaker() {
        let counted: [CallFailure] = [
            .timeout, .refused, .unreachable("x"), .connection("x"), .tls("x"), .status(500), .status(503),
            .tooSlow(.standard),
        ]
        let ignored: [CallFailure] = [
            .status(404), .status(429), .status(302), .invalidBody, .htmlPage, .tooLarge, .skipped("x"),
            .tooManyItems(count: 3, limit: 2), .circuitOpen, .overloaded(queueLimit: 1),
        ]
        for failure in counted { #expect(failure.countsAgainstBreaker, "\(failure)") }
        for failure in ignored { #expect(!failure.countsAgainstBreaker, "\(failure)") }
    }

    @Test func aTooSlowAnswerIsATimeoutThatNamesTheRate() {
        let failure = CallFailure.tooSlow(MinimumRate(bytesPerSecond: 2_048, graceMs: 500))
        #expect(failure.description == "timeout: upstream sent its answer slower than min_rate 2k/s 500ms")
    }

    @Test func namesTheQueueLimitWhenOverloaded() {
        #expect(CallFailure.overloaded(queueLimit: 8).message.contains("max_queue 8"))
    }
}
