import FanoutTestSupport
import Foundation
import Testing

/// `hedge`, `retries` and `retry_budget` (docs/reference/partner-protection.md, "Hedging and retries"), against
/// a real stub whose first request on a path is slow or fails and later ones are fast; the stub counts what
/// reaches it.
@Suite struct HedgingTests {
    static let unavailable = UpstreamStub.Behavior.respond(status: 503, body: Array(#"{"error":"busy"}"#.utf8))

    @Test func aHedgeAnswersForASlowFirstAttemptWhichIsCancelled() throws {
        let stub = try UpstreamStub(routes: [
            "/stuck": .sequence([.neverRespond], then: .json(#"{"id":1}"#, delayMs: 10))
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}}; timeout 5s; hedge 50ms; }
            route GET /c {
                call stuck GET partner /stuck
            }
            """, substitutions: ["stub": stub.baseURL])

        let (response, elapsedMs) = try measureMs { try server.get("/c") }
        #expect(response.status == 200)
        #expect(try jsonObject(response)["stuck"] as? [String: Int] == ["id": 1])
        #expect(elapsedMs < 1_000)  // the first attempt alone would have waited 5 s
        #expect(stub.requests(forPath: "/stuck") == 2)
        // The loser's connection is closed by fanout (the stub sees EOF); the winner's stays pooled.
        #expect(waitUntil(timeoutMs: 2_000) { stub.activeConnections == 1 })
        #expect(stub.connectionsAccepted == 2)

        #expect(waitUntil { server.accessLog.all.contains { $0.contains(#""path":"/c""#) } })
        let line = try #require(server.accessLog.all.first { $0.contains(#""path":"/c""#) })
        #expect(line.contains(#""attempts":2,"hedged":true"#))
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_upstream_hedges_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_upstream_hedge_wins_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_upstream_retries_total{upstream="partner"}"#] == nil)
    }

    @Test func withoutAHedgeTheCallWaitsForTheSlowAnswer() throws {
        let slowOnce = UpstreamStub.Behavior.sequence(
            [.json(#"{"slow":true}"#, delayMs: 1_000)], then: .json(#"{"slow":false}"#, delayMs: 10))
        let stub = try UpstreamStub(routes: [
            "/off": slowOnce, "/unset": slowOnce, "/call": slowOnce, "/limited": slowOnce,
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream hedged { url {{stub}}; hedge 50ms; }
            upstream plain { url {{stub}} }
            upstream limited { url {{stub}}; hedge 50ms; max_connections 1; }
            route GET /off {
                call a GET hedged /off hedge=off
            }
            route GET /unset {
                call a GET plain /unset
            }
            route GET /call {
                call a GET plain /call hedge=50ms
            }
            route GET /limited {
                call a GET limited /limited
            }
            """, substitutions: ["stub": stub.baseURL])

        // `/limited`: the first attempt holds the only connection place, and a hedge never queues.
        for path in ["/off", "/unset", "/limited"] {
            let (response, elapsedMs) = try measureMs { try server.get(path) }
            #expect(response.status == 200)
            #expect(response.bodyText.contains(#""slow":true"#))
            #expect(elapsedMs >= 900)
            #expect(stub.requests(forPath: path) == 1)
        }
        // The call's own `hedge=` turns it on for an upstream without one.
        let (hedged, hedgedMs) = try measureMs { try server.get("/call") }
        #expect(hedged.bodyText.contains(#""slow":false"#))
        #expect(hedgedMs < 900)
        #expect(stub.requests(forPath: "/call") == 2)
    }

    @Test func aRetryTurnsOneUnavailableOrResetAnswerIntoSuccess() throws {
        let stub = try UpstreamStub(routes: [
            "/busy": .sequence([Self.unavailable], then: .json(#"{"ok":1}"#)),
            "/busy-no-retry": .sequence([Self.unavailable], then: .json(#"{"ok":1}"#)),
            // Reset mid-answer: libcurl itself only resends a request whose reused connection closed before any byte.
            "/dropped": .sequence([.resetAfterHeaders], then: .json(#"{"ok":2}"#)),
            "/bad": .respond(status: 500, body: Array("{}".utf8)),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}}; retries 1; }
            route GET /busy {
                call a GET partner /busy
            }
            route GET /busy-no-retry {
                call a GET partner /busy-no-retry retries=0
            }
            route GET /dropped {
                call a GET partner /dropped
            }
            route GET /bad {
                call a GET partner /bad
            }
            """, substitutions: ["stub": stub.baseURL])

        let busy = try server.get("/busy")
        #expect(busy.status == 200)
        #expect(busy.bodyText.contains(#""ok":1"#))
        #expect(stub.requests(forPath: "/busy") == 2)

        let noRetry = try server.get("/busy-no-retry")
        #expect(noRetry.status != 200)
        #expect(noRetry.bodyText.contains("503"))
        #expect(stub.requests(forPath: "/busy-no-retry") == 1)

        let dropped = try server.get("/dropped")
        #expect(dropped.status == 200)
        #expect(dropped.bodyText.contains(#""ok":2"#))
        #expect(stub.requests(forPath: "/dropped") == 2)

        // A 500 is an answer, not a passing fault: not retried.
        #expect(try server.get("/bad").status != 200)
        #expect(stub.requests(forPath: "/bad") == 1)

        #expect(waitUntil { server.accessLog.all.contains { $0.contains(#""path":"/bad""#) } })
        let line = try #require(server.accessLog.all.first { $0.contains(#""path":"/busy""#) })
        #expect(line.contains(#""status":200"#) && line.contains(#""attempts":2"#) && !line.contains("hedged"))
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_upstream_retries_total{upstream="partner"}"#] == 2)
        #expect(samples[#"fanout_upstream_hedges_total{upstream="partner"}"#] == nil)
    }

    @Test func aPostCallIsNeverRetriedNorHedged() throws {
        let stub = try UpstreamStub(routes: [
            "/order": .sequence([.respond(status: 503, body: Array("{}".utf8), delayMs: 300)], then: .json("{}"))
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}}; retries 2; hedge 50ms; }
            route POST /order {
                call order POST partner /order { body `{"sku":1}`; }
            }
            """, substitutions: ["stub": stub.baseURL])

        let response = try httpRequest(
            port: server.port, method: "POST", path: "/order", headers: [("Content-Length", "0")])
        #expect(response.status != 200)
        #expect(response.bodyText.contains("503"))
        usleep(200_000)  // room for a (wrong) retry or hedge to arrive
        #expect(stub.requests(forPath: "/order") == 1)
    }

    @Test func theRetryBudgetBoundsTheExtraLoadOnAFailingPartner() throws {
        let stub = try UpstreamStub(routes: ["/down": Self.unavailable])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}}; retries 3; retry_budget 0%; }
            route GET /c {
                call a GET partner /down
            }
            """, substitutions: ["stub": stub.baseURL])

        let calls = 60
        let (statuses, elapsedMs) = try measureMs { try (0..<calls).map { _ in try server.get("/c").status } }
        #expect(statuses.allSatisfy { $0 != 200 })
        // Within one 10 s window: calls × (1 + 0 %) plus the floor of 3 retries per second of the window.
        // Without the budget it would be calls × 4 = 240.
        #expect(elapsedMs < 9_000)
        let requests = stub.requests(forPath: "/down")
        #expect(requests > calls)
        #expect(requests <= calls + 30)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_upstream_retries_total{upstream="partner"}"#] == Double(requests - calls))
        #expect((samples[#"fanout_upstream_retry_budget_exhausted_total{upstream="partner"}"#] ?? 0) > 0)
    }
}
