import FanoutTestSupport
import Foundation
import Testing

/// Plain reverse-proxy routes: method, headers, body and status passed through.
@Suite struct ProxyRouteTests {
    @Test func passesMethodHeadersBodyAndStatusThrough() throws {
        let stub = try UpstreamStub(routes: [
            "/v2/orders/7": .respond(
                status: 201,
                headers: [
                    ("Content-Type", "text/plain"), ("X-Partner", "yes"), ("Connection", "close"),
                    ("X-Request-Id", "from-partner"),
                ],
                body: Array("made".utf8))
        ])
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                header Authorization Bearer-from-config
            }
            route POST,PUT /api/{rest...} {
                proxy partner /v2/{rest...}
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try httpRequest(
            port: server.port, method: "POST", path: "/api/orders/7?dry=1",
            headers: [
                ("Content-Type", "application/json"), ("Authorization", "Bearer client"), ("X-Custom", "1"),
                ("Connection", "keep-alive, X-Custom"),
            ],
            body: Array(#"{"qty":2}"#.utf8))
        #expect(response.status == 201)
        #expect(response.bodyText == "made")
        #expect(response.header("X-Partner") == "yes")
        #expect(response.header("Content-Type") == "text/plain")
        #expect(response.headers.filter { $0.0.lowercased() == "x-request-id" }.count == 1)
        let seen = try #require(stub.receivedRequests.first)
        #expect(seen.method == "POST")
        #expect(seen.target == "/v2/orders/7")
        #expect(seen.bodyText == #"{"qty":2}"#)
        #expect(seen.header("Content-Type") == "application/json")
        // Configured headers replace the client's; headers named in Connection are hop-by-hop.
        #expect(seen.header("Authorization") == "Bearer-from-config")
        #expect(seen.header("X-Custom") == nil)
        #expect(seen.header("X-Request-Id") != nil)
        #expect(seen.header("Expect") == nil)
    }

    @Test func forwardsThePathUnchangedWithoutATemplate() throws {
        let stub = try UpstreamStub(routes: [:], fallback: .json(#"{"ok":true}"#))
        let server = try TestServer(
            """
            route GET /files/{rest...} {
                proxy {{stub}}
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/files/a/b%20c.txt?x=1&y=%2F")
        #expect(response.status == 200)
        #expect(stub.receivedRequests.first?.target == "/files/a/b%20c.txt?x=1&y=%2F")
    }

    @Test func upstreamFailuresBecome502Or504() throws {
        let stub = try UpstreamStub(routes: ["/hang": .neverRespond, "/reset": .resetAfterHeaders])
        let closedListener = try RefusedPort()
        defer { closedListener.close() }
        let closedPort = closedListener.port
        let server = try TestServer(
            """
            route GET /hang {
                proxy {{stub}}
                timeout 200ms
            }
            route GET /reset {
                proxy {{stub}}
            }
            route GET /refused {
                proxy http://127.0.0.1:\(closedPort)
            }
            """, substitutions: ["stub": stub.baseURL])
        let hang = try server.get("/hang")
        #expect(hang.status == 504)
        #expect(try jsonObject(hang)["error"] as? String == "upstream_timeout")
        // Answers stream: if the head and the first bytes were already passed on when the reset came, the
        // client sees the connection close before the declared Content-Length; if the reset came in the same
        // read as the head, nothing had reached the client and it gets a 502. Never a complete 200.
        let reset = try RawHTTPClient(port: server.port)
        defer { reset.close() }
        try reset.send("GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
        switch Result(catching: { try reset.readResponse() }) {
        case .success(let answer):
            #expect(answer.status == 502)
        case .failure:
            #expect(reset.isClosedByPeer(waitMs: 2_000))
        }
        let refused = try server.get("/refused")
        #expect(refused.status == 502)
        #expect(refused.bodyText.contains("refused"))
    }
}
