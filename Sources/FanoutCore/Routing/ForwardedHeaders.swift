/// Which client request headers never travel to an upstream: framing and hop-by-hop headers (RFC 9110
/// §7.6.1; libcurl frames the upstream request itself) and the ones fanout sets itself (forwarding, request id,
/// and the W3C trace headers, which carry a span id per call, see ``TraceContext``). One definition for
/// the config check (`forward_headers`) and for the runtime's forwarding.
public enum ForwardedHeaders {
    static let neverForwarded: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
        "expect", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
        "traceparent", "tracestate",
    ]

    /// True for a header that is never copied from the client; `lowercasedName` must be lowercase.
    public static func isNeverForwarded(_ lowercasedName: String) -> Bool {
        neverForwarded.contains(lowercasedName) || lowercasedName.hasPrefix("proxy-")
    }
}
