/// `context_headers NAME… | off`: which of the headers fanout sets itself an upstream's calls carry. Resolved
/// once per configuration on ``ResolvedUpstream``, so a call tests a bit, not a name.
///
/// The client's own headers of these names are never passed on, whatever the set (``ForwardedHeaders``).
public struct ContextHeaders: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `X-Forwarded-For`: the client's chain plus the peer's address.
    public static let forwardedFor = ContextHeaders(rawValue: 1 << 0)
    /// `X-Forwarded-Proto: http`.
    public static let forwardedProto = ContextHeaders(rawValue: 1 << 1)
    /// `X-Forwarded-Host`: the client's `Host`.
    public static let forwardedHost = ContextHeaders(rawValue: 1 << 2)
    /// `X-Request-Id`: the request's id.
    public static let requestID = ContextHeaders(rawValue: 1 << 3)
    /// `traceparent`, and `tracestate` when the client sent one that was kept.
    public static let traceparent = ContextHeaders(rawValue: 1 << 4)

    /// The default: every one of them.
    public static let all: ContextHeaders = [.forwardedFor, .forwardedProto, .forwardedHost, .requestID, .traceparent]

    /// The names `context_headers` accepts, as the reference spells them, with their members (matched
    /// case-insensitively).
    public static let names: [(name: String, member: ContextHeaders)] = [
        ("X-Forwarded-For", .forwardedFor),
        ("X-Forwarded-Proto", .forwardedProto),
        ("X-Forwarded-Host", .forwardedHost),
        ("X-Request-Id", .requestID),
        ("traceparent", .traceparent),
    ]

    /// The member named `name` (any case), nil for another name.
    public static func member(named name: String) -> ContextHeaders? {
        let lower = name.lowercased()
        return names.first { $0.name.lowercased() == lower }?.member
    }
}
