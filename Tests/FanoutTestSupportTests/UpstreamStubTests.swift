import FanoutTestSupport
import Glibc
import Testing

@Suite struct UpstreamStubTests {
    @Test func jsonRouteAnswersWithItsBody() throws {
        let stub = try UpstreamStub(routes: ["/users/me": .json(#"{"id":1}"#)])
        defer { stub.stop() }

        let response = try httpGet(port: stub.port, path: "/users/me")

        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        #expect(response.bodyText == #"{"id":1}"#)
        #expect(stub.requestCount == 1)
        #expect(stub.requests(forPath: "/users/me") == 1)
        #expect(stub.baseURL == "http://127.0.0.1:\(stub.port)")
    }

    @Test func unknownPathGetsTheFallback() throws {
        let stub = try UpstreamStub(routes: ["/known": .json("{}")])
        defer { stub.stop() }

        let response = try httpGet(port: stub.port, path: "/unknown")

        #expect(response.status == 404)
        #expect(response.bodyText == #"{"error":"not found"}"#)
    }

    @Test func routesByPathIgnoringTheQuery() throws {
        let stub = try UpstreamStub(routes: ["/orders": .json("[]")])
        defer { stub.stop() }

        let response = try httpGet(port: stub.port, path: "/orders?limit=5")

        #expect(response.status == 200)
        let request = try #require(stub.receivedRequests.first)
        #expect(request.target == "/orders?limit=5")
        #expect(request.path == "/orders")
        #expect(stub.requests(forPath: "/orders") == 1)
    }

    @Test func delayIsRespected() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json("{}", delayMs: 150)])
        defer { stub.stop() }

        let clock = ContinuousClock()
        let start = clock.now
        let response = try httpGet(port: stub.port, path: "/slow")
        let elapsed = clock.now - start

        #expect(response.status == 200)
        #expect(elapsed >= .milliseconds(150))
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() throws {
        let stub = try UpstreamStub(routes: ["/a": .json(#"{"a":1}"#)])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /a HTTP/1.1\r\nHost: stub\r\n\r\n")
        let first = try client.readResponse()
        try client.send("GET /a HTTP/1.1\r\nHost: stub\r\n\r\n")
        let second = try client.readResponse()

        #expect(first.bodyText == #"{"a":1}"#)
        #expect(second.bodyText == #"{"a":1}"#)
        #expect(first.header("Connection") == nil)
        #expect(stub.requestCount == 2)
        #expect(stub.connectionsAccepted == 1)
    }

    @Test func connectionCloseRequestClosesAfterTheResponse() throws {
        let stub = try UpstreamStub(routes: ["/a": .json("{}")])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /a HTTP/1.1\r\nHost: stub\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()

        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByPeer(waitMs: 1000))
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let stub = try UpstreamStub(routes: ["/a": .json(#""first""#, delayMs: 50), "/b": .json(#""second""#)])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /a HTTP/1.1\r\nHost: stub\r\n\r\nGET /b HTTP/1.1\r\nHost: stub\r\n\r\n")
        let first = try client.readResponse()
        let second = try client.readResponse()

        #expect(first.bodyText == #""first""#)
        #expect(second.bodyText == #""second""#)
        #expect(stub.receivedRequests.map(\.path) == ["/a", "/b"])
        #expect(stub.connectionsAccepted == 1)
    }

    @Test func closeWithoutResponseGivesEOF() throws {
        let stub = try UpstreamStub(routes: ["/hangup": .closeWithoutResponse])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /hangup HTTP/1.1\r\nHost: stub\r\n\r\n")

        #expect(try client.readUntilClose() == [])
        #expect(stub.requestCount == 1)
    }

    @Test func readResponseAfterCloseWithoutResponseThrowsUnexpectedEOF() throws {
        let stub = try UpstreamStub(routes: ["/hangup": .closeWithoutResponse])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /hangup HTTP/1.1\r\nHost: stub\r\n\r\n")
        let error = #expect(throws: TestSupportError.self) { try client.readResponse() }

        #expect(error?.kind == .unexpectedEOF)
    }

    @Test func stopReturnsPromptlyWhileAConnectionNeverResponds() throws {
        let stub = try UpstreamStub(routes: ["/hang": .neverRespond])
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }
        try client.send("GET /hang HTTP/1.1\r\nHost: stub\r\n\r\n")
        try waitUntil { stub.requestCount == 1 }
        #expect(!client.isClosedByPeer(waitMs: 50))

        let clock = ContinuousClock()
        let start = clock.now
        stub.stop()
        let elapsed = clock.now - start

        #expect(elapsed < .seconds(1))
        #expect(client.isClosedByPeer(waitMs: 1000))
        #expect(stub.activeConnections == 0)
        stub.stop()  // idempotent
    }

    @Test func releasingTheStubStopsIt() throws {
        var stub: UpstreamStub? = try UpstreamStub(routes: ["/hang": .neverRespond])
        let port = try #require(stub?.port)
        let client = try RawHTTPClient(port: port)
        defer { client.close() }
        try client.send("GET /hang HTTP/1.1\r\nHost: stub\r\n\r\n")
        try waitUntil { stub?.requestCount == 1 }

        stub = nil

        #expect(client.isClosedByPeer(waitMs: 1000))
        #expect(throws: TestSupportError.self) { try RawHTTPClient(port: port) }
    }

    @Test func stopInterruptsAResponseDelay() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json("{}", delayMs: 10_000)])
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: stub\r\n\r\n")
        try waitUntil { stub.requestCount == 1 }

        let clock = ContinuousClock()
        let start = clock.now
        stub.stop()

        #expect(clock.now - start < .seconds(1))
        #expect(try client.readUntilClose() == [])
    }

    @Test func postBodyIsRecorded() throws {
        let stub = try UpstreamStub(routes: ["/orders": .respond(status: 201, body: Array(#"{"ok":true}"#.utf8))])
        defer { stub.stop() }

        let response = try httpRequest(
            port: stub.port,
            method: "POST",
            path: "/orders",
            headers: [("Content-Type", "application/json"), ("X-Trace", "abc")],
            body: Array(#"{"item":42}"#.utf8)
        )

        #expect(response.status == 201)
        #expect(response.bodyText == #"{"ok":true}"#)
        let request = try #require(stub.receivedRequests.first)
        #expect(request.method == "POST")
        #expect(request.version == "HTTP/1.1")
        #expect(request.bodyText == #"{"item":42}"#)
        #expect(request.header("x-trace") == "abc")
        #expect(request.header("content-length") == "11")
    }

    @Test func chunkedRequestBodyIsDecoded() throws {
        let stub = try UpstreamStub(routes: ["/upload": .json("{}")])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send(
            "POST /upload HTTP/1.1\r\nHost: stub\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        let response = try client.readResponse()

        #expect(response.status == 200)
        #expect(stub.receivedRequests.first?.bodyText == "hello world")
    }

    @Test func expectContinueGetsAnInterimResponseBeforeTheBody() throws {
        let stub = try UpstreamStub(routes: ["/upload": .json("{}")])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("PUT /upload HTTP/1.1\r\nHost: stub\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        let interim = try client.readResponse()
        try client.send("abc")
        let final = try client.readResponse()

        #expect(interim.status == 100)
        #expect(final.status == 200)
        #expect(stub.receivedRequests.first?.bodyText == "abc")
    }

    @Test func resetAfterHeadersCausesAReadErrorOrShortBody() throws {
        let stub = try UpstreamStub(routes: ["/reset": .resetAfterHeaders])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /reset HTTP/1.1\r\nHost: stub\r\n\r\n")
        let error = #expect(throws: TestSupportError.self) { try client.readResponse() }

        let kind = try #require(error?.kind)
        #expect(kind == .system(errno: ECONNRESET) || kind == .unexpectedEOF, "got \(String(describing: error))")
    }

    @Test func rawBytesAreWrittenVerbatimThenClosed() throws {
        let bytes = Array("HTTP/1.1 200 OK\r\nX-Odd:  spaced \r\n\r\nbody until close".utf8)
        let stub = try UpstreamStub(routes: ["/raw": .raw(bytes)])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /raw HTTP/1.1\r\nHost: stub\r\n\r\n")

        #expect(try client.readUntilClose() == bytes)
    }

    @Test func malformedRequestGetsA400AndClose() throws {
        let stub = try UpstreamStub(routes: [:])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("NONSENSE\r\n\r\n")
        let response = try client.readResponse()

        #expect(response.status == 400)
        #expect(client.isClosedByPeer())
        #expect(stub.requestCount == 0)
    }
}

/// Polls `condition` every 5 ms until it holds, throwing after `timeoutMs`.
func waitUntil(timeoutMs: Int = 1000, _ condition: () -> Bool) throws {
    let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
    while !condition() {
        guard ContinuousClock.now < deadline else {
            throw TestSupportError(kind: .timedOut, call: "waitUntil", detail: "condition not met in \(timeoutMs) ms")
        }
        usleep(5_000)
    }
}
