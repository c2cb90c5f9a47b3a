/// The `tracing` block: OTLP/HTTP trace export (``FanoutConfig/tracing``; nil when the block is absent, and
/// then tracing costs nothing).
public struct TracingConfig: Sendable, Equatable {
    /// `otlp_endpoint`: the receiver's origin and path (the whole URL is POSTed to; an empty path becomes
    /// `/v1/traces`, OTLP/HTTP's default).
    public var endpoint: UpstreamOrigin
    /// `sample`: the share of traces fanout starts that are sampled (0...1). A continued trace keeps its
    /// caller's sampled flag.
    public var sampleRatio: Double = 1
    /// `service_name`: the resource's `service.name`.
    public var serviceName = "fanout"
    /// `batch`: most spans in one export request.
    public var batchSize = 512
    /// `flush`: the longest a span waits before its batch is sent, in milliseconds.
    public var flushMs = 5_000
    /// `queue`: most spans waiting for export, over all workers (each worker holds its share).
    public var queueSize = 2_048
    /// `timeout`: the longest one export request may take, in milliseconds.
    public var timeoutMs = 10_000
    /// `header`: extra request headers (an API key for a hosted collector).
    public var headers: [HeaderField] = []

    public init(endpoint: UpstreamOrigin) {
        self.endpoint = endpoint
    }

    /// The URL export requests go to.
    public var url: String {
        let defaultPort: UInt16 = endpoint.scheme == "https" ? 443 : 80
        let port = endpoint.port == defaultPort ? "" : ":\(endpoint.port)"
        let path = endpoint.basePath.isEmpty ? "/v1/traces" : endpoint.basePath
        return "\(endpoint.scheme)://\(endpoint.host)\(port)\(path)"
    }
}
