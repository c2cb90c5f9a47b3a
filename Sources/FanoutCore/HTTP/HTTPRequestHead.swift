/// The request line and header fields of one request, with the facts the server needs already derived.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method as sent (a token, case-sensitive), e.g. `GET`. Routing decides 405/501.
    public var method: String
    /// The raw request-target: origin-form `/a/b?x=1`, absolute-form `http://h/p`, authority-form `h:443`
    /// (CONNECT only) or `*` (OPTIONS only). Never percent-decoded.
    public var target: String
    public var version: HTTPVersion
    /// All header fields in arrival order, framing fields included.
    public var headers: HTTPHeaders
    /// Whether the connection may carry another request after this one. HTTP/1.1: true unless `Connection` has
    /// the token `close`; HTTP/1.0: false unless it has `keep-alive` (and not `close`).
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    public var expectsContinue: Bool
    /// The host the request is for: the authority (`host[:port]`, userinfo dropped) of an absolute-form target,
    /// else the single Host value (valid `uri-host [":" port]` syntax, possibly empty). nil only for an HTTP/1.0
    /// request without Host; on HTTP/1.1 a missing Host is `.missingHost` (RFC 9112 §3.2).
    public var host: String?
    /// A request to leave HTTP on this connection: an HTTP/1.1 request with an `Upgrade` field and the `upgrade`
    /// token in `Connection`, or a CONNECT (any version; RFC 9110 §9.3.6). fanout never switches protocols or
    /// tunnels; the bytes after such a request may belong to another protocol (a client may send tunnel data
    /// ahead of the answer), so the server must not parse them as HTTP: it answers this request, then closes,
    /// as llhttp stops there.
    public var requestsUpgrade: Bool

    public init(
        method: String,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        keepAlive: Bool = true,
        expectsContinue: Bool = false,
        host: String? = nil,
        requestsUpgrade: Bool = false
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.host = host
        self.requestsUpgrade = requestsUpgrade
    }
}
