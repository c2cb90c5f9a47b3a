import FanoutTestSupport
import Foundation
import Testing

/// The per-worker cache of composite call answers (`cache=`): what is served from it, what the partner's
/// Cache-Control keeps out, and the byte bound. One worker, so one cache; the stub counts what reaches it.
@Suite struct CallCacheTests {
    static func json(_ body: String, cacheControl: String? = nil) -> UpstreamStub.Behavior {
        var headers = [("Content-Type", "application/json")]
        if let cacheControl { headers.append(("Cache-Control", cacheControl)) }
        return .respond(status: 200, headers: headers, body: Array(body.utf8))
    }

    @Test func aCachedCallReachesThePartnerOnceWithinItsLifetime() throws {
        let stub = try UpstreamStub(routes: ["/rates": Self.json(#"{"eur":1.1}"#)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /rates { call rates GET partner /rates cache=1m }
            route GET /fresh { call rates GET partner /rates }
            """, substitutions: ["stub": stub.baseURL])

        for _ in 0..<5 {
            let response = try server.get("/rates")
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"rates":{"eur":1.1}}"#)
        }
        #expect(stub.requests(forPath: "/rates") == 1)
        // A call without `cache=` neither reads nor fills the cache.
        #expect(try server.get("/fresh").status == 200)
        #expect(stub.requests(forPath: "/rates") == 2)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_cache_hits_total{upstream="partner"}"#] == 4)
        #expect(samples[#"fanout_cache_misses_total{upstream="partner"}"#] == 1)
    }

    @Test func noStoreAndPrivateAnswersAreNeverCachedAndMaxAgeShortensTheLifetime() throws {
        let stub = try UpstreamStub(routes: [
            "/secret": Self.json(#"{"s":1}"#, cacheControl: "no-store"),
            "/mine": Self.json(#"{"m":1}"#, cacheControl: "private, max-age=600"),
            "/brief": Self.json(#"{"b":1}"#, cacheControl: "public, max-age=1"),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /x/{what} { call it GET partner /{what} cache=1h }
            """, substitutions: ["stub": stub.baseURL])

        for _ in 0..<3 {
            #expect(try server.get("/x/secret").status == 200)
            #expect(try server.get("/x/mine").status == 200)
            #expect(try server.get("/x/brief").status == 200)
        }
        #expect(stub.requests(forPath: "/secret") == 3)
        #expect(stub.requests(forPath: "/mine") == 3)
        #expect(stub.requests(forPath: "/brief") == 1)
        // max-age=1 ends the entry after a second, well before the configured hour.
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try server.get("/x/brief").status == 200)
        #expect(stub.requests(forPath: "/brief") == 2)
    }

    @Test func aDifferentForwardedHeaderIsADifferentEntry() throws {
        let stub = try UpstreamStub(routes: ["/me": Self.json(#"{"me":1}"#)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            forward_headers Authorization
            upstream partner { url {{stub}} }
            route GET /me { call me GET partner /me cache=1m }
            """, substitutions: ["stub": stub.baseURL])

        for token in ["a", "b", "a", "b"] {
            #expect(try server.get("/me", headers: [("Authorization", "Bearer \(token)")]).status == 200)
        }
        let seen = stub.receivedRequests.map { $0.header("Authorization") ?? "-" }
        #expect(seen == ["Bearer a", "Bearer b"])
    }

    @Test func anAnswerLargerThanTheCacheIsNotKept() throws {
        let big = "{\"pad\":\"" + String(repeating: "x", count: 4_000) + "\"}"
        let stub = try UpstreamStub(routes: ["/big": Self.json(big), "/small": Self.json(#"{"s":1}"#)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            cache_size 2k
            upstream partner { url {{stub}} }
            route GET /x/{what} { call it GET partner /{what} cache=1m }
            """, substitutions: ["stub": stub.baseURL])

        for _ in 0..<3 {
            #expect(try server.get("/x/big").status == 200)
            #expect(try server.get("/x/small").status == 200)
        }
        #expect(stub.requests(forPath: "/big") == 3)
        #expect(stub.requests(forPath: "/small") == 1)
    }
}
