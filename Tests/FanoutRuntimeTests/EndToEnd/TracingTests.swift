import FanoutTestSupport
import Foundation
import Testing

/// W3C Trace Context end to end: the client's trace continued (or a new one started), a `traceparent` with a
/// fresh span id on every upstream request, and the access log naming the trace and each call's span.
@Suite struct TracingTests {
    static let clientTrace = "0af7651916cd43dd8448eb211c80319c"
    static let clientParent = "b7ad6b7169203331"

    /// Two plain calls and a `for_each` over two query items: four upstream requests per client request.
    static let config = """
        upstream partner {
            url {{stub}}
        }
        route GET /page {
            call user GET {{stub}}/user
            call cart GET {{stub}}/cart
            call price GET {{stub}}/price/{item} {
                for_each query.ids
                key_by item
            }
        }
        route GET /raw/{rest...} {
            proxy partner /{rest...}
        }
        """

    static func stub() throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/user": .json(#"{"id":1}"#), "/cart": .json(#"{"n":2}"#), "/price/a": .json("1"),
            "/price/b": .json("2"), "/anything": .json("{}"),
        ])
    }

    /// One upstream request's trace headers, split into fields.
    struct SeenTrace {
        var version: String
        var traceID: String
        var spanID: String
        var flags: String
        var traceparentCount: Int
        var tracestate: String?

        init(_ request: StubRequest) throws {
            let values = request.headers.filter { $0.0.lowercased() == "traceparent" }.map(\.1)
            traceparentCount = values.count
            let fields = try #require(values.first).split(separator: "-").map(String.init)
            try #require(fields.count == 4)
            version = fields[0]
            traceID = fields[1]
            spanID = fields[2]
            flags = fields[3]
            tracestate = request.header("tracestate")
        }
    }

    static func logEntry(_ server: TestServer, path: String) throws -> [String: Any] {
        #expect(waitUntil { server.accessLog.all.contains { $0.contains(#""path":"\#(path)""#) } })
        let line = try #require(server.accessLog.all.first { $0.contains(#""path":"\#(path)""#) })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static func isLowerHex(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            && text.utf8.contains { $0 != 0x30 }
    }

    @Test func continuesTheClientsTraceWithASpanPerCall() throws {
        let stub = try Self.stub()
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        let response = try server.get(
            "/page?ids=a&ids=b",
            headers: [
                ("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-01"),
                ("tracestate", "rojo=00f067aa0ba902b7"), ("tracestate", "congo=t61rcWkgMzE"),
            ])
        #expect(response.status == 200, "\(response.bodyText)")
        let seen = try stub.receivedRequests.map(SeenTrace.init)
        #expect(seen.count == 4)
        for trace in seen {
            #expect(trace.traceparentCount == 1)
            #expect(trace.version == "00")
            #expect(trace.traceID == Self.clientTrace)
            #expect(trace.flags == "01")
            #expect(Self.isLowerHex(trace.spanID, count: 16))
            #expect(trace.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        }
        let spans = Set(seen.map(\.spanID))
        #expect(spans.count == 4)
        #expect(!spans.contains(Self.clientParent))

        // The access log names the trace, and each call's span as the partner saw it.
        let entry = try Self.logEntry(server, path: "/page?ids=a&ids=b")
        #expect(entry["trace_id"] as? String == Self.clientTrace)
        let calls = try #require(entry["calls"] as? [[String: Any]])
        #expect(calls.map { $0["name"] as? String } == ["user", "cart", "price"])
        let byPath = Dictionary(
            uniqueKeysWithValues: zip(stub.receivedRequests.map(\.path), seen.map(\.spanID)))
        #expect(calls[0]["span_id"] as? String == byPath["/user"])
        #expect(calls[1]["span_id"] as? String == byPath["/cart"])
        #expect(calls[2]["span_id"] == nil)
        let itemSpans = try #require(calls[2]["span_ids"] as? [String])
        #expect(itemSpans == [try #require(byPath["/price/a"]), try #require(byPath["/price/b"])])
    }

    @Test func carriesAnUnsampledFlagAndDropsUnknownFlagBits() throws {
        let stub = try Self.stub()
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        _ = try server.get("/page?ids=a", headers: [("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-02")])
        let seen = try stub.receivedRequests.map(SeenTrace.init)
        #expect(seen.count == 3)
        #expect(seen.allSatisfy { $0.flags == "00" && $0.traceID == Self.clientTrace })
    }

    /// Missing, invalid (uppercase hex, all-zero id, two fields) or a tracestate without a valid traceparent:
    /// a new trace is started, sampled, the same for every call of the request, and tracestate is not sent.
    static let untraceable: [[(String, String)]] = [
        [],
        [("traceparent", "00-0AF7651916CD43DD8448EB211C80319C-\(clientParent)-01"), ("tracestate", "rojo=1")],
        [("traceparent", "00-00000000000000000000000000000000-\(clientParent)-01")],
        [
            ("traceparent", "00-\(clientTrace)-\(clientParent)-01"),
            ("traceparent", "00-\(clientTrace)-\(clientParent)-01"),
        ],
    ]

    @Test(arguments: untraceable)
    func startsANewTraceWhenTheClientsIsMissingOrInvalid(headers: [(String, String)]) throws {
        let stub = try Self.stub()
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/page?ids=a&ids=b", headers: headers).status == 200)
        let seen = try stub.receivedRequests.map(SeenTrace.init)
        #expect(seen.count == 4)
        let traceIDs = Set(seen.map(\.traceID))
        #expect(traceIDs.count == 1)
        let traceID = try #require(traceIDs.first)
        #expect(Self.isLowerHex(traceID, count: 32))
        #expect(traceID != Self.clientTrace)
        #expect(Set(seen.map(\.spanID)).count == 4)
        #expect(seen.allSatisfy { $0.flags == "01" && $0.tracestate == nil && $0.traceparentCount == 1 })
        let entry = try Self.logEntry(server, path: "/page?ids=a&ids=b")
        #expect(entry["trace_id"] as? String == traceID)
        #expect(entry["parent_id"] == nil)
    }

    /// The "following one request" walk of docs/reference/access-log.md: a request crosses two fanouts (the
    /// second stands for a partner that logs like fanout), and its trace id finds every line, each `parent_id`
    /// naming the span that called it.
    @Test func oneRequestCanBeFollowedAcrossTwoFanoutsByTraceID() throws {
        let partner = try TestServer(
            """
            route GET /partners/profile {
                respond 200 `{"id": 42}`
            }
            route GET /partners/orders {
                respond 200 `[1, 2]`
            }
            """)
        let edge = try TestServer(
            """
            upstream partner {
                url http://127.0.0.1:\(partner.port)
            }
            route GET /overview {
                call profile GET partner /partners/profile
                call orders GET partner /partners/orders
            }
            """)
        let parent = "00-\(Self.clientTrace)-\(Self.clientParent)-01"
        #expect(try edge.get("/overview", headers: [("traceparent", parent)]).status == 200)

        let overview = try Self.logEntry(edge, path: "/overview")
        #expect(overview["trace_id"] as? String == Self.clientTrace)
        #expect(overview["parent_id"] as? String == Self.clientParent)
        let calls = try #require(overview["calls"] as? [[String: Any]])
        for call in calls {
            let name = try #require(call["name"] as? String)
            let received = try Self.logEntry(partner, path: "/partners/\(name)")
            #expect(received["trace_id"] as? String == Self.clientTrace)
            #expect(received["parent_id"] as? String == call["span_id"] as? String)
        }
        #expect(partner.accessLog.all.count == 2)
        #expect(partner.accessLog.all.allSatisfy { $0.contains(Self.clientTrace) })
    }

    @Test func eachRequestStartsItsOwnTrace() throws {
        let stub = try Self.stub()
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        _ = try server.get("/page")
        _ = try server.get("/page")
        let seen = try stub.receivedRequests.filter { $0.path == "/user" }.map(SeenTrace.init)
        #expect(seen.count == 2)
        #expect(seen[0].traceID != seen[1].traceID)
    }

    @Test func proxyRouteSendsExactlyOneTraceparentOfItsOwn() throws {
        let stub = try Self.stub()
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        let response = try server.get(
            "/raw/anything",
            headers: [
                ("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-01"), ("tracestate", "rojo=1"),
            ])
        #expect(response.status == 200)
        let request = try #require(stub.receivedRequests.first)
        let seen = try SeenTrace(request)
        #expect(seen.traceparentCount == 1)
        #expect(request.headers.filter { $0.0.lowercased() == "tracestate" }.count == 1)
        #expect(seen.traceID == Self.clientTrace)
        #expect(seen.spanID != Self.clientParent)
        #expect(seen.tracestate == "rojo=1")
        let entry = try Self.logEntry(server, path: "/raw/anything")
        #expect(entry["trace_id"] as? String == Self.clientTrace)
        let calls = try #require(entry["calls"] as? [[String: Any]])
        #expect(calls.first?["span_id"] as? String == seen.spanID)
    }

    @Test func logsTheTraceOfARequestWithoutUpstreamCalls() throws {
        let server = try TestServer("route GET /ok { respond 204 }")
        _ = try server.get("/missing", headers: [("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-01")])
        let entry = try Self.logEntry(server, path: "/missing")
        #expect(entry["status"] as? Int == 404)
        #expect(entry["trace_id"] as? String == Self.clientTrace)
    }
}
