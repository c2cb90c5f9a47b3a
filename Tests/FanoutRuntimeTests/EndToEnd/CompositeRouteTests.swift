import FanoutTestSupport
import Foundation
import Testing

/// Composite routes end to end: a real fanout server, real libcurl transfers, upstream stubs on blocking
/// sockets (never fanout's own loop).
@Suite struct CompositeRouteTests {
    @Test func runsCallsInParallelAndStitchesOneObject() throws {
        let stub = try UpstreamStub(routes: [
            "/a": .json(#"{"n":1}"#, delayMs: 200),
            "/b": .json(#"[1,2,3]"#, delayMs: 200),
            "/c": .json(#"{"big":12345678901234567890,"f":0.1}"#, delayMs: 200),
        ])
        let server = try TestServer(
            """
            route GET /overview {
                call a GET {{stub}}/a
                call b GET {{stub}}/b
                call c GET {{stub}}/c
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/overview") }
        #expect(response.status == 200)
        // Three 200 ms calls: in parallel well under the 600 ms a sequence would need.
        #expect(elapsed < 500, "took \(elapsed) ms")
        #expect(response.bodyText == #"{"a":{"n":1},"b":[1,2,3],"c":{"big":12345678901234567890,"f":0.1}}"#)
        #expect(response.header("X-Fanout-Complete") == "true")
        #expect(response.header("Content-Type") == "application/json")
        let timing = try #require(response.header("Server-Timing"))
        #expect(timing.contains("a;dur=") && timing.contains("b;dur=") && timing.contains("c;dur="))
        #expect(stub.requestCount == 3)
    }

    @Test func optionalCallFailureStillAnswers200WithTheFailureVisible() throws {
        let stub = try UpstreamStub(routes: [
            "/profile": .json(#"{"id":7}"#),
            "/stock": .respond(status: 503, body: Array(#"{"error":"down"}"#.utf8)),
        ])
        let server = try TestServer(
            """
            route GET /p {
                call profile GET {{stub}}/profile
                call stock GET {{stub}}/stock optional
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/p")
        #expect(response.status == 200)
        #expect(response.header("X-Fanout-Complete") == "false")
        let body = try jsonObject(response)
        #expect((body["profile"] as? [String: Any])?["id"] as? Int == 7)
        #expect(body["stock"] is NSNull)
        let errors = try #require(body["_errors"] as? [[String: Any]])
        #expect(errors.count == 1)
        #expect(errors[0]["call"] as? String == "stock")
        #expect(errors[0]["kind"] as? String == "status")
        #expect(errors[0]["status"] as? Int == 503)
        #expect(errors[0]["elapsed_ms"] is Double)
    }

    @Test func requiredCallFailureAnswers502NamingTheCall() throws {
        let stub = try UpstreamStub(routes: [
            "/ok": .json(#"{"fine":true}"#),
            "/broken": .respond(status: 500, body: Array("oops".utf8)),
        ])
        let server = try TestServer(
            """
            route GET /p {
                call ok GET {{stub}}/ok
                call broken GET {{stub}}/broken
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/p")
        #expect(response.status == 502)
        #expect(response.header("X-Fanout-Complete") == "false")
        let body = try jsonObject(response)
        #expect(body["error"] as? String == "upstream_failed")
        let errors = try #require(body["errors"] as? [[String: Any]])
        #expect(errors.map { $0["call"] as? String } == ["broken"])
        #expect(errors[0]["status"] as? Int == 500)
    }

    @Test func perCallTimeoutIsA504ForARequiredCall() throws {
        let stub = try UpstreamStub(routes: ["/slow": .neverRespond, "/fast": .json("{}")])
        let server = try TestServer(
            """
            route GET /p {
                deadline 5s
                call fast GET {{stub}}/fast
                call slow GET {{stub}}/slow timeout=200ms
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/p") }
        #expect(response.status == 504)
        #expect(elapsed >= 190 && elapsed < 2_000, "took \(elapsed) ms")
        let errors = try #require(try jsonObject(response)["errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "timeout")
        #expect(errors.first?["call"] as? String == "slow")
    }

    @Test func routeDeadlineCutsOffAnOptionalCall() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json("{}", delayMs: 3_000), "/fast": .json(#"{"x":1}"#)])
        let server = try TestServer(
            """
            route GET /p {
                deadline 300ms
                call fast GET {{stub}}/fast
                call slow GET {{stub}}/slow optional
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/p") }
        #expect(response.status == 200)
        #expect(elapsed >= 290 && elapsed < 1_500, "took \(elapsed) ms")
        let body = try jsonObject(response)
        #expect(body["slow"] is NSNull)
        #expect((body["_errors"] as? [[String: Any]])?.first?["kind"] as? String == "timeout")
        #expect(response.header("Server-Timing")?.contains(#"slow;dur="#) == true)
    }

    @Test func refusedConnectionIsReportedAsRefused() throws {
        let closedPort = try freeTCPPort()
        let server = try TestServer(
            """
            route GET /p {
                call gone GET http://127.0.0.1:\(closedPort)/x
            }
            """)
        let response = try server.get("/p")
        #expect(response.status == 502)
        let errors = try #require(try jsonObject(response)["errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "refused")
    }

    @Test func bodiesAreEmbeddedByContentType() throws {
        let stub = try UpstreamStub(routes: [
            "/text": .respond(headers: [("Content-Type", "text/plain")], body: Array("hello \"world\"".utf8)),
            "/bad": .respond(headers: [("Content-Type", "application/json")], body: Array("{not json".utf8)),
            "/empty": .respond(status: 204, headers: [], body: []),
        ])
        let server = try TestServer(
            """
            route GET /p {
                call text GET {{stub}}/text
                call bad GET {{stub}}/bad optional
                call empty GET {{stub}}/empty
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/p")
        #expect(response.status == 200)
        let body = try jsonObject(response)
        #expect(body["text"] as? String == "hello \"world\"")
        #expect(body["bad"] is NSNull)
        #expect(body["empty"] is NSNull)
        #expect((body["_errors"] as? [[String: Any]])?.first?["kind"] as? String == "invalid_body")
    }

    @Test func routeAndQueryParametersAreEncodedSafely() throws {
        let stub = try UpstreamStub(routes: [:], fallback: .json("{}"))
        let server = try TestServer(
            """
            route GET /items/{id} {
                call detail GET {{stub}}/v1/items/{id}/detail?lang={query.lang}
            }
            """, substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/items/a%2Fb?lang=en%26x%3D1").status == 200)
        #expect(try server.get("/items/caf%C3%A9?lang=fr+CA").status == 200)
        #expect(try server.get("/items/%40evil.com?lang=a%23b").status == 200)
        let targets = stub.receivedRequests.map(\.target)
        #expect(
            targets == [
                "/v1/items/a%2Fb/detail?lang=en%26x%3D1",
                "/v1/items/caf%C3%A9/detail?lang=fr%20CA",
                "/v1/items/%40evil.com/detail?lang=a%23b",
            ])
        // Values that would change the path's structure never reach the partner.
        for bad in ["/items/..?lang=x", "/items/%2e%2e?lang=x", "/items/a%00b?lang=x", "/items/%zz?lang=x"] {
            #expect(try server.get(bad).status == 400, "\(bad)")
        }
        // A missing query parameter is the client's error.
        let missing = try server.get("/items/1")
        #expect(missing.status == 400)
        #expect(missing.bodyText.contains("lang"))
        #expect(stub.requestCount == 3)
    }

    @Test func forwardsAllowlistedHeadersIdentityAndConfiguredSecrets() throws {
        let stub = try UpstreamStub(routes: ["/x": .json("{}")])
        let server = try TestServer(
            """
            forward_headers Accept-Language
            upstream partner {
                url {{stub}}
                header X-Api-Key ${PARTNER_KEY}
            }
            route GET /p {
                call x GET partner /x header=X-Call:yes
            }
            """, substitutions: ["stub": stub.baseURL], environment: ["PARTNER_KEY": "s3cret"])
        let response = try server.get(
            "/p",
            headers: [
                ("Accept-Language", "de"), ("Cookie", "session=1"), ("X-Request-Id", "req-123"),
                ("X-Forwarded-For", "10.1.1.1"), ("Host", "shop.example"),
            ])
        #expect(response.status == 200)
        #expect(response.header("X-Request-Id") == "req-123")
        let seen = try #require(stub.receivedRequests.first)
        #expect(seen.header("X-Api-Key") == "s3cret")
        #expect(seen.header("X-Call") == "yes")
        #expect(seen.header("Accept-Language") == "de")
        #expect(seen.header("Cookie") == nil)
        #expect(seen.header("X-Request-Id") == "req-123")
        #expect(seen.header("X-Forwarded-For") == "10.1.1.1, 127.0.0.1")
        #expect(seen.header("X-Forwarded-Host") == "shop.example")
        #expect(seen.header("X-Forwarded-Proto") == "http")
    }

    /// The peer's and the `Host`'s lines are made once per connection (``ForwardedPeer``): on one keep-alive
    /// connection, each request must still forward its own `Host` and its own `X-Forwarded-For` chain, on
    /// composite calls and on proxied ones alike.
    @Test func forwardedHeadersFollowEachRequestOnAKeepAliveConnection() throws {
        let stub = try UpstreamStub(routes: ["/x": .json("{}")])
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
            }
            route GET /p {
                call x GET partner /x
            }
            route GET /q {
                proxy partner /x
            }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        let requests: [(path: String, host: String, chain: String?)] = [
            ("/p", "a.example", nil), ("/q", "b.example", "10.0.0.9"), ("/p", "b.example", nil),
            ("/q", "a.example", nil), ("/p", "a.example", "10.0.0.7, 10.0.0.8"),
        ]
        for request in requests {
            let chain = request.chain.map { "X-Forwarded-For: \($0)\r\n" } ?? ""
            try client.send("GET \(request.path) HTTP/1.1\r\nHost: \(request.host)\r\n\(chain)\r\n")
            #expect(try client.readResponse().status == 200)
        }
        let seen = stub.receivedRequests
        try #require(seen.count == requests.count)
        for (request, received) in zip(requests, seen) {
            #expect(received.header("X-Forwarded-Host") == request.host)
            #expect(received.header("X-Forwarded-For") == request.chain.map { $0 + ", 127.0.0.1" } ?? "127.0.0.1")
            #expect(received.header("X-Forwarded-Proto") == "http")
        }
    }

    @Test func writesOneAccessLogLinePerRequestWithEachCall() throws {
        let stub = try UpstreamStub(routes: ["/a": .json("{}"), "/b": .respond(status: 404, body: [])])
        let server = try TestServer(
            """
            route GET /p/{id} {
                call a GET {{stub}}/a
                call b GET {{stub}}/b optional
            }
            """, substitutions: ["stub": stub.baseURL])
        _ = try server.get("/p/1")
        #expect(waitUntil { server.accessLog.all.count == 1 })
        let line = try #require(server.accessLog.all.first)
        #expect(line.hasSuffix("\n"))
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(entry["method"] as? String == "GET")
        #expect(entry["path"] as? String == "/p/1")
        #expect(entry["route"] as? String == "GET /p/{id}")
        #expect(entry["status"] as? Int == 200)
        #expect(entry["duration_ms"] is Double)
        #expect(entry["time"] is String)
        let calls = try #require(entry["calls"] as? [[String: Any]])
        #expect(calls.map { $0["name"] as? String } == ["a", "b"])
        #expect(calls[0]["status"] as? Int == 200)
        #expect(calls[1]["status"] as? Int == 404)
        #expect(calls[0]["failure"] == nil)
        #expect(calls[1]["failure"] as? String == "status")
    }

    @Test func connectionCapQueuesCallsInsteadOfFailingThem() throws {
        let stub = try UpstreamStub(routes: [:], fallback: .json("{}", delayMs: 100))
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                max_connections 2
            }
            route GET /p {
                call a GET partner /a
                call b GET partner /b
                call c GET partner /c
                call d GET partner /d
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/p") }
        #expect(response.status == 200)
        // Four 100 ms calls, two at a time: two rounds.
        #expect(elapsed >= 190, "took \(elapsed) ms")
        #expect(stub.connectionsAccepted <= 2)
    }
}
