import FanoutTestSupport
import Foundation
import Testing

/// Routes whose calls are all optional, with and without `min_success`, against real partners: one that
/// answers, one that answers 503, one that times out and a closed port.
@Suite struct MinSuccessTests {
    static func partners() throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/ok": .json(#"{"n":1}"#),
            "/busy": .respond(status: 503, body: Array(#"{"error":"busy"}"#.utf8)),
            "/slow": .json(#"{"n":2}"#, delayMs: 2_000),
        ])
    }

    /// Without `min_success`, a route of optional calls answers 200 even when every call failed: each value is
    /// null and `_errors` lists the failures, `X-Fanout-Complete: false`.
    @Test func everyOptionalCallFailingStillAnswers200() throws {
        let stub = try Self.partners()
        let refused = try RefusedPort()
        defer { refused.close() }
        let closed = refused.port
        let server = try TestServer(
            """
            route GET /all-down {
                call busy   GET {{stub}}/busy optional
                call slow   GET {{stub}}/slow optional timeout=200ms
                call closed GET http://127.0.0.1:\(closed)/x optional
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/all-down")
        #expect(response.status == 200, "\(response.bodyText)")
        #expect(response.header("X-Fanout-Complete") == "false")
        let body = try jsonObject(response)
        #expect(body["busy"] is NSNull && body["slow"] is NSNull && body["closed"] is NSNull)
        let errors = try #require(body["_errors"] as? [[String: Any]])
        #expect(errors.map { $0["kind"] as? String } == ["status", "timeout", "refused"])
        #expect(errors[0]["status"] as? Int == 503)
    }

    @Test func fewerSuccessesThanMinSuccessFailTheRoute() throws {
        let stub = try Self.partners()
        let server = try TestServer(
            """
            route GET /two-of-three {
                min_success 2
                call ok   GET {{stub}}/ok optional
                call busy GET {{stub}}/busy optional
                call slow GET {{stub}}/slow optional timeout=200ms
            }
            route GET /one-of-two {
                min_success 1
                call ok   GET {{stub}}/ok optional
                call busy GET {{stub}}/busy optional
            }
            route GET /timeouts {
                min_success 1
                call a GET {{stub}}/slow optional timeout=200ms
                call b GET {{stub}}/slow optional timeout=200ms
            }
            """, substitutions: ["stub": stub.baseURL])

        let failed = try server.get("/two-of-three")
        #expect(failed.status == 502, "\(failed.bodyText)")
        #expect(failed.header("X-Fanout-Complete") == "false")
        let body = try jsonObject(failed)
        #expect(body["error"] as? String == "upstream_failed")
        #expect(body["message"] as? String == "1 of 3 calls succeeded; min_success is 2")
        let errors = try #require(body["errors"] as? [[String: Any]])
        #expect(errors.map { $0["call"] as? String } == ["busy", "slow"])

        let met = try server.get("/one-of-two")
        #expect(met.status == 200, "\(met.bodyText)")
        #expect((try jsonObject(met)["_errors"] as? [[String: Any]])?.count == 1)

        let timedOut = try server.get("/timeouts")
        #expect(timedOut.status == 504, "\(timedOut.bodyText)")
    }
}
