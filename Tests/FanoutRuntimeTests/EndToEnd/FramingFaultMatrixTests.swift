import FanoutTestSupport
import Foundation
import Testing

/// A partner answer whose framing is broken or hostile (issue 12, points 1 and 7), scripted byte for byte.
struct FramingFault: Sendable, CustomTestStringConvertible {
    /// What a proxy route's client must get.
    enum ProxyOutcome: Sendable {
        /// This status and exactly the partner's JSON body (``FramingFault/body``), framed by fanout.
        case partnerBody
        /// fanout's own 502 (the call failed before any body byte), or the partner's head and a close before
        /// the end of the body's framing: never a complete answer with bytes from outside the declared framing.
        case failed
        /// The body the partner declared (and no byte more), or ``failed``: libcurl reports bytes past the
        /// declared end only when they came in the same read as the answer's end.
        case declaredBodyOrFailed(String)
    }

    var name: String
    var steps: [UpstreamStub.WireStep]
    /// The stub keeps serving the connection after the script (the partner's framing claims it can).
    var thenServe = false
    var proxy: ProxyOutcome
    /// The `kind` of the call's `_errors` entry on composite routes; nil when the call gets ``body``.
    var callFailure: String?
    /// The call may also succeed with this JSON value (see ``ProxyOutcome/declaredBodyOrFailed(_:)``).
    var callValueInstead: String? = nil

    var testDescription: String { self.name }

    /// The partner's real answer body.
    static let body = #"{"id":7}"#
    /// A whole HTTP response hidden where a desynchronising partner puts it: whoever reads it as a response
    /// answers the wrong request.
    static let smuggled =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"smuggled\":true}"
    static let jsonHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

    static func chunk(_ text: String) -> String {
        "\(String(text.utf8.count, radix: 16))\r\n\(text)\r\n"
    }

    static let all: [FramingFault] = [
        // RFC 9112 §6.3: Transfer-Encoding wins, and a message with both is a smuggling attempt: refused (502).
        FramingFault(
            name: "content-length-and-chunked",
            steps: [
                .text(
                    jsonHead + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smuggled) + "0\r\n\r\n"
                )
            ],
            thenServe: true, proxy: .failed, callFailure: "connection"),
        FramingFault(
            name: "chunked-and-content-length",
            steps: [
                .text(jsonHead + "Transfer-Encoding: chunked\r\nContent-Length: 8\r\n\r\n" + chunk(body) + "0\r\n\r\n")
            ],
            thenServe: true, proxy: .failed, callFailure: "connection"),
        // Identical duplicates are not a single Content-Length: fanout frames the body itself.
        FramingFault(
            name: "duplicate-content-length",
            steps: [.text(jsonHead + "Content-Length: 8\r\nContent-Length: 8\r\n\r\n" + body)], thenServe: true,
            proxy: .partnerBody),
        FramingFault(
            name: "conflicting-content-length",
            steps: [.text(jsonHead + "Content-Length: 8\r\nContent-Length: 3\r\n\r\n" + body)], proxy: .failed,
            callFailure: "connection"),
        FramingFault(
            name: "content-length-larger-than-body",
            steps: [.text(jsonHead + "Content-Length: 100\r\n\r\n" + body)], proxy: .failed, callFailure: "connection"),
        FramingFault(
            name: "content-length-smaller-than-body",
            steps: [.text(jsonHead + "Content-Length: 3\r\n\r\n" + body)], proxy: .failed, callFailure: "connection"),
        FramingFault(
            name: "content-length-zero-then-a-response",
            steps: [.text(jsonHead + "Content-Length: 0\r\n\r\n" + smuggled)], proxy: .declaredBodyOrFailed(""),
            callFailure: "connection", callValueInstead: "null"),
        FramingFault(
            name: "bad-chunk", steps: [.text(jsonHead + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")],
            proxy: .failed, callFailure: "connection"),
        FramingFault(
            name: "bad-chunk-mid-body",
            steps: [
                .text(jsonHead + "Transfer-Encoding: chunked\r\n\r\n" + chunk(body)), .pause(milliseconds: 150),
                .text("zz\r\n" + smuggled),
            ], proxy: .failed, callFailure: "connection"),
        // Point 7: the declared body, then more bytes in a later packet, after libcurl completed the answer.
        FramingFault(
            name: "bytes-after-the-declared-end",
            steps: [
                .text(jsonHead + "Content-Length: 8\r\n\r\n" + body), .pause(milliseconds: 150), .text(smuggled),
            ], thenServe: true, proxy: .partnerBody),
        FramingFault(name: "http09-answer", steps: [.text(body)], proxy: .failed, callFailure: "connection"),
        FramingFault(
            name: "interim-answers-then-the-final-one",
            steps: [
                .text("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"),
                .pause(milliseconds: 20), .text(jsonHead + "Content-Length: 8\r\n\r\n" + body),
            ], thenServe: true, proxy: .partnerBody),
        FramingFault(
            name: "connection-close-from-the-partner",
            steps: [.text(jsonHead + "Content-Length: 8\r\nConnection: close\r\n\r\n" + body)], proxy: .partnerBody),
        FramingFault(
            name: "hop-by-hop-fields",
            steps: [
                .text(
                    jsonHead
                        + "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                        + "Trailer: X-Sum\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body)
                        + "0\r\nX-Sum: 1\r\nContent-Length: 99\r\n\r\n")
            ], thenServe: true, proxy: .partnerBody),
        FramingFault(
            name: "http10-close-delimited",
            steps: [.text("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)], proxy: .partnerBody),
    ]
}

/// The route kinds a partner's answer can reach a client through.
enum FramingRouteKind: String, Sendable, CaseIterable {
    /// A plain proxy route: the partner's answer streams through.
    case proxy
    /// A composite route with one call.
    case composite
    /// A composite route with a `for_each` call over two items: the fault and a healthy one.
    case items
    /// A static `respond` route: the control, which never asks the partner.
    case respond
}

/// One fanout with a route of each kind per fault, each route with a partner stub of its own: a stub's
/// connections then carry only that test's requests (a connection picked up by another test's request in the
/// instant before stray bytes arrive would read them as its answer, which no proxy can tell apart).
final class PartnerFramingFixture: @unchecked Sendable {
    // @unchecked: set once in init; the stubs and the server are thread-safe.
    let server: TestServer
    private let partners: [UpstreamStub]

    static let shared = Result { try PartnerFramingFixture() }

    /// The answer of `/ok`, which follows every faulty request on the same client connection.
    static let okBody = #"{"ok":true}"#

    init() throws {
        var partners: [UpstreamStub] = []
        var config = """
            workers 2
            route GET /ok {
                respond 200 `\(Self.okBody)`
            }
            route GET /respond/{fault} {
                respond 200 `\(FramingFault.body)`
            }

            """
        for fault in FramingFault.all {
            var upstreams: [FramingRouteKind: String] = [:]
            for route in FramingRouteKind.allCases where route != .respond {
                let stub = try UpstreamStub(routes: [
                    "/healthy": .json(FramingFault.body),
                    "/\(fault.name)": .scripted(fault.steps, thenServe: fault.thenServe),
                ])
                partners.append(stub)
                upstreams[route] = "\(route.rawValue)-\(fault.name)"
                config += "upstream \(route.rawValue)-\(fault.name) { url \(stub.baseURL); }\n"
            }
            config += """
                route GET /proxy/\(fault.name) {
                    proxy \(upstreams[.proxy]!) /\(fault.name)
                    timeout 3s
                }
                route GET /composite/\(fault.name) {
                    call partner GET \(upstreams[.composite]!) /\(fault.name) optional
                    deadline 3s
                }
                route GET /items/\(fault.name) {
                    call partner GET \(upstreams[.items]!) /{item} optional {
                        for_each query.names
                    }
                    deadline 3s
                }

                """
        }
        self.partners = partners
        self.server = try TestServer(config)
    }
}

/// Whatever a partner does to its framing, the client's stream splits into exactly one well-framed response
/// per request, with no stray byte: the next request on the same keep-alive connection gets its own answer,
/// or the connection closes cleanly.
@Suite struct FramingFaultMatrixTests {
    static func path(_ route: FramingRouteKind, _ fault: FramingFault) -> String {
        switch route {
        case .items: return "/items/\(fault.name)?names=\(fault.name),healthy"
        default: return "/\(route.rawValue)/\(fault.name)"
        }
    }

    @Test(arguments: FramingFault.all, FramingRouteKind.allCases)
    func theClientStreamHoldsOneResponsePerRequest(_ fault: FramingFault, _ route: FramingRouteKind) throws {
        let fixture = try PartnerFramingFixture.shared.get()
        let client = try RawHTTPClient(port: fixture.server.port, timeoutMs: 10_000)
        defer { client.close() }
        try client.send("GET \(Self.path(route, fault)) HTTP/1.1\r\nHost: fanout\r\n\r\n")
        let parsed: StrictResponseParser.Parsed
        do {
            parsed = try client.readStrictResponse()
        } catch let error as TestSupportError where error.kind == .unexpectedEOF || error.errno == ECONNRESET {
            // Cut short by a close: allowed only where the partner failed after its answer began streaming.
            #expect(route == .proxy, "\(error)")
            if case .partnerBody = fault.proxy { Issue.record("\(fault.name): cut short: \(error)") }
            // What did arrive is the start of that one response, up to the close.
            #expect(HTTPWireText.show(client.unreadBytes).hasPrefix("HTTP/1.1 200 OK\\x"))
            #expect(client.isClosedByPeer(waitMs: 0))
            return
        }
        let answer = parsed.response
        #expect(!answer.bodyText.contains("smuggled"), "\(answer.bodyText)")
        try Self.check(answer, of: fault, on: route)

        if parsed.closesConnection {
            #expect(client.isClosedByPeer(waitMs: 5_000), "the answer said close; the connection stayed open")
            #expect(client.unreadBytes.isEmpty, "stray bytes: \(HTTPWireText.show(client.unreadBytes))")
            return
        }
        // Nothing was left behind: the next request gets its own answer.
        try client.send("GET /ok HTTP/1.1\r\nHost: fanout\r\n\r\n")
        let next = try client.readStrictResponse()
        #expect(next.response.status == 200)
        #expect(next.response.bodyText == PartnerFramingFixture.okBody, "\(next.response.bodyText)")
        #expect(!client.isClosedByPeer(waitMs: 100))
        #expect(client.unreadBytes.isEmpty, "stray bytes: \(HTTPWireText.show(client.unreadBytes))")
    }

    /// The first answer's status and body for `route`.
    private static func check(_ answer: RawHTTPResponse, of fault: FramingFault, on route: FramingRouteKind) throws {
        switch route {
        case .respond:
            #expect(answer.status == 200)
            #expect(answer.bodyText == FramingFault.body)
        case .proxy:
            switch fault.proxy {
            case .partnerBody:
                #expect(answer.status == 200, "\(answer.bodyText)")
                #expect(answer.bodyText == FramingFault.body)
                for field in ["Keep-Alive", "Proxy-Connection", "Trailer", "Upgrade"] {
                    #expect(answer.header(field) == nil, "\(field): \(answer.header(field) ?? "")")
                }
                #expect(answer.header("Connection") == nil, "\(answer.header("Connection") ?? "")")
            case .failed:
                // A complete answer here is fanout's own 502 (the head had not gone out yet).
                #expect(answer.status == 502, "\(answer.status) \(answer.bodyText)")
                #expect(try jsonObject(answer)["error"] as? String == "upstream_failed")
            case .declaredBodyOrFailed(let declared):
                if answer.status == 502 {
                    #expect(try jsonObject(answer)["error"] as? String == "upstream_failed")
                } else {
                    #expect(answer.status == 200, "\(answer.bodyText)")
                    #expect(answer.bodyText == declared)
                }
            }
        case .composite:
            #expect(answer.status == 200, "\(answer.bodyText)")
            let body = try jsonObject(answer)
            if let value = fault.callValueInstead, answer.bodyText == #"{"partner":\#(value)}"# {
                // The declared answer, taken as it was declared.
            } else if let kind = fault.callFailure {
                #expect(body["partner"] is NSNull, "\(answer.bodyText)")
                let errors = try #require(body["_errors"] as? [[String: Any]], "\(answer.bodyText)")
                #expect(errors.first?["kind"] as? String == kind, "\(answer.bodyText)")
            } else {
                #expect(answer.bodyText == #"{"partner":\#(FramingFault.body)}"#)
            }
        case .items:
            #expect(answer.status == 200, "\(answer.bodyText)")
            if let value = fault.callValueInstead, answer.bodyText == #"{"partner":[\#(value),\#(FramingFault.body)]}"#
            {
                // The declared answer, taken as it was declared.
            } else if let kind = fault.callFailure {
                let body = try jsonObject(answer)
                let items = try #require(body["partner"] as? [Any], "\(answer.bodyText)")
                #expect(items.first is NSNull, "\(answer.bodyText)")
                let errors = try #require(body["_errors"] as? [[String: Any]], "\(answer.bodyText)")
                #expect(errors.first?["kind"] as? String == kind, "\(answer.bodyText)")
                #expect(errors.first?["item"] as? Int == 0, "\(answer.bodyText)")
            } else {
                #expect(answer.bodyText == #"{"partner":[\#(FramingFault.body),\#(FramingFault.body)]}"#)
            }
        }
    }
}

/// Shows bytes for a failure message: printable ASCII as is, the rest escaped.
enum HTTPWireText {
    static func show(_ bytes: [UInt8]) -> String {
        bytes.prefix(300).map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x\(String($0, radix: 16))" }
            .joined()
    }
}

/// Point 7, and HEAD answers: bytes a partner sends past its answer's end never reach a client, and the
/// connection they came on is not used again.
@Suite struct PartnerLeftoverBytesTests {
    static let nextBody = #"{"next":true}"#

    @Test func bytesAfterTheDeclaredEndNeverReachAClientAndTheirConnectionIsNotReused() throws {
        let stub = try UpstreamStub(routes: [
            "/late": .scripted(
                [
                    .text(FramingFault.jsonHead + "Content-Length: 8\r\n\r\n" + FramingFault.body),
                    .pause(milliseconds: 200), .text(FramingFault.smuggled),
                ], thenServe: true),
            "/next": .json(Self.nextBody),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}}; }
            route GET /proxy/{name} { proxy partner /{name}; }
            route GET /composite/{name} { call partner GET partner /{name}; }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port, timeoutMs: 10_000)
        defer { client.close() }

        for route in ["proxy", "composite", "proxy", "composite"] {
            try client.send("GET /\(route)/late HTTP/1.1\r\nHost: fanout\r\n\r\n")
            let late = try client.readStrictResponse()
            #expect(late.response.status == 200, "\(late.response.bodyText)")
            let expected = route == "proxy" ? FramingFault.body : #"{"partner":\#(FramingFault.body)}"#
            #expect(late.response.bodyText == expected)
            // The extra bytes reach fanout's pooled connection meanwhile.
            usleep(600_000)
            try client.send("GET /\(route)/next HTTP/1.1\r\nHost: fanout\r\n\r\n")
            let next = try client.readStrictResponse()
            #expect(next.response.status == 200, "\(next.response.bodyText)")
            let expectedNext = route == "proxy" ? Self.nextBody : #"{"partner":\#(Self.nextBody)}"#
            #expect(next.response.bodyText == expectedNext)
            #expect(!next.closesConnection)
            #expect(client.unreadBytes.isEmpty, "stray bytes: \(HTTPWireText.show(client.unreadBytes))")
        }

        // The partner's view: no request followed a /late one on its connection.
        let requests = stub.receivedRequests
        for (index, late) in requests.enumerated() where late.path == "/late" {
            let reused = requests[(index + 1)...].filter { $0.connection == late.connection }
            #expect(reused.isEmpty, "connection \(late.connection) reused for \(reused.map(\.path))")
        }
        #expect(requests.count == 8)
    }

    @Test func headAnswersPassTheirLengthOnAndFrameNoByte() throws {
        let stub = try UpstreamStub(routes: [
            "/sized": .respond(body: Array(repeating: UInt8(ascii: "x"), count: 1_234)),
            // A HEAD answer followed by the body it must not have.
            "/with-body": .scripted(
                [.text(FramingFault.jsonHead + "Content-Length: 8\r\n\r\n" + FramingFault.body)], thenServe: true),
            "/unsized": .scripted(
                [.text(FramingFault.jsonHead + "Transfer-Encoding: chunked\r\n\r\n")], thenServe: true),
            "/next": .json(Self.nextBody),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}}; }
            route GET,HEAD /proxy/{name} { proxy partner /{name}; }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port, timeoutMs: 10_000)
        defer { client.close() }

        for (name, length) in [("sized", "1234"), ("with-body", "8"), ("unsized", nil)] {
            try client.send("HEAD /proxy/\(name) HTTP/1.1\r\nHost: fanout\r\n\r\n")
            let head = try client.readStrictResponse(method: "HEAD")
            #expect(head.response.status == 200, "\(name)")
            #expect(head.response.header("Content-Length") == length, "\(name)")
            #expect(head.response.header("Transfer-Encoding") == nil, "\(name)")
            #expect(!head.closesConnection, "\(name)")
            try client.send("GET /proxy/next HTTP/1.1\r\nHost: fanout\r\n\r\n")
            let next = try client.readStrictResponse()
            #expect(next.response.bodyText == Self.nextBody, "after \(name): \(next.response.bodyText)")
            #expect(client.unreadBytes.isEmpty, "after \(name): \(HTTPWireText.show(client.unreadBytes))")
        }
    }
}
