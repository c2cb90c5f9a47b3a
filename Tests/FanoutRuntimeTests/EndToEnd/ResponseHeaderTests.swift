import FanoutTestSupport
import Foundation
import Testing

/// `response_header`, `pass_header`, `cache_control derived` and `cors` with real partners: what reaches the
/// client, and (for preflights) that no partner is asked.
@Suite struct ResponseHeaderTests {
    static func json(_ body: String, _ headers: [(String, String)] = [], status: Int = 200) -> UpstreamStub.Behavior {
        .respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
    }

    static func values(_ response: RawHTTPResponse, _ name: String) -> [String] {
        response.headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    @Test func fixedFieldsAndFieldsPassedFromANamedCallReachTheClient() throws {
        let stub = try UpstreamStub(routes: [
            "/product": Self.json(
                #"{"id":7}"#, [("ETag", "\"p7\""), ("Link", "</p/8>; rel=next"), ("X-Internal", "1")]),
            "/stock": Self.json(#"{"error":"busy"}"#, [("Retry-After", "30")], status: 503),
            "/raw": Self.json(#"{"r":1}"#, [("Cache-Control", "no-cache"), ("X-Partner", "yes")]),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /item {
                call product GET partner /product cache=1m
                call stock GET partner /stock optional
                response_header X-Api-Version 2
                pass_header product ETag Link
                pass_header stock Retry-After
            }
            route GET /raw {
                proxy partner
                response_header Cache-Control "public, max-age=60"
            }
            """, substitutions: ["stub": stub.baseURL])

        let item = try server.get("/item")
        #expect(item.status == 200)
        #expect(item.header("X-Api-Version") == "2")
        #expect(item.header("ETag") == "\"p7\"")
        #expect(item.header("Link") == "</p/8>; rel=next")
        // Only the named fields of the named call; none from the call that failed.
        #expect(item.header("X-Internal") == nil)
        #expect(item.header("Retry-After") == nil)
        #expect(item.header("X-Fanout-Complete") == "false")
        // A cached answer keeps its fields: the second request passes the same ETag without asking the partner.
        #expect(try server.get("/item").header("ETag") == "\"p7\"")
        #expect(stub.requests(forPath: "/product") == 1)

        let raw = try server.get("/raw")
        #expect(raw.status == 200)
        #expect(Self.values(raw, "Cache-Control") == ["public, max-age=60"])
        #expect(raw.header("X-Partner") == "yes")
    }

    @Test func derivedCacheControlTakesTheShortestFreshnessOfTwoCachedCalls() throws {
        let stub = try UpstreamStub(routes: [
            "/rates": Self.json(#"{"eur":1.1}"#, [("Cache-Control", "max-age=30")]),
            "/news": Self.json(#"{"n":1}"#),
            "/secret": Self.json(#"{"s":1}"#, [("Cache-Control", "no-store")]),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /board {
                call rates GET partner /rates cache=1m
                call news GET partner /news cache=10s
                cache_control derived
            }
            route GET /mixed {
                call rates GET partner /rates cache=1m
                call secret GET partner /secret cache=1m
                cache_control derived
            }
            """, substitutions: ["stub": stub.baseURL])

        // /rates: the partner's 30 s under cache=1m; /news: cache=10s. The shorter wins.
        let first = try server.get("/board")
        #expect(first.status == 200)
        // Just received: each call's whole lifetime, so exactly the 10 s.
        #expect(first.header("Cache-Control") == "max-age=10")
        Thread.sleep(forTimeInterval: 1.2)
        // Both from the cache now: what is left of the 10 s.
        let second = try server.get("/board")
        // 1.2 s at least have passed (more on a loaded machine), and whole seconds are rounded down.
        let left = second.header("Cache-Control").flatMap { Int($0.dropFirst("max-age=".count)) }
        #expect(left.map { (5...8).contains($0) } == true, "\(second.header("Cache-Control") ?? "none")")
        #expect(stub.requests(forPath: "/rates") == 1)
        #expect(stub.requests(forPath: "/news") == 1)
        // One call whose answer may not be stored makes the whole answer no-store.
        #expect(try server.get("/mixed").header("Cache-Control") == "no-store")
    }

    @Test func aPreflightIsAnsweredWithoutCallingAnyPartner() throws {
        let stub = try UpstreamStub(routes: [
            "/items": Self.json(#"[1,2]"#),
            "/legacy": Self.json(#"{}"#, [("Access-Control-Allow-Origin", "*")]),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            cors {
                origins https://app.example https://*.shop.example
                methods GET POST
                headers Authorization
                max_age 10m
                expose ETag
            }
            route GET,POST /items { call items GET partner /items }
            route GET /legacy { proxy partner }
            route GET /open { respond 200 `{}`; cors off }
            """, substitutions: ["stub": stub.baseURL])

        let preflight = try httpRequest(
            port: server.port, method: "OPTIONS", path: "/items",
            headers: [
                ("Origin", "https://eu.shop.example"), ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization, content-type"),
            ])
        #expect(preflight.status == 204)
        #expect(preflight.header("Access-Control-Allow-Origin") == "https://eu.shop.example")
        #expect(preflight.header("Access-Control-Allow-Methods") == "GET, POST")
        #expect(preflight.header("Access-Control-Allow-Headers") == "authorization, content-type")
        #expect(preflight.header("Access-Control-Max-Age") == "600")
        let refused = try httpRequest(
            port: server.port, method: "OPTIONS", path: "/items",
            headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
        #expect(refused.status == 403)
        #expect(refused.header("Access-Control-Allow-Origin") == nil)
        #expect(stub.requests(forPath: "/items") == 0)
        #expect(server.accessLog.all.filter { $0.contains("\"route\":\"GET,POST /items\"") }.count == 2)

        let allowed = try server.get("/items", headers: [("Origin", "https://app.example")])
        #expect(allowed.status == 200)
        #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(allowed.header("Access-Control-Expose-Headers") == "ETag")
        #expect(Self.values(allowed, "Vary") == ["Origin"])
        let other = try server.get("/items", headers: [("Origin", "https://evil.example")])
        #expect(other.status == 200)
        #expect(other.header("Access-Control-Allow-Origin") == nil)
        #expect(Self.values(other, "Vary") == ["Origin"])
        #expect(stub.requests(forPath: "/items") == 2)

        // fanout's policy replaces a partner's own CORS fields.
        let legacy = try server.get("/legacy", headers: [("Origin", "https://evil.example")])
        #expect(legacy.header("Access-Control-Allow-Origin") == nil)
        // `cors off`: no CORS fields, and a preflight is a plain OPTIONS (405 here).
        #expect(try server.get("/open", headers: [("Origin", "https://app.example")]).header("Vary") == nil)
        let plain = try httpRequest(
            port: server.port, method: "OPTIONS", path: "/open",
            headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")])
        #expect(plain.status == 405)
    }

    @Test func fanoutsOwnFailureAnswersOfARouteCarryItsFields() throws {
        let server = try TestServer(
            """
            route GET /down {
                proxy http://127.0.0.1:1
                response_header X-Api-Version 2
                cors { origins https://app.example }
            }
            route GET /other { respond 200 `{}` }
            """)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /down HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n")
        let down = try client.readResponse()
        #expect(down.status == 502)
        #expect(down.header("X-Api-Version") == "2")
        #expect(down.header("Access-Control-Allow-Origin") == "https://app.example")
        // The next request on the same connection is another route's: none of those fields.
        try client.send("GET /other HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n")
        let other = try client.readResponse()
        #expect(other.status == 200)
        #expect(other.header("X-Api-Version") == nil)
        #expect(other.header("Access-Control-Allow-Origin") == nil)
    }
}
