/// Encodes spans as an OTLP `ExportTraceServiceRequest` (opentelemetry-proto, `collector/trace/v1`): one
/// `ResourceSpans` whose resource names the service, one `ScopeSpans` for fanout, the spans in order.
///
/// Field numbers (trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto):
/// ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, .scope_spans = 2;
/// Resource.attributes = 1; ScopeSpans.scope = 1, .spans = 2; InstrumentationScope.name = 1, .version = 2;
/// Span.trace_id = 1, .span_id = 2, .trace_state = 3, .parent_span_id = 4, .name = 5, .kind = 6,
/// .start_time_unix_nano = 7 (fixed64), .end_time_unix_nano = 8 (fixed64), .attributes = 9, .status = 15;
/// Status.code = 3 (ERROR = 2); KeyValue.key = 1, .value = 2; AnyValue.string_value = 1, .bool_value = 2,
/// .int_value = 3.
public enum OTLPTraceEncoder {
    /// The instrumentation scope's name.
    public static let scopeName = "fanout"

    public static func exportRequest(_ spans: [TraceSpan], serviceName: String) -> [UInt8] {
        var request = ProtobufWriter(capacity: 64 + spans.count * 200)
        request.messageField(1) { resourceSpans in
            resourceSpans.messageField(1) { resource in
                attribute(&resource, field: 1, TraceSpan.Attribute("service.name", .string(serviceName)))
            }
            resourceSpans.messageField(2) { scopeSpans in
                scopeSpans.messageField(1) { scope in scope.stringField(1, scopeName) }
                for span in spans {
                    scopeSpans.messageField(2) { encode(span, into: &$0) }
                }
            }
        }
        return request.bytes
    }

    static func encode(_ span: TraceSpan, into writer: inout ProtobufWriter) {
        writer.bytesField(1, bigEndian(span.traceIDHigh) + bigEndian(span.traceIDLow))
        writer.bytesField(2, bigEndian(span.spanID))
        if let state = span.traceState { writer.stringField(3, state) }
        if let parent = span.parentSpanID { writer.bytesField(4, bigEndian(parent)) }
        writer.stringField(5, span.name)
        writer.varintField(6, span.kind.rawValue)
        writer.fixed64Field(7, span.startUnixNano)
        writer.fixed64Field(8, span.endUnixNano)
        for item in span.attributes { attribute(&writer, field: 9, item) }
        if span.isError { writer.messageField(15) { $0.varintField(3, 2) } }
    }

    static func attribute(_ writer: inout ProtobufWriter, field: Int, _ attribute: TraceSpan.Attribute) {
        writer.messageField(field) { keyValue in
            keyValue.stringField(1, attribute.key)
            keyValue.messageField(2) { value in
                switch attribute.value {
                case .string(let string): value.stringField(1, string)
                case .bool(let bool): value.boolField(2, bool)
                case .int(let int): value.int64Field(3, int)
                }
            }
        }
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}
