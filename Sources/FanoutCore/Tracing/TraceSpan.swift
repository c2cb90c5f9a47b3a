/// One finished span, as OTLP carries it: fanout's server span for a request, or a client span for one
/// upstream call (see ``RequestSpans``).
public struct TraceSpan: Sendable, Equatable {
    /// OTLP `SpanKind` values fanout uses.
    public enum Kind: UInt64, Sendable {
        case server = 2
        case client = 3
    }

    /// An attribute value: the `AnyValue` kinds fanout sets.
    public enum Value: Sendable, Equatable {
        case string(String)
        case int(Int64)
        case bool(Bool)
    }

    public struct Attribute: Sendable, Equatable {
        public var key: String
        public var value: Value
        public init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var spanID: UInt64
    /// The parent span; nil for a root span (a request that came without a `traceparent`).
    public var parentSpanID: UInt64?
    /// The client's `tracestate`, when it was kept.
    public var traceState: String?
    public var name: String
    public var kind: Kind
    public var startUnixNano: UInt64
    public var endUnixNano: UInt64
    public var attributes: [Attribute]
    /// OTLP status `ERROR` (a 5xx answer, a failed call); otherwise the status is left unset.
    public var isError: Bool

    public init(
        traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, parentSpanID: UInt64?, traceState: String? = nil,
        name: String, kind: Kind, startUnixNano: UInt64, endUnixNano: UInt64, attributes: [Attribute] = [],
        isError: Bool = false
    ) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.name = name
        self.kind = kind
        self.startUnixNano = startUnixNano
        self.endUnixNano = endUnixNano
        self.attributes = attributes
        self.isError = isError
    }
}
