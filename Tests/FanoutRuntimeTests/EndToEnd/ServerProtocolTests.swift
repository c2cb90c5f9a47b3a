import FanoutTestSupport
import Foundation
import Testing

/// The HTTP/1.1 server side against raw sockets: keep-alive, pipelining, errors, timeouts.
@Suite struct ServerProtocolTests {
    static let config = """
        client_timeout 300ms
        max_body 1k
        route GET /slow {
            respond 200 `{"which":"slow"}`
            delay 200ms
        }
        route GET /fast {
            respond 200 `{"which":"fast"}`
        }
        route * /echo {
            respond 201 `created`
            content_type text/plain
        }
        """

    @Test func keepsTheConnectionAliveAcrossRequests() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        for _ in 0..<3 {
            try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"which":"fast"}"#)
            #expect(response.header("Connection") == nil)
        }
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        // The slow answer is ready last but must be written first.
        try client.send(
            "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        let bodies = try (0..<4).map { _ in try client.readResponse().bodyText }
        #expect(bodies == [#"{"which":"slow"}"#, #"{"which":"fast"}"#, "created", #"{"which":"fast"}"#])
    }

    @Test func answersAHalfClosedPipelineThenClosesWithAbortOnCloseOff() throws {
        // The default (`abort_on_close on`) takes the FIN as the client leaving: see ClientAbortTests.
        let server = try TestServer("abort_on_close off\n" + Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        #expect(try client.readResponse().bodyText == #"{"which":"slow"}"#)
        #expect(try client.readResponse().bodyText == #"{"which":"fast"}"#)
        #expect(client.isClosedByPeer())
    }

    @Test func answersEveryRequestOfAHalfClosedPipelineBehindADelayedAnswer() throws {
        // The delayed answer lets the FIN be seen first; the two answered at once after it were once lost: the
        // second was parsed while the first was still being parsed, and the connection closed in between.
        let server = try TestServer("abort_on_close off\n" + Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(
            "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        let bodies = try (0..<4).map { _ in try client.readResponse().bodyText }
        #expect(bodies == [#"{"which":"slow"}"#, #"{"which":"fast"}"#, "created", #"{"which":"fast"}"#])
        #expect(client.isClosedByPeer())
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET /fast HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        ("GET /fast HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        ("GET /fast HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
        ("GET /fast HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("GET /fast HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 40_000))\r\n\r\n", 431),
        ("GET /fast?x#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ])
    func rejectsBadRequestsWithJSONAndCloses(request: String, status: Int) throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(request + "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == status)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("Connection") == "close")
        let body = try jsonObject(response)
        #expect(body["error"] is String && body["message"] is String)
        // Framing cannot be trusted after the error: the request smuggled behind it is never answered.
        #expect(client.isClosedByPeer())
    }

    @Test func answersRoutingErrorsAndKeepsTheConnection() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        let notFound = try client.readResponse()
        #expect(notFound.status == 404)
        #expect(try jsonObject(notFound)["error"] as? String == "not_found")
        try client.send("DELETE /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        let notAllowed = try client.readResponse()
        #expect(notAllowed.status == 405)
        #expect(notAllowed.header("Allow") == "GET, HEAD")
        try client.send("BREW /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 501)
        try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test func servesConfiguredNonStandardMethodsAndClosesAfterAnUpgradeRequest() throws {
        let server = try TestServer(
            """
            route PURGE /cache {
                respond 202
            }
            route GET /fast {
                respond 200 `{}`
            }
            """)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 202)
        // Only proxy routes tunnel: a respond route refuses the upgrade (403) and closes.
        try client.send("GET /fast HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let upgrade = try client.readResponse()
        #expect(upgrade.status == 403)
        #expect(upgrade.header("Connection") == "close")
        #expect(client.isClosedByPeer())
    }

    @Test func slowRequestGets408AndIsClosed() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n")
        let (response, elapsed) = try measureMs { try client.readResponse() }
        #expect(response.status == 408)
        #expect(elapsed >= 250 && elapsed < 2_000, "took \(elapsed) ms")
        #expect(client.isClosedByPeer())
    }

    @Test func idleConnectionWithNoRequestIsClosedQuietly() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        #expect(client.isClosedByPeer(waitMs: 2_000))
    }

    @Test func speaksHTTP10AndClosesByDefault() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /fast HTTP/1.0\r\n\r\n")
        let bytes = try client.readUntilClose()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(text.hasSuffix(#"{"which":"fast"}"#))
    }

    @Test func acceptsChunkedBodiesAndExpectContinue() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        #expect(try client.readResponse().status == 201)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        #expect(try client.readResponse().status == 100)
        try client.send("abc")
        #expect(try client.readResponse().status == 201)
    }

    @Test func headAnswersHeadersWithoutBody() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("HEAD /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse(expectBody: false)
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == "16")
        try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().bodyText == #"{"which":"fast"}"#)
    }

    @Test func staticDelayIsHonouredWithoutBlockingOtherClients() throws {
        let server = try TestServer(Self.config)
        let slow = try RawHTTPClient(port: server.port)
        defer { slow.close() }
        try slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        // Another client on the same single worker is answered while the delay runs.
        let (fast, fastElapsed) = try measureMs { try server.get("/fast") }
        #expect(fast.status == 200)
        #expect(fastElapsed < 150, "took \(fastElapsed) ms")
        let (response, _) = try measureMs { try slow.readResponse() }
        #expect(response.bodyText == #"{"which":"slow"}"#)
    }

    @Test func shutdownLetsInFlightRequestsFinish() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(50_000)
        let shutdown = Thread { server.server.shutdown(graceMs: 2_000) }
        shutdown.start()
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByPeer())
        #expect(waitUntil(timeoutMs: 3_000) { (try? RawHTTPClient(port: server.port, timeoutMs: 200)) == nil })
    }
}

@Suite struct ServerLimitTests {
    @Test func chunkFramingThatOutgrowsTheBufferIsRefused() throws {
        let server = try TestServer(
            """
            max_body 1k
            max_request_line 1k
            max_header_bytes 1k
            route POST /echo {
                respond 201
            }
            """)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        // 900 body bytes in 1-byte chunks with long extensions: under max_body, over any sane buffer.
        var request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        let chunk = "1;ext=\(String(repeating: "e", count: 100))\r\nx\r\n"
        for _ in 0..<900 { request += chunk }
        try? client.send(request)
        let response = try client.readResponse()
        #expect(response.status == 413)
    }
}
