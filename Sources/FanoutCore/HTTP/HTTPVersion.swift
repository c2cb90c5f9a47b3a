/// The HTTP versions fanout speaks on the client side. Any other `HTTP/d.d` is `.unsupportedVersion` (505).
///
/// The case names keep the wire spelling's digits apart (`http1_0`, as swift-nio's `HTTPVersion.http1_1`):
/// `http10` would read as "HTTP 10".
public enum HTTPVersion: Sendable, Equatable {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    case http1_0
    // swift-format-ignore: AlwaysUseLowerCamelCase
    case http1_1
}

extension HTTPVersion: CustomStringConvertible {
    /// `HTTP/1.0` or `HTTP/1.1`, as written on the wire.
    public var description: String {
        switch self {
        case .http1_0: return "HTTP/1.0"
        case .http1_1: return "HTTP/1.1"
        }
    }
}
