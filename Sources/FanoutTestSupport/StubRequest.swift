/// One request as an ``UpstreamStub`` received it.
public struct StubRequest: Sendable {
    /// The method token, for example `"GET"`.
    public var method: String
    /// The request target exactly as sent, query included (`"/orders?limit=5"`).
    public var target: String
    /// The target without its query; the key used for route lookup (`"/orders"`).
    public var path: String
    /// The protocol version from the request line, for example `"HTTP/1.1"`.
    public var version: String
    /// Header fields in wire order, names as sent.
    public var headers: [(String, String)]
    /// The body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    public var body: [UInt8]
    /// Which connection carried it: 1 for the first the stub accepted, 2 for the second, …
    public var connection: Int = 0

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        HTTPWire.value(of: name, in: self.headers)
    }

    /// The body decoded as UTF-8 (invalid bytes become U+FFFD).
    public var bodyText: String {
        HTTPWire.text(self.body)
    }

    /// Splits a request target into its path: drops `?query` and `#fragment`, and reduces an absolute-form
    /// target (`http://host:port/path`) to its path.
    static func path(of target: String) -> String {
        var rest = Substring(target)
        if let schemeEnd = rest.range(of: "://") {
            let afterScheme = rest[schemeEnd.upperBound...]
            rest = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            rest = rest[..<cut]
        }
        return String(rest)
    }
}
