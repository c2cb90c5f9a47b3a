import FanoutTestSupport
import Foundation
import Testing

/// OTLP/HTTP trace export (`tracing`) against a real receiver (`scripts/otlp-receiver.py`, which decodes each
/// export with the `opentelemetry-proto` package): spans arrive with the right names, attributes and ids, the
/// sampling decision is parent-based then by ratio, and a receiver that is down costs requests nothing.
@Suite(.serialized) struct OTLPExportTests {
    static let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let clientParent = "00f067aa0ba902b7"

    static func config(endpoint: String, sample: String, extra: String = "") -> String {
        """
        admin_listen 127.0.0.1:0
        upstream partner { url {{stub}} }
        route GET /overview {
            call user GET partner /user
            call broken GET partner /broken optional
        }
        route GET /files/{rest...} {
            proxy partner
        }
        tracing {
            otlp_endpoint \(endpoint)
            sample \(sample)
            service_name edge-test
            flush 100ms
            header X-Scope-Tenant t1
            \(extra)
        }
        """
    }

    static func stub() throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/user": .json(#"{"id":7}"#),
            "/broken": .respond(status: 500, body: Array(#"{"error":"down"}"#.utf8)),
            "/files/a": .json(#"{"file":"a"}"#),
        ])
    }

    /// The span id of the `traceparent` the stub received on `path` (the part after the trace id).
    static func sentSpanIDs(_ stub: UpstreamStub, path: String) -> [String] {
        stub.receivedRequests.filter { $0.path == path }.compactMap { request in
            request.header("traceparent").map { String($0.split(separator: "-")[2]) }
        }
    }

    @Test func aSampledClientTraceIsExportedWithServerAndClientSpansEvenAtRatioZero() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let server = try TestServer(
            Self.config(endpoint: receiver.endpoint, sample: "0"), substitutions: ["stub": stub.baseURL])
        let response = try server.get(
            "/overview?x=1", headers: [("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-01")])
        #expect(response.status == 200)

        let spans = receiver.waitForSpans(count: 3)
        #expect(spans.count == 3)
        let server0 = try #require(spans.first { $0.kind == 2 })
        #expect(server0.name == "GET /overview")
        #expect(server0.traceID == Self.clientTrace)
        #expect(server0.parentSpanID == Self.clientParent)
        #expect(server0.service == "edge-test")
        #expect(server0.contentType == "application/x-protobuf")
        #expect(server0.attributes["http.request.method"] == "GET")
        #expect(server0.attributes["url.path"] == "/overview")
        #expect(server0.attributes["http.response.status_code"] == "200")
        #expect(server0.end > server0.start)

        let user = try #require(spans.first { $0.name == "user" })
        let broken = try #require(spans.first { $0.name == "broken" })
        for call in [user, broken] {
            #expect(call.kind == 3)
            #expect(call.traceID == Self.clientTrace)
            #expect(call.parentSpanID == server0.spanID)
            #expect(call.attributes["fanout.upstream"] == "partner")
            #expect(call.start >= server0.start && call.end <= server0.end)
        }
        // The client spans are the spans the partners were told about in their traceparent.
        #expect(Self.sentSpanIDs(stub, path: "/user") == [user.spanID])
        #expect(Self.sentSpanIDs(stub, path: "/broken") == [broken.spanID])
        #expect(user.attributes["http.response.status_code"] == "200" && user.status == 0)
        #expect(broken.attributes["http.response.status_code"] == "500")
        #expect(broken.attributes["error.type"] != nil && broken.status == 2)
        #expect(user.attributes["fanout.attempts"] == "1" && user.attributes["fanout.hedged"] == "false")

        var samples: [String: Double] = [:]
        _ = waitUntil {
            samples = (try? MetricsTests.scrape(server)) ?? [:]
            return samples["fanout_trace_spans_exported_total"] == 3
        }
        #expect(samples["fanout_trace_spans_exported_total"] == 3)
        #expect(samples["fanout_trace_spans_dropped_total"] == 0)
        #expect(samples["fanout_trace_export_failures_total"] == 0)
    }

    @Test func aProxyRouteHasAServerSpanAndAProxyClientSpanWithTheSpanIDThePartnerSaw() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let server = try TestServer(
            Self.config(endpoint: receiver.endpoint, sample: "1"), substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/files/a").status == 200)
        let spans = receiver.waitForSpans(count: 2)
        #expect(spans.map(\.name).sorted() == ["GET /files/{rest...}", "proxy"])
        let root = try #require(spans.first { $0.kind == 2 })
        let proxy = try #require(spans.first { $0.kind == 3 })
        #expect(proxy.parentSpanID == root.spanID && proxy.traceID == root.traceID)
        #expect(Self.sentSpanIDs(stub, path: "/files/a") == [proxy.spanID])
        #expect(proxy.attributes["http.response.status_code"] == "200")
    }

    @Test func ratioZeroSendsNothingAndAnUnsampledParentStaysUnsampled() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let server = try TestServer(
            Self.config(endpoint: receiver.endpoint, sample: "0"), substitutions: ["stub": stub.baseURL])
        for _ in 0..<5 { #expect(try server.get("/overview").status == 200) }
        let unsampled = try server.get(
            "/overview", headers: [("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-00")])
        #expect(unsampled.status == 200)
        // Every partner was told the trace is not sampled.
        let flags = stub.receivedRequests.compactMap { $0.header("traceparent")?.suffix(2) }
        #expect(flags.count == 12 && flags.allSatisfy { $0 == "00" })
        // Well past `flush`: nothing left. Then a sampled request proves the receiver was listening.
        usleep(400_000)
        #expect(receiver.spans.isEmpty)
        let sampledTrace = "0af7651916cd43dd8448eb211c80319c"
        _ = try server.get("/overview", headers: [("traceparent", "00-\(sampledTrace)-\(Self.clientParent)-01")])
        let spans = receiver.waitForSpans(count: 3)
        #expect(spans.count == 3 && spans.allSatisfy { $0.traceID == sampledTrace })
    }

    @Test func ratioOneExportsTracesFanoutStartsWithTheTraceIDItSentToPartners() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let server = try TestServer(
            Self.config(endpoint: receiver.endpoint, sample: "1"), substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/overview").status == 200)
        let spans = receiver.waitForSpans(count: 3)
        let root = try #require(spans.first { $0.kind == 2 })
        #expect(root.parentSpanID.isEmpty)
        let sent = try #require(stub.receivedRequests.first?.header("traceparent"))
        #expect(sent.hasSuffix("-01") && sent.split(separator: "-")[1] == root.traceID)
    }

    @Test func aReceiverThatIsDownNeverSlowsRequestsAndItsSpansAreCountedDropped() throws {
        let silent = try UnansweredPort()
        defer { silent.close() }
        let stub = try Self.stub()
        defer { stub.stop() }
        // Exports hang until their 1.5 s timeout; batches of 3 (one request) and a queue of 6 spans.
        let server = try TestServer(
            Self.config(
                endpoint: "http://127.0.0.1:\(silent.port)/v1/traces", sample: "1",
                extra: "batch 3; queue 6; timeout 1500ms"),
            substitutions: ["stub": stub.baseURL])
        var slowest = 0.0
        for _ in 0..<20 {
            let (response, ms) = try measureMs { try server.get("/overview") }
            #expect(response.status == 200)
            slowest = max(slowest, ms)
        }
        #expect(slowest < 1_000, "slowest request \(slowest) ms")
        // 60 spans: at most two exports of 3 in flight, 6 queued; the rest dropped, then the exports fail.
        var samples: [String: Double] = [:]
        _ = waitUntil(timeoutMs: 10_000) {
            samples = (try? MetricsTests.scrape(server)) ?? [:]
            return (samples["fanout_trace_spans_dropped_total"] ?? 0) == 60
        }
        #expect(samples["fanout_trace_spans_dropped_total"] == 60)
        #expect(samples["fanout_trace_spans_exported_total"] == 0)
        #expect((samples["fanout_trace_export_failures_total"] ?? 0) >= 2)
    }

    @Test func aReloadTurnsExportOnAndOff() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let plain =
            "admin_listen 127.0.0.1:0\nupstream partner { url {{stub}} }\nroute GET /files/{rest...} { proxy partner }"
        let server = try TestServer(plain, substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/files/a").status == 200)
        #expect(!(try MetricsTests.scrape(server).keys.contains("fanout_trace_spans_exported_total")))

        try server.reload(Self.config(endpoint: receiver.endpoint, sample: "1"), substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/files/a").status == 200)
        #expect(receiver.waitForSpans(count: 2).count == 2)

        try server.reload(plain, substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/files/a").status == 200)
        usleep(400_000)
        #expect(receiver.spans.count == 2)
    }

    @Test func aGracefulShutdownSendsWhatIsStillQueued() throws {
        let receiver = try OTLPReceiver()
        let stub = try Self.stub()
        defer { stub.stop() }
        let server = try TestServer(
            Self.config(endpoint: receiver.endpoint, sample: "1").replacingOccurrences(
                of: "flush 100ms", with: "flush 1m"),
            substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/overview").status == 200)
        usleep(200_000)
        #expect(receiver.spans.isEmpty)
        server.server.shutdown(graceMs: 1_000)
        #expect(receiver.spans.count == 3)
    }
}
