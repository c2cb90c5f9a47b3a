import Testing

@testable import FanoutCore

@Suite struct RequestSpansTests {
    static let trace = TraceContext(
        traceIDHigh: 0x0af7_6519_16cd_43dd, traceIDLow: 0x8448_eb21_1c80_319c, parentID: 0x00f0_67aa_0ba9_02b7,
        sampled: true, traceState: "a=1")

    @Test func aServerSpanAndAClientSpanPerCallSentWithTheCallsSpanID() throws {
        var product = AccessLogLine.Call(
            name: "product", identity: .init(call: 0, upstream: 2), status: 200, durationMs: 4, failure: nil,
            spanID: "00000000000000aa", httpVersion: "1.1")
        product.startOffsetMs = 1
        var reviews = AccessLogLine.Call(
            name: "reviews", identity: .init(call: 1, upstream: 0), status: 503, durationMs: 2, failure: "status")
        reviews.spanID = "00000000000000bb"
        reviews.attempts = 2
        reviews.hedged = true
        var cached = AccessLogLine.Call(
            name: "stock", identity: .init(call: 2, upstream: 1), status: 200, durationMs: 0, failure: nil)
        cached.cache = "hit"
        let skipped = AccessLogLine.Call(
            name: "extra", identity: .init(call: 3, upstream: 3), status: nil, durationMs: 0, failure: "skipped")
        let line = AccessLogLine(
            time: "t", method: "GET", path: "/p/1?x=2", route: "GET /p/{id}", status: 200, durationMs: 10,
            requestID: "r1", calls: [product, reviews, cached, skipped])
        let spans = RequestSpans.spans(
            for: line, trace: Self.trace, serverSpanID: 0x11, upstreamNames: ["reviews", "stock", "catalog", "x"],
            endUnixNano: 1_000_000_000, newSpanID: { 0x77 })
        #expect(spans.map(\.name) == ["GET /p/{id}", "product", "reviews", "stock"])
        let server = spans[0]
        #expect(server.kind == .server && server.spanID == 0x11 && server.parentSpanID == 0x00f0_67aa_0ba9_02b7)
        #expect(server.startUnixNano == 990_000_000 && server.endUnixNano == 1_000_000_000)
        #expect(server.traceState == "a=1" && !server.isError)
        #expect(server.attributes.contains(.init("url.path", .string("/p/1"))))
        #expect(server.attributes.contains(.init("http.response.status_code", .int(200))))
        let client = spans[1]
        #expect(client.kind == .client && client.spanID == 0xaa && client.parentSpanID == 0x11)
        #expect(client.traceIDLow == Self.trace.traceIDLow)
        #expect(client.startUnixNano == 991_000_000 && client.endUnixNano == 995_000_000)
        #expect(client.attributes.contains(.init("fanout.upstream", .string("catalog"))))
        let failed = spans[2]
        #expect(failed.isError && failed.spanID == 0xbb)
        #expect(failed.attributes.contains(.init("error.type", .string("status"))))
        #expect(failed.attributes.contains(.init("fanout.upstream", .string("reviews"))))
        #expect(failed.attributes.contains(.init("fanout.attempts", .int(2))))
        #expect(failed.attributes.contains(.init("fanout.hedged", .bool(true))))
        #expect(spans[3].spanID == 0x77)
        #expect(spans[3].attributes.contains(.init("fanout.cache.hit", .bool(true))))
        #expect(spans[3].attributes.contains(.init("fanout.upstream", .string("stock"))))
    }

    @Test func aForEachCallHasASpanPerItem() {
        var call = AccessLogLine.Call(
            name: "items", identity: .init(call: 0, upstream: 0), status: nil, durationMs: 3, failure: nil,
            itemSpanIDs: ["0000000000000001", "0000000000000002"])
        call.startOffsetMs = 0
        let line = AccessLogLine(
            time: "t", method: "GET", path: "/", route: nil, status: 502, durationMs: 5, requestID: "r", calls: [call])
        let spans = RequestSpans.spans(
            for: line, trace: Self.trace, serverSpanID: 9, upstreamNames: ["u"], endUnixNano: 10_000_000,
            newSpanID: { 0 })
        #expect(spans.map(\.spanID) == [9, 1, 2])
        #expect(spans[0].name == "GET" && spans[0].isError)
        #expect(spans[2].attributes.contains(.init("fanout.item", .int(1))))
    }

    @Test func theTracingBlockParsesWithDefaultsAndRejectsWhatIsWrong() throws {
        let config = try ConfigParser.parse(
            """
            tracing {
                otlp_endpoint http://127.0.0.1:4318/v1/traces
                sample 0.25
                service_name shop-edge
                batch 100; flush 1s; queue 1000; timeout 2s
                header Authorization "Bearer x"
            }
            """, file: "t.conf", environment: [:])
        let tracing = try #require(config.tracing)
        #expect(tracing.url == "http://127.0.0.1:4318/v1/traces")
        #expect(tracing.sampleRatio == 0.25 && tracing.serviceName == "shop-edge")
        #expect(tracing.batchSize == 100 && tracing.flushMs == 1_000 && tracing.queueSize == 1_000)
        #expect(
            tracing.timeoutMs == 2_000 && tracing.headers == [HeaderField(name: "Authorization", value: "Bearer x")])
        let plain = try ConfigParser.parse(
            "tracing { otlp_endpoint http://collector:4318 }", file: "t.conf", environment: [:])
        #expect(plain.tracing?.url == "http://collector:4318/v1/traces" && plain.tracing?.sampleRatio == 1)
        #expect(try ConfigParser.parse("", file: "t.conf", environment: [:]).tracing == nil)
        for invalid in [
            "tracing { sample 0.5 }", "tracing { otlp_endpoint ftp://x }",
            "tracing { otlp_endpoint http://x; sample 2 }",
            "tracing { otlp_endpoint http://x; sample -0 }", "tracing { otlp_endpoint http://x; spans 1 }",
            "tracing { otlp_endpoint http://x }\ntracing { otlp_endpoint http://y }",
        ] {
            #expect(throws: ConfigError.self, "\(invalid)") {
                try ConfigParser.parse(invalid, file: "t.conf", environment: [:])
            }
        }
    }
}
