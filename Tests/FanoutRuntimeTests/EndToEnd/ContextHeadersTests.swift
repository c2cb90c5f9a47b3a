import FanoutTestSupport
import Foundation
import Testing

/// `context_headers`: what a partner receives of the headers fanout sets itself (X-Forwarded-For, -Proto,
/// -Host, X-Request-Id, traceparent with tracestate), on composite calls, `for_each` items, proxy routes and
/// tunnels; the client's own lines of those names never pass through; the client, the access log and the cache
/// keys see the rest as before.
@Suite struct ContextHeadersTests {
    static let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let clientHeaders: [(String, String)] = [
        ("Host", "shop.example"), ("X-Request-Id", "req-ctx-1"), ("X-Forwarded-For", "10.9.9.9"),
        ("X-Forwarded-Host", "spoofed.example"), ("X-Forwarded-Proto", "https"),
        ("traceparent", "00-\(clientTrace)-00f067aa0ba902b7-01"), ("tracestate", "rojo=00f067aa0ba902b7"),
    ]
    static let contextNames = [
        "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "traceparent", "tracestate",
    ]

    /// The context header names `request` carries, in `contextNames`' order.
    static func contextHeaders(of request: StubRequest) -> [String] {
        contextNames.filter { request.header($0) != nil }
    }

    @Test func eachCompositeCallCarriesOnlyItsUpstreamsContextHeaders() throws {
        let stub = try UpstreamStub(routes: [
            "/private": .json("{}"), "/ided": .json("{}"), "/full": .json("{}"), "/item/a": .json("{}"),
            "/item/b": .json("{}"),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            forward_headers Accept-Language
            upstream private { url {{stub}}; context_headers off }
            upstream ided { url {{stub}}; context_headers x-request-id }
            upstream full { url {{stub}} }
            route GET /p {
                call private GET private /private
                call ided GET ided /ided
                call full GET full /full
                call items GET private /item/{item} {
                    for_each query.ids
                }
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/p?ids=a,b", headers: Self.clientHeaders + [("Accept-Language", "de")])
        #expect(response.status == 200, "\(response.bodyText)")
        // The client still gets its id back, and the access log still has the id and the client's trace.
        #expect(response.header("X-Request-Id") == "req-ctx-1")
        #expect(waitUntil(timeoutMs: 10_000) { server.accessLog.all.count == 1 })
        let line = try #require(server.accessLog.all.first)
        #expect(line.contains(#""request_id":"req-ctx-1""#) && line.contains(Self.clientTrace), "\(line)")

        let seen = stub.receivedRequests
        try #require(seen.count == 5)
        for request in seen {
            // The allowlisted client header goes to every upstream, whatever its context_headers.
            #expect(request.header("Accept-Language") == "de", "\(request.path): \(request.headers)")
            switch request.path {
            case "/private", "/item/a", "/item/b":
                #expect(Self.contextHeaders(of: request) == [], "\(request.path): \(request.headers)")
            case "/ided":
                #expect(Self.contextHeaders(of: request) == ["X-Request-Id"], "\(request.headers)")
                #expect(request.header("X-Request-Id") == "req-ctx-1")
            default:
                #expect(Self.contextHeaders(of: request) == Self.contextNames, "\(request.headers)")
                #expect(request.header("X-Forwarded-For") == "10.9.9.9, 127.0.0.1")
                #expect(request.header("X-Forwarded-Host") == "shop.example")
                #expect(request.header("X-Forwarded-Proto") == "http")
                #expect(request.header("traceparent")?.contains(Self.clientTrace) == true)
                #expect(request.header("tracestate") == "rojo=00f067aa0ba902b7")
            }
        }
    }

    /// A route none of whose upstreams takes a forwarding line (X-Forwarded-*, X-Request-Id) builds none: the
    /// allowlisted client headers and `traceparent` still go out, and the allowlisted lines still key the cache.
    @Test func aRouteWithoutForwardingLinesStillSendsAndKeysTheAllowlistedOnes() throws {
        let stub = try UpstreamStub(routes: ["/private": .json("{}"), "/traced": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            forward_headers Accept-Language
            upstream private { url {{stub}}; context_headers off }
            upstream traced { url {{stub}}; context_headers traceparent }
            route GET /q {
                call private GET private /private cache=1m
                call traced GET traced /traced
            }
            """, substitutions: ["stub": stub.baseURL])
        for language in ["de", "fr", "de"] {
            let response = try server.get("/q", headers: Self.clientHeaders + [("Accept-Language", language)])
            #expect(response.status == 200, "\(response.bodyText)")
        }
        // One cache entry per language: the allowlisted line is part of the key.
        #expect(stub.requests(forPath: "/private") == 2)
        #expect(stub.requests(forPath: "/traced") == 3)
        for request in stub.receivedRequests {
            #expect(["de", "fr"].contains(request.header("Accept-Language") ?? ""), "\(request.headers)")
            let expected = request.path == "/traced" ? ["traceparent", "tracestate"] : []
            #expect(Self.contextHeaders(of: request) == expected, "\(request.path): \(request.headers)")
        }
    }

    /// Without a `Host` (HTTP/1.0) there is no X-Forwarded-Host: the lines a partner gets are still the ones
    /// its `context_headers` names.
    @Test func aRequestWithoutHostSendsEachUpstreamItsOwnLines() throws {
        let stub = try UpstreamStub(routes: ["/ided": .json("{}"), "/proto": .json("{}"), "/full": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream ided { url {{stub}}; context_headers X-Request-Id }
            upstream proto { url {{stub}}; context_headers X-Forwarded-Proto X-Forwarded-Host }
            upstream full { url {{stub}} }
            route GET /p {
                call ided GET ided /ided
                call proto GET proto /proto
                call full GET full /full
            }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        try client.send("GET /p HTTP/1.0\r\nX-Request-Id: req-ctx-2\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        let seen = Dictionary(uniqueKeysWithValues: stub.receivedRequests.map { ($0.path, $0) })
        let ided = try #require(seen["/ided"])
        #expect(Self.contextHeaders(of: ided) == ["X-Request-Id"], "\(ided.headers)")
        #expect(ided.header("X-Request-Id") == "req-ctx-2")
        let proto = try #require(seen["/proto"])
        #expect(Self.contextHeaders(of: proto) == ["X-Forwarded-Proto"], "\(proto.headers)")
        let full = try #require(seen["/full"])
        #expect(
            Self.contextHeaders(of: full) == ["X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "traceparent"])
    }

    @Test func aProxyRouteWithContextHeadersOffPassesNoneOfTheClientsOwnThrough() throws {
        let stub = try UpstreamStub(routes: ["/x": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream private { url {{stub}}; context_headers off }
            upstream chained { url {{stub}}; context_headers X-Forwarded-For traceparent }
            route GET /q { proxy private /x }
            route GET /r { proxy chained /x }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/q", headers: Self.clientHeaders + [("X-Keep", "1")])
        #expect(response.status == 200)
        #expect(response.header("X-Request-Id") == "req-ctx-1")
        let chained = try server.get("/r", headers: Self.clientHeaders)
        #expect(chained.status == 200)

        let seen = stub.receivedRequests
        try #require(seen.count == 2)
        #expect(Self.contextHeaders(of: seen[0]) == [], "\(seen[0].headers)")
        // Other client headers still pass through.
        #expect(seen[0].header("X-Keep") == "1")
        #expect(Self.contextHeaders(of: seen[1]) == ["X-Forwarded-For", "traceparent", "tracestate"])
        #expect(seen[1].header("X-Forwarded-For") == "10.9.9.9, 127.0.0.1")
        #expect(seen[1].header("traceparent")?.contains(Self.clientTrace) == true)
    }

    @Test func aTunnelWithContextHeadersOffCarriesNoneOfThem() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(
            """
            upstream chat { url {{partner}}; context_headers off }
            route GET /ws/{rest...} { proxy chat /{rest...}; tunnel_idle_timeout 1m }
            """, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(
            port: server.port, path: "/ws/echo",
            extraHeaders: [
                "X-Forwarded-For: 10.9.9.9", "X-Request-Id: req-ctx-1",
                "traceparent: 00-\(Self.clientTrace)-00f067aa0ba902b7-01", "tracestate: rojo=1", "X-Trace-Me: 1",
            ])
        #expect(client.status == 101, "answer: \(client.answerHead)")
        let head = try #require(partner.receivedHeads.first).lowercased()
        #expect(head.contains("x-trace-me: 1"), "\(head)")
        for name in Self.contextNames {
            #expect(!head.contains(name.lowercased() + ":"), "\(name) in \(head)")
        }
        client.halfClose()
        #expect(try client.receive() == nil)
    }

    /// The cache key holds the forwarded lines actually sent: without `X-Forwarded-Host`, clients naming
    /// different hosts share one entry; with it (the default), each host has its own.
    @Test func theCacheKeyHoldsOnlyTheContextHeadersSent() throws {
        let stub = try UpstreamStub(routes: ["/private": .json("{}"), "/full": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream private { url {{stub}}; context_headers off }
            upstream full { url {{stub}} }
            route GET /p { call it GET private /private cache=1m }
            route GET /f { call it GET full /full cache=1m }
            """, substitutions: ["stub": stub.baseURL])
        for host in ["a.example", "b.example", "a.example"] {
            #expect(try server.get("/p", headers: [("Host", host)]).status == 200)
            #expect(try server.get("/f", headers: [("Host", host)]).status == 200)
        }
        #expect(stub.requests(forPath: "/private") == 1)
        #expect(stub.requests(forPath: "/full") == 2)
    }
}
