import Testing

@testable import FanoutCore

@Suite struct CallFailureTests {
    static let kinds: [(CallFailure, String)] = [
        (.timeout, "timeout"), (.refused, "refused"), (.unreachable("x"), "unreachable"),
        (.connection("x"), "connection"), (.status(503), "status"), (.invalidBody, "invalid_body"),
        (.htmlPage, "html_page"), (.tooLarge, "too_large"),
    ]

    @Test(arguments: Self.kinds)
    func exposesTheDocumentedKind(_ example: (CallFailure, String)) {
        #expect(example.0.kind == example.1)
        #expect(!example.0.message.isEmpty)
        #expect(example.0.description.hasPrefix(example.1 + ": "))
    }

    @Test func carriesTheRuntimeMessageForNetworkFailures() {
        #expect(CallFailure.unreachable("could not resolve host: users").message == "could not resolve host: users")
        #expect(CallFailure.connection("SSL certificate problem").message == "SSL certificate problem")
        #expect(CallFailure.unreachable("").message == "upstream unreachable")
        #expect(CallFailure.status(418).message == "upstream answered with status 418")
    }

    @Test func comparesByCaseAndPayload() {
        #expect(CallFailure.status(500) == .status(500))
        #expect(CallFailure.status(500) != .status(502))
        #expect(CallFailure.connection("a") != .connection("b"))
    }
}
