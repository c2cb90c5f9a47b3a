import FanoutCore
import FanoutTestSupport
import Foundation
import Testing

@testable import FanoutRuntime

/// The client side against hostile or broken clients, over real sockets: Host rules, request smuggling,
/// slow clients, and the caps on requests per connection and connections per worker.
///
/// Every smuggling case ends with `GET /smuggled`, a route that answers `SMUGGLED`: that word must never come
/// back, and the access log must never name the path.
@Suite struct ClientHardeningTests {
    static let config = """
        client_timeout 500ms
        max_body 1k
        route GET /fast {
            respond 200 `{"which":"fast"}`
        }
        route POST /echo {
            respond 201 `created`
            content_type text/plain
        }
        route GET /smuggled {
            respond 200 `SMUGGLED`
            content_type text/plain
        }
        """

    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

    /// Sends `bytes` on a new connection and reads answers up to the first with `Connection: close` (at most
    /// `limit`, each within the client's 3 s timeout); then the server must close with nothing more sent.
    private static func answers(_ bytes: String, port: UInt16, limit: Int = 4) throws -> [RawHTTPResponse] {
        let client = try RawHTTPClient(port: port, timeoutMs: 3_000)
        defer { client.close() }
        try client.send(bytes)
        var responses: [RawHTTPResponse] = []
        while responses.count < limit, responses.last?.header("Connection") != "close" {
            do {
                responses.append(try client.readResponse())
            } catch let error as TestSupportError where error.kind == .unexpectedEOF || error.isTimeout {
                break
            }
        }
        #expect(client.isClosedByPeer(waitMs: 2_000), "connection still open after \(responses.map(\.status))")
        #expect(try client.readUntilClose().isEmpty, "bytes after the last answer")
        return responses
    }

    private static func expectNeverSmuggled(_ responses: [RawHTTPResponse], _ server: TestServer) {
        #expect(!responses.contains { $0.bodyText.contains("SMUGGLED") })
        #expect(!server.accessLog.all.contains { $0.contains("/smuggled") })
    }

    // MARK: - Host (RFC 9112 §3.2)

    @Test(arguments: [
        ("GET /fast HTTP/1.1\r\n\r\n", "HTTP/1.1 request without a Host header field"),
        ("GET http://a.example/fast HTTP/1.1\r\n\r\n", "HTTP/1.1 request without a Host header field"),
        ("GET /fast HTTP/1.1\r\nHost: a b\r\n\r\n", "Host is not a host name or address with an optional port"),
        ("GET /fast HTTP/1.1\r\nHost: a.example/x\r\n\r\n", "Host is not a host name or address with an optional port"),
        ("GET /fast HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "more than one Host header field"),
    ])
    func refusesMissingInvalidOrDuplicateHostAndCloses(request: String, message: String) throws {
        let server = try TestServer(Self.config)
        let responses = try Self.answers(request + Self.smuggled, port: server.port)
        #expect(responses.map(\.status) == [400])
        #expect(try responses.first.map { try jsonObject($0)["message"] as? String } == message)
        Self.expectNeverSmuggled(responses, server)
    }

    @Test func servesHTTP10WithoutHost() throws {
        let server = try TestServer(Self.config)
        let responses = try Self.answers("GET /fast HTTP/1.0\r\n\r\n", port: server.port)
        #expect(responses.map(\.status) == [200])
    }

    @Test func forwardsTheAbsoluteFormAuthorityAsHostNotTheHostField() throws {
        let stub = try UpstreamStub(routes: [:], fallback: .json(#"{"ok":true}"#))
        let server = try TestServer(
            """
            route GET /p {
                proxy {{stub}}
            }
            """, substitutions: ["stub": stub.baseURL])
        let responses = try Self.answers(
            "GET http://front.example:8080/p?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
            port: server.port)
        #expect(responses.map(\.status) == [200])
        let seen = try #require(stub.receivedRequests.first)
        // RFC 9112 §3.2.2: the target's authority replaces Host; it is never dialled (the stub was).
        #expect(seen.header("X-Forwarded-Host") == "front.example:8080")
        #expect(seen.target == "/p?x=1")
    }

    // MARK: - Smuggling

    @Test func contentLengthWithTransferEncodingIsAnsweredOnceAndClosed() throws {
        let server = try TestServer(Self.config)
        let body = "0\r\n\r\n" + Self.smuggled
        // CL.TE: a front end using Content-Length forwards the smuggled request as body.
        let clte =
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n" + body
        // TE.CL: a front end using chunked forwards the smuggled request inside a chunk.
        let chunk = Self.smuggled
        let tecl =
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
            + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n" + Self.smuggled
        for request in [clte, tecl] {
            let responses = try Self.answers(request, port: server.port)
            #expect(responses.map(\.status) == [400])
            #expect(responses.first?.header("Connection") == "close")
            Self.expectNeverSmuggled(responses, server)
        }
    }

    /// Transfer-Encoding spellings, each sent twice: with a Content-Length that covers
    /// `0 CRLF CRLF GET /smuggled…` (a server that honoured the coding would answer the smuggled request), and
    /// without one (then the bytes after `0 CRLF CRLF` are a genuine second request).
    struct TransferEncodingCase: Sendable, CustomTestStringConvertible {
        var fields: String
        /// fanout's answer when a Content-Length follows: a coding next to a length is CL+TE (400), a mangled
        /// field is refused on its own.
        var withLength: Int
        /// fanout's answer without a Content-Length; nil for spellings that are `chunked` by RFC 9112 (OWS,
        /// case), which frame the body so that the second request is answered too.
        var withoutLength: Int?
        var testDescription: String { fields.debugDescription }
    }

    static let transferEncodingCases: [TransferEncodingCase] = [
        TransferEncodingCase(fields: "Transfer-Encoding: chunked, identity\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: identity, chunked\r\n", withLength: 400, withoutLength: 501),
        TransferEncodingCase(fields: "Transfer-Encoding: xchunked\r\n", withLength: 400, withoutLength: 501),
        TransferEncodingCase(fields: "Transfer-Encoding: chunkedx\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: chunk\r\n", withLength: 400, withoutLength: 501),
        TransferEncodingCase(
            fields: "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", withLength: 400,
            withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: chunked, chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: \"chunked\"\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: chunked;q=1\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: ,chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding:\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding : chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding\t: chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding:\r\n chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(
            fields: "X-Pad: 1\r\n Transfer-Encoding: chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: \u{0B}chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding\u{0B}: chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding: chunked\rX: y\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "X: y\nTransfer-Encoding: chunked\r\n", withLength: 400, withoutLength: 400),
        TransferEncodingCase(fields: "Transfer-Encoding:  chunked\r\n", withLength: 400, withoutLength: nil),
        TransferEncodingCase(fields: "Transfer-Encoding:\tchunked \r\n", withLength: 400, withoutLength: nil),
        TransferEncodingCase(fields: "TRANSFER-ENCODING: CHUNKED\r\n", withLength: 400, withoutLength: nil),
    ]

    @Test(arguments: transferEncodingCases)
    func obfuscatedTransferEncodingNeverLetsASecondRequestThrough(_ testCase: TransferEncodingCase) throws {
        let server = try TestServer(Self.config)
        let body = "0\r\n\r\n" + Self.smuggled
        let head = "POST /echo HTTP/1.1\r\nHost: x\r\n" + testCase.fields
        let withLength = try Self.answers(
            head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body, port: server.port)
        #expect(withLength.map(\.status) == [testCase.withLength])
        #expect(withLength.first?.header("Connection") == "close")
        Self.expectNeverSmuggled(withLength, server)
        let second = "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let withoutLength = try Self.answers(head + "\r\n" + "0\r\n\r\n" + second, port: server.port)
        if let status = testCase.withoutLength {
            #expect(withoutLength.map(\.status) == [status])
            #expect(withoutLength.first?.header("Connection") == "close")
        } else {
            #expect(withoutLength.map(\.status) == [201, 200])
        }
    }

    @Test(arguments: [
        ("Content-Length: 5\r\nContent-Length: 41\r\n", 400),
        ("Content-Length: 41, 5\r\n", 400),
        ("Content-Length: +41\r\n", 400),
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: 0x29\r\n", 400),
        ("Content-Length: 4 1\r\n", 400),
        ("Content-Length: 41.0\r\n", 400),
        ("Content-Length:\r\n", 400),
        ("Content-Length: 99999999999999999999999\r\n", 400),
        ("Content-Length: 5000\r\n", 413),
        ("Content_Length: 41\r\nTransfer-Encoding: chunked\r\nContent-Length: 41\r\n", 400),
    ])
    func malformedOrConflictingContentLengthIsRefusedAndClosed(fields: String, status: Int) throws {
        let server = try TestServer(Self.config)
        let body = "0\r\n\r\n" + Self.smuggled
        let responses = try Self.answers(
            "POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" + body, port: server.port)
        #expect(responses.map(\.status) == [status])
        Self.expectNeverSmuggled(responses, server)
    }

    @Test func bytesCoveredByContentLengthAreBodyNeverARequest() throws {
        let server = try TestServer(Self.config)
        // The length covers the smuggled request and more: fanout waits for the rest of the body, never parses
        // the smuggled bytes as a request, and answers 408 when client_timeout runs out.
        let responses = try Self.answers(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + Self.smuggled, port: server.port)
        #expect(responses.map(\.status) == [408])
        Self.expectNeverSmuggled(responses, server)
    }

    @Test func malformedChunkFramingIsRefusedAndClosed() throws {
        let server = try TestServer(Self.config)
        let head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for (chunks, status) in [
            ("00000000000000001\r\n", 400),
            ("FFFFFFFFFFFFFFFFF\r\n", 413),
            ("-1\r\n", 400),
            ("0x5\r\nhello\r\n0\r\n\r\n", 400),
            ("5 \r\nhello\r\n0\r\n\r\n", 400),
            ("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400),
            ("5\nhello\r\n0\r\n\r\n", 400),
            ("5\r\nhelloXX0\r\n\r\n", 400),
            ("3\r\nabc\r\n\r\n", 400),
        ] {
            let responses = try Self.answers(head + chunks + Self.smuggled, port: server.port)
            #expect(responses.map(\.status) == [status], "\(chunks.debugDescription)")
            Self.expectNeverSmuggled(responses, server)
        }
    }

    @Test func requestAfterConnectionCloseIsNeverAnswered() throws {
        let server = try TestServer(Self.config)
        // RFC 9112 §9.6: nothing after a request with `Connection: close` is processed.
        let responses = try Self.answers(
            "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + Self.smuggled, port: server.port)
        #expect(responses.map(\.status) == [200])
        #expect(responses.first?.header("Connection") == "close")
        Self.expectNeverSmuggled(responses, server)
    }

    @Test func bytesAfterAConnectRequestAreNeverParsed() throws {
        let server = try TestServer(Self.config)
        // fanout never tunnels: CONNECT is refused (501, no route serves it), and what follows may be tunnel
        // data a client sent ahead of the answer, so it is not read as HTTP (RFC 9110 §9.3.6; llhttp too).
        let responses = try Self.answers(
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n" + Self.smuggled, port: server.port)
        #expect(responses.map(\.status) == [501])
        #expect(responses.first?.header("Connection") == "close")
        Self.expectNeverSmuggled(responses, server)
    }

    // MARK: - Slow clients

    /// Sends `bytes` one at a time every `intervalMs` until the server closes the connection or `bytes` run out,
    /// then returns the answer and the milliseconds from the first byte to the close.
    private static func drip(_ bytes: [UInt8], intervalMs: Int, to client: RawHTTPClient) throws -> (
        RawHTTPResponse, Double
    ) {
        let start = ContinuousClock.now
        var closed = false
        for byte in bytes where !closed {
            do {
                try client.send([byte])
            } catch {
                break  // the server closed first (EPIPE, ECONNRESET)
            }
            closed = client.isClosedByPeer(waitMs: intervalMs)
        }
        #expect(closed || client.isClosedByPeer(waitMs: 2_000), "still open after the drip")
        let elapsed = start.duration(to: .now)
        let response = try client.readResponse()
        return (response, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    @Test func headDrippedOneByteEvery50msGets408AtClientTimeout() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        let head = "GET /fast HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "p", count: 200))\r\n\r\n"
        let (response, elapsed) = try Self.drip(Array(head.utf8), intervalMs: 50, to: client)
        // client_timeout is a total deadline from the first byte: steady progress does not extend it.
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(elapsed >= 450 && elapsed < 2_500, "closed after \(elapsed) ms")
    }

    @Test func bodyDrippedOneByteEvery50msGets408AtClientTimeout() throws {
        let server = try TestServer(Self.config)
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        let (response, elapsed) = try Self.drip(Array(repeating: 0x61, count: 200), intervalMs: 50, to: client)
        #expect(response.status == 408)
        #expect(elapsed >= 400 && elapsed < 2_500, "closed after \(elapsed) ms")
    }

    @Test func idleKeepAliveConnectionIsClosedAfterKeepaliveTimeout() throws {
        let server = try TestServer(Self.config + "\nkeepalive_timeout 400ms")
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        let (closed, elapsed) = measureMs { client.isClosedByPeer(waitMs: 3_000) }
        #expect(closed)
        #expect(elapsed >= 350 && elapsed < 2_500, "closed after \(elapsed) ms")
        #expect(try client.readUntilClose().isEmpty, "an idle close sends nothing")
    }

    @Test func clientThatNeverReadsIsClosedAfterSendTimeout() throws {
        let big = String(repeating: "b", count: 64 * 1024)
        let server = try TestServer(
            """
            send_timeout 300ms
            route GET /big {
                respond 200 `\(big)`
                content_type text/plain
            }
            """)
        let client = try RawHTTPClient(port: server.port, timeoutMs: 3_000)
        defer { client.close() }
        try client.limitReceiveBuffer(bytes: 4096)
        // 100 pipelined requests: 6.4 MiB of answers, far more than the socket buffers between us hold.
        try client.send(String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 100))
        // Never read. Probe every 50 ms with an empty line (harmless if it were parsed): once fanout has closed
        // its socket, the probe draws a reset and the next send fails. Reading would unblock fanout instead.
        let (closed, elapsed) = sendUntilClosed { try client.send("\r\n") }
        #expect(closed, "fanout kept a connection whose client never reads")
        #expect(elapsed >= 250 && elapsed < 2_500, "closed after \(elapsed) ms")
    }

    // MARK: - Caps

    @Test func thirdRequestOfKeepaliveRequests3ClosesTheConnection() throws {
        let server = try TestServer(Self.config + "\nkeepalive_requests 3")
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        for index in 1...3 {
            try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Connection") == (index == 3 ? "close" : nil), "request \(index)")
        }
        #expect(client.isClosedByPeer())
        // Pipelined: the fourth request is never answered.
        let responses = try Self.answers(
            String(repeating: "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n", count: 3) + Self.smuggled, port: server.port)
        #expect(responses.map(\.status) == [200, 200, 200])
        Self.expectNeverSmuggled(responses, server)
    }

    @Test func connectionOverTheCapGets503WithoutReadingItsRequest() throws {
        let server = try TestServer(Self.config + "\nmax_client_connections 2")
        let first = try RawHTTPClient(port: server.port)
        let second = try RawHTTPClient(port: server.port)
        defer {
            first.close()
            second.close()
        }
        for client in [first, second] {
            try client.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
        // The third connection is answered at once, before it sends anything.
        let third = try RawHTTPClient(port: server.port)
        defer { third.close() }
        let refused = try third.readResponse()
        #expect(refused.status == 503)
        #expect(refused.header("Connection") == "close")
        #expect(refused.header("Retry-After") == "1")
        #expect(try jsonObject(refused)["error"] as? String == "unavailable")
        #expect(third.isClosedByPeer())
        // One that sends a request first gets the same answer, and its request is not served.
        let fourth = try RawHTTPClient(port: server.port)
        defer { fourth.close() }
        try? fourth.send(Self.smuggled)
        #expect(try fourth.readResponse().status == 503)
        Self.expectNeverSmuggled([], server)
        // The connections under the cap are unaffected; once one closes, a new one is served.
        try second.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try second.readResponse().status == 200)
        first.close()
        let served = waitUntil(timeoutMs: 3_000) { (try? server.get("/fast", timeoutMs: 500))?.status == 200 }
        #expect(served)
        #expect(server.accessLog.all.filter { $0.contains(#""status":503"#) }.count >= 2)
    }

    @Test func splitsTheConnectionCapAcrossWorkersRoundingUp() throws {
        let config = try ConfigParser.parse("max_client_connections 10", file: "test.conf", environment: [:])
        var slots = AdmissionSlots()
        var urls = FixedURLNumbers()
        func perWorker(_ config: FanoutConfig, _ workerCount: Int) -> Int {
            RuntimeConfig(config: config, workerCount: workerCount, slots: &slots, fixedURLs: &urls)
                .clientConnectionsPerWorker
        }
        #expect(perWorker(config, 3) == 4)
        #expect(perWorker(config, 20) == 1)
        #expect(perWorker(FanoutConfig(), 2) == 8_192)
    }
}
