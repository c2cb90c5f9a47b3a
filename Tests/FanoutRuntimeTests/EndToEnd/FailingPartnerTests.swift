import FanoutTestSupport
import Foundation
import Testing

/// One way a partner can fail, and what fanout must make of it (docs/reference/failures.md, "Failing partners").
struct FailingPartner: Sendable, CustomTestStringConvertible {
    /// Where the partner's upstream points.
    enum Target: Sendable {
        /// A path on this partner's own fault-injecting stub.
        case stub(UpstreamStub.Behavior)
        /// A loopback port held bound without a listener (``RefusedPort``): connection refused.
        case closedPort
        /// A `.invalid` host name (RFC 6761: never resolves).
        case unresolvableHost
        /// A loopback port whose SYNs are dropped: the connect times out.
        case unansweredPort
    }

    /// What the client of the plain `proxy` route sees. Proxy answers stream, so a failure after the first
    /// body byte can only close the connection (docs/reference/failures.md, "Proxy routes").
    enum ProxyOutcome: Sendable {
        /// A complete answer with this status (fanout's own 502/504, or the partner's well-framed answer passed
        /// on); the connection stays open.
        case answer(Int)
        /// The failure came with or after the partner's head: fanout's own 502 when the head had not reached the
        /// socket yet (the connection stays open), otherwise the partner's head and a close before the body's
        /// framing is complete. The partner's answer may look complete when it was longer than its
        /// `Content-Length`: fanout learns that only at the end, and then closes.
        case failedOrCutShort
    }

    var name: String
    var target: Target
    /// The `kind` of the optional call's `_errors` entry; `nil` when the call succeeds.
    var kind: String?
    var proxy: ProxyOutcome
    /// The fault breaks the HTTP framing, so libcurl must close the connection: afterwards fanout may hold no
    /// connection to this partner. For a well-framed answer (a bad body, a redirect) the connection may stay in
    /// libcurl's pool, at most one per worker.
    var breaksConnection = true

    var testDescription: String { self.name }

    /// The JSON a healthy call of the same route answers.
    static let healthyBody = #"{"ok":true}"#

    /// The route deadline (composite) and the proxy's idle timeout: every answer must come within this plus a
    /// margin, except a proxied drip, which keeps the partner from ever being idle that long.
    static let deadlineMs = 1_500
    /// A drip of 20 bytes, one every 100 ms: 2 s, past the deadline.
    static let drip = UpstreamStub.Behavior.drip(
        body: Array(repeating: UInt8(ascii: " "), count: 19) + [0x30], everyMs: 100)
    /// `max_response_body` of the test server.
    static let maxResponseBody = 64 * 1024
    static let partnerJSON = Array(#"{"id":1,"name":"partner"}"#.utf8)

    static let all: [FailingPartner] = [
        FailingPartner(name: "refused", target: .closedPort, kind: "refused", proxy: .answer(502)),
        FailingPartner(name: "dns-failure", target: .unresolvableHost, kind: "unreachable", proxy: .answer(502)),
        FailingPartner(name: "connect-timeout", target: .unansweredPort, kind: "timeout", proxy: .answer(504)),
        FailingPartner(name: "no-answer", target: .stub(.neverRespond), kind: "timeout", proxy: .answer(504)),
        FailingPartner(
            name: "closed-without-answer", target: .stub(.closeWithoutResponse), kind: "connection",
            proxy: .answer(502)),
        FailingPartner(
            name: "reset-mid-body", target: .stub(.resetAfterHeaders), kind: "connection", proxy: .failedOrCutShort),
        FailingPartner(
            name: "hang-after-headers", target: .stub(.hangAfterHeaders), kind: "timeout", proxy: .answer(504)),
        // A proxy route streams whatever keeps moving, of any size (its timeout is an idle limit and
        // max_response_body does not apply), so these pass through whole and the connection stays in the pool.
        FailingPartner(
            name: "drip-past-deadline", target: .stub(Self.drip), kind: "timeout", proxy: .answer(200),
            breaksConnection: false),
        FailingPartner(
            name: "oversize-content-length", target: .stub(.respond(body: jsonString(bytes: Self.maxResponseBody + 1))),
            kind: "too_large", proxy: .answer(200), breaksConnection: false),
        FailingPartner(
            name: "oversize-chunked", target: .stub(.giantChunked(bytes: 8 * 1024 * 1024)), kind: "too_large",
            proxy: .answer(200), breaksConnection: false),
        FailingPartner(
            name: "content-length-too-small", target: .stub(.wrongContentLength(declared: 5, body: Self.partnerJSON)),
            kind: "connection", proxy: .failedOrCutShort),
        FailingPartner(
            name: "content-length-too-big",
            target: .stub(.wrongContentLength(declared: 500, body: Self.partnerJSON)), kind: "connection",
            proxy: .failedOrCutShort),
        FailingPartner(
            name: "duplicate-content-length",
            target: .stub(.duplicateContentLength(first: Self.partnerJSON.count, second: 5, body: Self.partnerJSON)),
            kind: "connection", proxy: .answer(502)),
        FailingPartner(
            name: "invalid-json", target: .stub(.json(#"{"id":1,"#)), kind: "invalid_body", proxy: .answer(200),
            breaksConnection: false),
        FailingPartner(
            name: "html-error-page-200",
            target: .stub(
                .respond(
                    headers: [("Content-Type", "text/html; charset=utf-8")],
                    body: Array("<html><body><h1>Service Unavailable</h1></body></html>".utf8))),
            kind: "html_page", proxy: .answer(200), breaksConnection: false),
        FailingPartner(
            name: "redirect", target: .stub(.redirect(to: "/elsewhere")), kind: "status", proxy: .answer(302),
            breaksConnection: false),
        FailingPartner(
            name: "headers-over-64k", target: .stub(.manyHeaders(count: 100, valueBytes: 1_000)), kind: "connection",
            proxy: .answer(502)),
        FailingPartner(
            name: "5000-small-headers", target: .stub(.manyHeaders(count: 5_000)), kind: "connection",
            proxy: .answer(502)),
        FailingPartner(name: "bad-chunk", target: .stub(.badChunk), kind: "connection", proxy: .answer(502)),
    ]
}

/// A JSON string of exactly `bytes` bytes: `"xx…x"`.
private func jsonString(bytes: Int) -> [UInt8] {
    [UInt8(ascii: "\"")] + Array(repeating: UInt8(ascii: "x"), count: bytes - 2) + [UInt8(ascii: "\"")]
}

/// One fanout server in-process with, per failing partner, its own upstream (a stub of its own, so its
/// connections can be counted by port), a composite route with one healthy and one faulty optional call, and a
/// plain `proxy` route.
final class FailingPartnerFixture: @unchecked Sendable {
    // @unchecked: every property is set once in init; the stubs and the server are thread-safe.
    let server: TestServer
    let healthy: UpstreamStub
    /// The stub behind each stub-backed partner, by name.
    let stubs: [String: UpstreamStub]
    private let unanswered: UnansweredPort
    private let refused: RefusedPort

    /// Shared by the per-partner tests, which run in parallel against it.
    static let shared = Result { try FailingPartnerFixture() }

    init() throws {
        self.healthy = try UpstreamStub(routes: ["/ok": .json(FailingPartner.healthyBody)])
        self.unanswered = try UnansweredPort()
        self.refused = try RefusedPort()
        var stubs: [String: UpstreamStub] = [:]
        var config = """
            workers 2
            max_response_body \(FailingPartner.maxResponseBody / 1024)k
            upstream healthy {
                url \(self.healthy.baseURL)
            }
            route GET /ok {
                proxy healthy
            }

            """
        for partner in FailingPartner.all {
            let url: String
            switch partner.target {
            case .stub(let behavior):
                let stub = try UpstreamStub(routes: ["/\(partner.name)": behavior])
                stubs[partner.name] = stub
                url = stub.baseURL
            case .closedPort:
                url = "http://127.0.0.1:\(self.refused.port)"
            case .unresolvableHost:
                url = "http://fanout-partner.invalid"
            case .unansweredPort:
                url = "http://127.0.0.1:\(self.unanswered.port)"
            }
            config += """
                upstream \(partner.name) {
                    url \(url)
                    connect_timeout 1s
                }
                route GET /composite/\(partner.name) {
                    call ok GET healthy /ok
                    call partner GET \(partner.name) /\(partner.name) optional
                    deadline \(FailingPartner.deadlineMs)ms
                }
                route GET /proxy/\(partner.name) {
                    proxy \(partner.name) /\(partner.name)
                    timeout \(FailingPartner.deadlineMs)ms
                }

                """
        }
        self.stubs = stubs
        self.server = try TestServer(config)
    }

    func stop() {
        self.server.server.shutdown(graceMs: 1_000)
        self.healthy.stop()
        for stub in self.stubs.values {
            stub.stop()
        }
        self.unanswered.close()
        self.refused.close()
    }
}

/// Every failing partner gives its documented failure and a well-formed answer, within the deadline, on a
/// client connection that then serves the next request; and leaves no connection or descriptor behind.
@Suite struct FailingPartnerTests {
    /// The longest any answer may take: the deadline plus a generous margin for a loaded 2-core machine.
    static let boundMs = Double(FailingPartner.deadlineMs + 2_000)

    @Test(arguments: FailingPartner.all)
    func compositeAndProxyRoutesAnswerWellFormedAndTheConnectionServesOn(_ partner: FailingPartner) throws {
        let fixture = try FailingPartnerFixture.shared.get()
        let client = try RawHTTPClient(port: fixture.server.port, timeoutMs: 10_000)
        defer { client.close() }

        // Composite: 200 with the healthy call's answer and the failure listed in `_errors`.
        let (composite, compositeMs) = try measureMs {
            try client.send("GET /composite/\(partner.name) HTTP/1.1\r\nHost: fanout\r\n\r\n")
            return try client.readResponse()
        }
        #expect(compositeMs < Self.boundMs, "took \(compositeMs) ms")
        #expect(composite.status == 200, "\(composite.status) \(composite.bodyText)")
        let body = try jsonObject(composite)
        #expect((body["ok"] as? [String: Any])?["ok"] as? Bool == true)
        if let kind = partner.kind {
            #expect(composite.header("X-Fanout-Complete") == "false")
            #expect(body["partner"] is NSNull)
            let errors = try #require(body["_errors"] as? [[String: Any]], "\(composite.bodyText)")
            #expect(errors.count == 1)
            #expect(errors.first?["call"] as? String == "partner")
            #expect(errors.first?["kind"] as? String == kind, "\(errors)")
            #expect(composite.header("Server-Timing")?.contains(#"partner;dur="#) == true)
        } else {
            #expect(composite.header("X-Fanout-Complete") == "true")
            #expect(body["_errors"] == nil)
        }

        // Plain proxy: fanout's own 502/504, or the partner's answer passed on; cut short by a close when the
        // failure comes after the answer began.
        try client.send("GET /proxy/\(partner.name) HTTP/1.1\r\nHost: fanout\r\n\r\n")
        var next = client
        switch partner.proxy {
        case .answer(let status):
            let (proxied, proxyMs) = try measureMs { try client.readResponse() }
            #expect(proxyMs < Self.boundMs + (status == 200 ? 1_000 : 0), "took \(proxyMs) ms")
            #expect(proxied.status == status, "\(proxied.status) \(proxied.bodyText.prefix(200))")
            if status == 502 || status == 504 {
                let error = try jsonObject(proxied)
                #expect(error["error"] as? String == (status == 504 ? "upstream_timeout" : "upstream_failed"))
                #expect((error["message"] as? String)?.contains(partner.kind ?? "?") == true, "\(error)")
            }
        case .failedOrCutShort:
            let (outcome, proxyMs) = measureMs { Result { try client.readResponse() } }
            #expect(proxyMs < Self.boundMs, "took \(proxyMs) ms")
            switch outcome {
            case .success(let proxied) where proxied.status == 502:
                #expect((try jsonObject(proxied)["message"] as? String)?.contains(partner.kind ?? "?") == true)
            case .success(let proxied):
                #expect(proxied.status == 200, "\(proxied.status)")
                #expect(client.isClosedByPeer(waitMs: 2_000))
                next = try RawHTTPClient(port: fixture.server.port, timeoutMs: 10_000)
            case .failure(let error):
                let error = error as? TestSupportError
                #expect(error?.kind == .unexpectedEOF || error?.errno == ECONNRESET, "\(String(describing: error))")
                next = try RawHTTPClient(port: fixture.server.port, timeoutMs: 10_000)
            }
        }

        // The connection serves the next request (the same one, unless the proxy had to close it): nothing is
        // stuck.
        try next.send("GET /ok HTTP/1.1\r\nHost: fanout\r\n\r\n")
        let healthy = try next.readResponse()
        #expect(healthy.status == 200)
        #expect(healthy.bodyText == FailingPartner.healthyBody)
        #expect(!next.isClosedByPeer(waitMs: 0))
        next.close()

        // Nothing leaks towards the partner: after a broken exchange libcurl closed its connection and the stub
        // saw it go; otherwise at most one pooled connection per worker remains.
        if let stub = fixture.stubs[partner.name] {
            let fanoutSide = { ProcessSockets.connections(toPort: stub.port) }
            if partner.breaksConnection {
                #expect(waitUntil(timeoutMs: 3_000) { fanoutSide() == 0 }, "fanout holds \(fanoutSide())")
                #expect(
                    waitUntil(timeoutMs: 3_000) { stub.activeConnections == 0 }, "stub has \(stub.activeConnections)")
            } else {
                #expect(fanoutSide() <= 2, "fanout holds \(fanoutSide())")
            }
        }
    }

    /// libcurl closes the connection after an answer longer than its Content-Length, and fanout reads that
    /// closing as the overrun; answers after which libcurl closes for other reasons must still succeed.
    @Test func answersAfterWhichTheConnectionClosesAreNotTakenForOverruns() throws {
        let body = #"{"a":1}"#
        let head = "Content-Type: application/json\r\nContent-Length: 7\r\n"
        let stub = try UpstreamStub(routes: [
            "/then-fin": .raw(Array("HTTP/1.1 200 OK\r\n\(head)\r\n\(body)".utf8)),
            "/close": .raw(Array("HTTP/1.1 200 OK\r\n\(head)Connection: close\r\n\r\n\(body)".utf8)),
            "/http10": .raw(Array("HTTP/1.0 200 OK\r\n\(head)\r\n\(body)".utf8)),
            "/json": .json(body),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream stub { url {{stub}}; }
            route GET /composite/{name} { call a GET stub /{name}; }
            route GET,HEAD /proxy/{name} { proxy stub /{name}; }
            """, substitutions: ["stub": stub.baseURL])

        for name in ["then-fin", "close", "http10", "json", "json"] {
            let composite = try server.get("/composite/\(name)")
            #expect(composite.status == 200, "\(name): \(composite.bodyText)")
            #expect(composite.bodyText == #"{"a":{"a":1}}"#, "\(name)")
            let proxied = try server.get("/proxy/\(name)")
            #expect(proxied.status == 200, "\(name): \(proxied.bodyText)")
            #expect(proxied.bodyText == body, "\(name)")
        }
        let headAnswer = try httpRequest(port: server.port, method: "HEAD", path: "/proxy/json")
        #expect(headAnswer.status == 200)
        #expect(headAnswer.header("Content-Length") == "7")
    }

    @Test func repeatedFailuresLeaveNoDescriptorsBehind() throws {
        // A fixture of its own, so the count is not disturbed by the parallel per-partner tests' connections.
        let fixture = try FailingPartnerFixture()
        defer { fixture.stop() }
        let client = try RawHTTPClient(port: fixture.server.port, timeoutMs: 10_000)
        defer { client.close() }
        let quick = FailingPartner.all.filter {
            guard $0.breaksConnection, case .answer(502) = $0.proxy else { return false }
            return true
        }
        func round() throws {
            for partner in quick {
                for path in ["/composite/\(partner.name)", "/proxy/\(partner.name)"] {
                    try client.send("GET \(path) HTTP/1.1\r\nHost: fanout\r\n\r\n")
                    _ = try client.readResponse()
                }
            }
        }
        try round()  // warm up: worker pools, libcurl's DNS cache and connection pool to the healthy stub
        // The shared fixture of the parallel tests holds about 50 descriptors for good: open it before counting.
        _ = try FailingPartnerFixture.shared.get()
        let before = ProcessSockets.openDescriptorCount()
        let rounds = 5
        for _ in 0..<rounds {
            try round()
        }

        for partner in quick {
            guard let stub = fixture.stubs[partner.name] else {
                continue
            }
            let closed = waitUntil(timeoutMs: 3_000) { ProcessSockets.connections(toPort: stub.port) == 0 }
            #expect(closed, "\(partner.name)")
            #expect(waitUntil(timeoutMs: 3_000) { stub.activeConnections == 0 }, "\(partner.name)")
        }
        // Other suites run in parallel and open descriptors of their own; a leak of one descriptor per failed call
        // would add rounds × 2 × quick.count (70). Wait for a quiet moment rather than sampling once.
        let tolerance = 24
        let settled = waitUntil(timeoutMs: 10_000) { ProcessSockets.openDescriptorCount() <= before + tolerance }
        let after = ProcessSockets.openDescriptorCount()
        #expect(settled, "descriptors: \(before) before, \(after) after \(rounds) rounds")
    }
}
