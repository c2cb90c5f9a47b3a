import FanoutTestSupport
import Foundation
import Testing

/// The call cache's freshness from the partner's headers (`cache=upstream`, `Expires`, `Vary`) and its stale
/// answers (stale-while-revalidate, stale-if-error). One worker, so one cache; the stub counts what reaches it
/// and changes its answer mid-test. Lifetimes are about a second, checked with wide margins.
@Suite struct StaleCacheTests {
    static func answer(_ body: String, _ headers: [(String, String)], delayMs: Int = 0) -> UpstreamStub.Behavior {
        .respond(
            status: 200, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8),
            delayMs: delayMs)
    }

    /// The `cache` value of the call named `call` in each access-log line, in order.
    static func cacheUses(_ server: TestServer, call: String, count: Int) -> [String] {
        #expect(waitUntil { server.accessLog.all.count >= count })
        return server.accessLog.all.map { line in
            guard let range = line.range(of: #"{"name":"\#(call)""#) else { return "-" }
            let rest = line[range.upperBound...].prefix { $0 != "}" }
            guard let cache = rest.range(of: #""cache":""#) else { return "-" }
            return String(rest[cache.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test func cacheUpstreamHonoursMaxAgeAndStoresNothingWithoutExplicitFreshness() throws {
        let stub = try UpstreamStub(routes: [
            "/brief": Self.answer(#"{"b":1}"#, [("Cache-Control", "public, max-age=1")]),
            "/plain": Self.answer(#"{"p":1}"#, []),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /x/{what} { call it GET partner /{what} cache=upstream }
            """, substitutions: ["stub": stub.baseURL])

        #expect(try server.get("/x/brief").bodyText == #"{"it":{"b":1}}"#)
        #expect(try server.get("/x/brief").bodyText == #"{"it":{"b":1}}"#)
        #expect(stub.requests(forPath: "/brief") == 1)
        Thread.sleep(forTimeInterval: 1.3)
        #expect(try server.get("/x/brief").status == 200)
        #expect(stub.requests(forPath: "/brief") == 2)
        // No max-age, s-maxage or Expires: no heuristic lifetime, every call reaches the partner.
        for _ in 0..<3 { #expect(try server.get("/x/plain").status == 200) }
        #expect(stub.requests(forPath: "/plain") == 3)
        #expect(Self.cacheUses(server, call: "it", count: 6) == ["miss", "hit", "miss", "miss", "miss", "miss"])
    }

    @Test func expiresShortensTheLifetimeAndAnInvalidExpiresIsAlreadyExpired() throws {
        // A fixed Date one second before Expires: one second of freshness whatever the local clock says.
        let stub = try UpstreamStub(routes: [
            "/dated": Self.answer(
                #"{"d":1}"#, [("Date", "Sun, 06 Nov 1994 08:49:37 GMT"), ("Expires", "Sun, 06 Nov 1994 08:49:38 GMT")]),
            "/zero": Self.answer(#"{"z":1}"#, [("Expires", "0")]),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /ttl/{what} { call it GET partner /{what} cache=1h }
            route GET /up/{what} { call it GET partner /{what} cache=upstream }
            """, substitutions: ["stub": stub.baseURL])

        for _ in 0..<3 { #expect(try server.get("/ttl/dated").status == 200) }
        #expect(stub.requests(forPath: "/dated") == 1)
        Thread.sleep(forTimeInterval: 1.3)
        #expect(try server.get("/ttl/dated").status == 200)
        #expect(stub.requests(forPath: "/dated") == 2)
        for _ in 0..<2 {
            #expect(try server.get("/ttl/zero").status == 200)
            #expect(try server.get("/up/zero").status == 200)
        }
        #expect(stub.requests(forPath: "/zero") == 4)
    }

    @Test func aStaleEntryIsServedAtOnceWhileOneBackgroundTransferRefreshesIt() throws {
        let headers = [("Cache-Control", "max-age=1, stale-while-revalidate=30")]
        let stub = try UpstreamStub(routes: ["/v": Self.answer(#"{"v":1}"#, headers)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /v { call v GET partner /v cache=upstream }
            """, substitutions: ["stub": stub.baseURL])

        #expect(try server.get("/v").bodyText == #"{"v":{"v":1}}"#)
        Thread.sleep(forTimeInterval: 1.3)
        stub.setBehavior(Self.answer(#"{"v":2}"#, headers, delayMs: 500), forPath: "/v")
        // Expired, within the window: the old body at once, three times, and one refresh reaches the partner.
        for _ in 0..<3 {
            let (response, ms) = try measureMs { try server.get("/v") }
            #expect(response.bodyText == #"{"v":{"v":1}}"#)
            #expect(ms < 300)
        }
        #expect(waitUntil { stub.requests(forPath: "/v") == 2 })
        Thread.sleep(forTimeInterval: 0.8)
        // The refresh has replaced the entry: fresh again, with the new body.
        #expect(try server.get("/v").bodyText == #"{"v":{"v":2}}"#)
        #expect(stub.requests(forPath: "/v") == 2)
        #expect(
            Self.cacheUses(server, call: "v", count: 5) == [
                "miss", "stale_revalidate", "stale_revalidate", "stale_revalidate", "hit",
            ])
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_cache_stale_total{upstream="partner",reason="revalidate"}"#] == 3)
        #expect(samples[#"fanout_cache_refreshes_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_cache_hits_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_cache_misses_total{upstream="partner"}"#] == 1)
    }

    @Test func aRefreshInFlightDoesNotHoldUpShutdown() throws {
        let headers = [("Cache-Control", "max-age=1, stale-while-revalidate=30")]
        let stub = try UpstreamStub(routes: ["/v": Self.answer(#"{"v":1}"#, headers)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /v { call v GET partner /v cache=upstream timeout=10s }
            """, substitutions: ["stub": stub.baseURL])

        #expect(try server.get("/v").status == 200)
        Thread.sleep(forTimeInterval: 1.3)
        stub.setBehavior(Self.answer(#"{"v":2}"#, headers, delayMs: 5_000), forPath: "/v")
        #expect(try server.get("/v").bodyText == #"{"v":{"v":1}}"#)
        #expect(waitUntil { stub.requests(forPath: "/v") == 2 })
        // No client request is in flight: the drain ends at once and the refresh is aborted with the worker.
        let (_, ms) = measureMs { server.server.shutdown(graceMs: 3_000) }
        #expect(ms < 1_000)
    }

    @Test func aMissArrivingDuringARefreshJoinsIt() throws {
        // The partner gives no stale directive; one route allows stale answers, the other does not.
        let headers = [("Cache-Control", "max-age=1")]
        let stub = try UpstreamStub(routes: ["/v": Self.answer(#"{"v":1}"#, headers)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /patient { call v GET partner /v cache=upstream stale_while_revalidate=30s }
            route GET /strict { call v GET partner /v cache=upstream }
            """, substitutions: ["stub": stub.baseURL])

        // Stored by the patient call: an entry is kept for the longest window of the calls that fetched it.
        #expect(try server.get("/patient").status == 200)
        Thread.sleep(forTimeInterval: 1.3)
        stub.setBehavior(Self.answer(#"{"v":2}"#, headers, delayMs: 500), forPath: "/v")
        let (stale, staleMs) = try measureMs { try server.get("/patient") }
        #expect(stale.bodyText == #"{"v":{"v":1}}"#)
        #expect(staleMs < 300)
        // The strict call finds the entry stale: a miss, which waits for the refresh in flight.
        let (fresh, freshMs) = try measureMs { try server.get("/strict") }
        #expect(fresh.bodyText == #"{"v":{"v":2}}"#)
        #expect(freshMs > 200)
        #expect(stub.requests(forPath: "/v") == 2)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_coalesced_calls_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_cache_refreshes_total{upstream="partner"}"#] == 1)
    }

    @Test func aFailingPartnerIsAnsweredFromTheStaleEntryUntilItsWindowEnds() throws {
        let stub = try UpstreamStub(routes: [
            "/s": Self.answer(#"{"s":1}"#, [("Cache-Control", "max-age=1, stale-if-error=2")])
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /s { call s GET partner /s cache=upstream }
            """, substitutions: ["stub": stub.baseURL])

        #expect(try server.get("/s").status == 200)
        Thread.sleep(forTimeInterval: 1.2)
        // Within the stale-if-error window (1 s to 3 s after storing): a 503, then a closed connection.
        stub.setBehavior(.respond(status: 503, body: Array(#"{"down":true}"#.utf8)), forPath: "/s")
        let unavailable = try server.get("/s")
        #expect(unavailable.status == 200)
        #expect(unavailable.bodyText == #"{"s":{"s":1}}"#)
        stub.setBehavior(.closeWithoutResponse, forPath: "/s")
        #expect(try server.get("/s").bodyText == #"{"s":{"s":1}}"#)
        // libcurl resends a request once when a reused connection closes before any answer byte.
        #expect((3...4).contains(stub.requests(forPath: "/s")))
        // Past the window: the failure is the answer.
        Thread.sleep(forTimeInterval: 2.0)
        #expect(try server.get("/s").status == 502)
        #expect(Self.cacheUses(server, call: "s", count: 4) == ["miss", "stale_error", "stale_error", "miss"])
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_cache_stale_total{upstream="partner",reason="error"}"#] == 2)
        #expect(samples[#"fanout_cache_misses_total{upstream="partner"}"#] == 4)
    }

    @Test func theCallsStaleIfErrorDefaultCoversATimeout() throws {
        let stub = try UpstreamStub(routes: ["/t": Self.answer(#"{"t":1}"#, [])])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /t { call t GET partner /t cache=1s stale_if_error=30s timeout=200ms }
            """, substitutions: ["stub": stub.baseURL])

        #expect(try server.get("/t").status == 200)
        Thread.sleep(forTimeInterval: 1.2)
        stub.setBehavior(.neverRespond, forPath: "/t")
        let (response, ms) = try measureMs { try server.get("/t") }
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"t":{"t":1}}"#)
        #expect(ms >= 150 && ms < 1_500)
        #expect(Self.cacheUses(server, call: "t", count: 2) == ["miss", "stale_error"])
    }

    @Test func varyNeedsNothingMoreThanTheKeyUnlessItNamesAnUnkeyedHeader() throws {
        let stub = try UpstreamStub(routes: [
            "/lang": Self.answer(#"{"l":1}"#, [("Vary", "Accept-Language")]),
            "/per-request": Self.answer(#"{"r":1}"#, [("Vary", "X-Request-Id")]),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            forward_headers Accept-Language X-Team
            upstream partner { url {{stub}} }
            route GET /x/{what} { call it GET partner /{what} cache=1m }
            """, substitutions: ["stub": stub.baseURL])

        // Differing in the header Vary names: separate entries. Differing in one it does not name (X-Team):
        // separate entries too, because every header line fanout sends is in the key.
        for (language, team) in [("en", "a"), ("de", "a"), ("en", "a"), ("de", "a"), ("en", "b"), ("en", "b")] {
            let headers = [("Accept-Language", language), ("X-Team", team)]
            #expect(try server.get("/x/lang", headers: headers).status == 200)
        }
        let seen = stub.receivedRequests.map { "\($0.header("Accept-Language") ?? "-")/\($0.header("X-Team") ?? "-")" }
        #expect(seen == ["en/a", "de/a", "en/b"])
        // X-Request-Id differs on every request and is left out of the key: such an answer is never stored.
        for _ in 0..<3 { #expect(try server.get("/x/per-request").status == 200) }
        #expect(stub.requests(forPath: "/per-request") == 3)
    }
}
