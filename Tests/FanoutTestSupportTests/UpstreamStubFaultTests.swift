import FanoutTestSupport
import Glibc
import Testing

/// The stub's failing-partner behaviors put exactly the promised bytes on the wire.
@Suite struct UpstreamStubFaultTests {
    @Test func giantChunkedSendsExactlyTheBytesWithoutAContentLengthAndKeepsAlive() throws {
        let stub = try UpstreamStub(routes: ["/big": .giantChunked(bytes: 40_000), "/ok": .json("{}")])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /big HTTP/1.1\r\nHost: stub\r\n\r\n")
        let response = try client.readResponse()

        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        #expect(response.header("Content-Length") == nil)
        #expect(response.body.count == 40_000)
        #expect(response.body.first == UInt8(ascii: "\"") && response.body.last == UInt8(ascii: "\""))
        try client.send("GET /ok HTTP/1.1\r\nHost: stub\r\n\r\n")
        #expect(try client.readResponse().bodyText == "{}")
        #expect(stub.connectionsAccepted == 1)
    }

    @Test func sequenceAnswersTheFirstRequestsOfAPathInTurnThenTheRest() throws {
        let failing = UpstreamStub.Behavior.respond(status: 503, body: Array("{}".utf8))
        let stub = try UpstreamStub(routes: [
            "/flaky": .sequence([failing, .json(#"{"n":2}"#)], then: .json(#"{"n":3}"#)), "/other": .json("{}"),
        ])
        defer { stub.stop() }

        #expect(try httpGet(port: stub.port, path: "/other").status == 200)  // other paths count apart
        #expect(try httpGet(port: stub.port, path: "/flaky").status == 503)
        #expect(try httpGet(port: stub.port, path: "/flaky?x=1").bodyText == #"{"n":2}"#)
        #expect(try httpGet(port: stub.port, path: "/flaky").bodyText == #"{"n":3}"#)
        #expect(try httpGet(port: stub.port, path: "/flaky").bodyText == #"{"n":3}"#)
        #expect(stub.requests(forPath: "/flaky") == 4)
    }

    @Test func dripSendsOneByteAtATime() throws {
        let stub = try UpstreamStub(routes: ["/drip": .drip(body: Array("12345".utf8), everyMs: 60)])
        defer { stub.stop() }

        let (response, elapsedMs) = try measure { try httpGet(port: stub.port, path: "/drip") }

        #expect(response.bodyText == "12345")
        #expect(response.header("Content-Length") == "5")
        #expect(elapsedMs >= 5 * 60)
    }

    @Test(arguments: [
        (UpstreamStub.Behavior.wrongContentLength(declared: 2, body: Array("{}xyz".utf8)), ["Content-Length: 2"]),
        (.wrongContentLength(declared: 50, body: Array("{}".utf8)), ["Content-Length: 50"]),
        (
            .duplicateContentLength(first: 5, second: 2, body: Array("{}xyz".utf8)),
            ["Content-Length: 5", "Content-Length: 2"]
        ),
    ])
    func contentLengthFaultsWriteTheDeclaredFieldsAndTheRealBodyThenClose(
        behavior: UpstreamStub.Behavior, fields: [String]
    ) throws {
        let stub = try UpstreamStub(routes: ["/cl": behavior])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /cl HTTP/1.1\r\nHost: stub\r\n\r\n")
        let text = String(decoding: try client.readUntilClose(), as: UTF8.self)

        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.filter { $0.hasPrefix("Content-Length") } == fields)
        let body = text.components(separatedBy: "\r\n\r\n").last
        #expect(body == "{}xyz" || body == "{}")
    }

    @Test func manyHeadersAndRedirectAreWellFormedAnswers() throws {
        let stub = try UpstreamStub(routes: [
            "/headers": .manyHeaders(count: 300, valueBytes: 10),
            "/moved": .redirect(to: "/elsewhere", status: 301),
        ])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        defer { client.close() }

        try client.send("GET /headers HTTP/1.1\r\nHost: stub\r\n\r\nGET /moved HTTP/1.1\r\nHost: stub\r\n\r\n")
        let many = try client.readResponse()
        let moved = try client.readResponse()

        #expect(many.headers.filter { $0.0.hasPrefix("X-") }.count == 300)
        #expect(many.header("X-299") == "vvvvvvvvvv")
        #expect(many.bodyText == "{}")
        #expect(moved.status == 301)
        #expect(moved.header("Location") == "/elsewhere")
    }

    @Test func badChunkAndHangAfterHeadersCannotBeReadAsAResponse() throws {
        let stub = try UpstreamStub(routes: ["/bad": .badChunk, "/hang": .hangAfterHeaders])
        defer { stub.stop() }
        let bad = try RawHTTPClient(port: stub.port)
        defer { bad.close() }
        let hang = try RawHTTPClient(port: stub.port, timeoutMs: 300)
        defer { hang.close() }

        try bad.send("GET /bad HTTP/1.1\r\nHost: stub\r\n\r\n")
        try hang.send("GET /hang HTTP/1.1\r\nHost: stub\r\n\r\n")

        let badError = #expect(throws: TestSupportError.self) { try bad.readResponse() }
        #expect(badError?.kind == .malformed)
        let hangError = #expect(throws: TestSupportError.self) { try hang.readResponse() }
        #expect(hangError?.kind == .timedOut)
        #expect(stub.activeConnections >= 1)
        hang.close()
        try waitUntil { stub.activeConnections == 0 }
    }

    @Test func unansweredPortTimesOutAConnect() throws {
        let silent = try UnansweredPort()
        defer { silent.close() }

        let (error, elapsedMs) = measure {
            #expect(throws: TestSupportError.self) { try RawHTTPClient(port: silent.port, timeoutMs: 300) }
        }

        #expect(error?.errno == EINPROGRESS || error?.kind == .timedOut, "got \(String(describing: error))")
        #expect(elapsedMs >= 250)
    }

    @Test func connectionsToAPortAreCountedUntilClosed() throws {
        let stub = try UpstreamStub(routes: [:])
        defer { stub.stop() }
        #expect(ProcessSockets.connections(toPort: stub.port) == 0)

        let first = try RawHTTPClient(port: stub.port)
        let second = try RawHTTPClient(port: stub.port)
        #expect(ProcessSockets.connections(toPort: stub.port) == 2)
        first.close()
        second.close()

        #expect(ProcessSockets.connections(toPort: stub.port) == 0)
        #expect(ProcessSockets.openDescriptorCount() > 0)
    }
}

/// Milliseconds taken by `body`.
private func measure<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try body()
    let elapsed = start.duration(to: .now)
    return (value, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
}
