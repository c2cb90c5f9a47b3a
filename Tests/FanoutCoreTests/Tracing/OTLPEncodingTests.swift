import Testing

@testable import FanoutCore

@Suite struct OTLPEncodingTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    @Test func varintsTakeSevenBitsPerByteLowGroupFirst() {
        let cases: [(UInt64, String)] = [
            (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (UInt64.max, "ffffffffffffffffff01"),
        ]
        for (value, expected) in cases {
            var writer = ProtobufWriter()
            writer.appendVarint(value)
            #expect(Self.hex(writer.bytes) == expected, "varint \(value)")
        }
    }

    @Test func fieldsCarryTheirTagAndWireType() {
        var writer = ProtobufWriter()
        writer.varintField(1, 150)
        writer.stringField(2, "testing")
        writer.fixed64Field(7, 1)
        writer.int64Field(3, -1)
        writer.boolField(2, true)
        writer.messageField(15) { $0.varintField(3, 2) }
        // The protobuf guide's examples: 08 96 01 and 12 07 74 65 73 74 69 6e 67.
        #expect(
            Self.hex(writer.bytes)
                == "089601" + "120774657374696e67" + "390100000000000000" + "18ffffffffffffffffff01" + "1001"
                + "7a021802")
    }

    /// The bytes `opentelemetry-proto`'s Python classes produce for the same request (SerializeToString).
    @Test func anExportRequestMatchesTheReferenceEncoding() {
        let span = TraceSpan(
            traceIDHigh: 0x0af7_6519_16cd_43dd, traceIDLow: 0x8448_eb21_1c80_319c, spanID: 0xb7ad_6b71_6920_3331,
            parentSpanID: 0x00f0_67aa_0ba9_02b7, name: "GET /x", kind: .server,
            startUnixNano: 1_700_000_000_000_000_000, endUnixNano: 1_700_000_000_012_000_000,
            attributes: [.init("http.response.status_code", .int(502)), .init("fanout.hedged", .bool(true))],
            isError: true)
        let expected =
            "0aa5010a170a150a0c736572766963652e6e616d6512050a037376631289010a080a0666616e6f7574127d0a100af765"
            + "1916cd43dd8448eb211c80319c1208b7ad6b7169203331220800f067aa0ba902b72a06474554202f7830023900002a36"
            + "fe9c971741001be136fe9c97174a200a19687474702e726573706f6e73652e7374617475735f636f6465120318f603"
            + "4a130a0d66616e6f75742e686564676564120210017a021802"
        #expect(Self.hex(OTLPTraceEncoder.exportRequest([span], serviceName: "svc")) == expected)
    }

    @Test func theRatioSamplerComparesTheLowHalfOfTheTraceID() {
        #expect(!TraceSampler(ratio: 0).samples(traceIDLow: 0))
        #expect(TraceSampler(ratio: 1).samples(traceIDLow: UInt64.max))
        let half = TraceSampler(ratio: 0.5)
        #expect(half.samples(traceIDLow: 0x7fff_ffff_ffff_ffff))
        #expect(!half.samples(traceIDLow: 0x8000_0000_0000_0000))
        // About a tenth of random-looking ids (SplitMix64's sequence).
        let tenth = TraceSampler(ratio: 0.1)
        var state: UInt64 = 42
        var sampled = 0
        for _ in 0..<10_000 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var id = (state ^ (state >> 30)) &* 0xbf58_476d_1ce4_e5b9
            id = (id ^ (id >> 27)) &* 0x94d0_49bb_1331_11eb
            if tenth.samples(traceIDLow: id ^ (id >> 31)) { sampled += 1 }
        }
        #expect((900...1100).contains(sampled))
    }

    @Test func aContinuedTraceKeepsItsFlagAndAStartedOneIsSampledByTheRatio() {
        let never = TraceSampler(ratio: 0)
        let always = TraceSampler(ratio: 1)
        let continued = TraceContext(traceIDHigh: 1, traceIDLow: 2, parentID: 3, sampled: true)
        #expect(never.decide(continued).sampled)
        var unsampled = continued
        unsampled.sampled = false
        #expect(!always.decide(unsampled).sampled)
        let started = TraceContext(traceIDHigh: 1, traceIDLow: 2, sampled: true)
        #expect(!never.decide(started).sampled && always.decide(started).sampled)
    }

    @Test func theQueueDropsWhatDoesNotFitAndHandsOutBatchesOldestFirst() {
        func span(_ id: UInt64) -> TraceSpan {
            TraceSpan(
                traceIDHigh: 1, traceIDLow: 1, spanID: id, parentSpanID: nil, name: "s", kind: .server,
                startUnixNano: 0, endUnixNano: 0)
        }
        var queue = SpanQueue(capacity: 5, batchSize: 2)
        #expect(queue.append((1...3).map(span)) == 0)
        #expect(queue.hasFullBatch)
        #expect(queue.append((4...7).map(span)) == 2)
        #expect(queue.dropped == 2)
        #expect(queue.takeBatch().map(\.spanID) == [1, 2])
        #expect(queue.takeBatch().map(\.spanID) == [3, 4])
        #expect(queue.append([span(8)]) == 0)
        #expect(queue.takeBatch().map(\.spanID) == [5, 8])
        #expect(queue.isEmpty && queue.takeBatch().isEmpty)
    }
}

@Suite struct TraceExportMetricsTests {
    @Test func theTraceSeriesAppearOnlyWithTracingAndAddUpOverWorkers() {
        #expect(!MetricsExposition.render(ServerMetrics()).contains("fanout_trace_"))
        var first = ServerMetrics()
        first.traceExport = TraceExportCounts(spansExported: 5, spansDropped: 1, exportFailures: 1)
        var second = ServerMetrics()
        second.traceExport = TraceExportCounts(spansExported: 2)
        var total = ServerMetrics()
        total.merge(first)
        total.merge(second)
        let text = MetricsExposition.render(total)
        #expect(text.contains("\nfanout_trace_spans_exported_total 7\n"))
        #expect(text.contains("\nfanout_trace_spans_dropped_total 1\n"))
        #expect(text.contains("\nfanout_trace_export_failures_total 1\n"))
        #expect(text.contains("# TYPE fanout_trace_spans_dropped_total counter\n"))
    }
}
