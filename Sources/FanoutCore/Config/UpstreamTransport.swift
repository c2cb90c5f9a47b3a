/// How fanout connects to one upstream: the TLS checks, a client certificate, a fixed address to connect to,
/// and HTTP/2. Set by `tls_verify`, `tls_ca`, `tls_cert`, `tls_key`, `connect_to` and `http2` in an
/// `upstream NAME { … }` block; implicit upstreams (absolute URLs in routes) keep the defaults.
public struct UpstreamTransport: Sendable, Equatable {
    /// `tls_verify on|off`: check the partner's certificate chain and that it names the URL's host. Default on
    /// (nginx's `proxy_ssl_verify` defaults to off; fanout's does not). Off is logged as a warning at start.
    public var verifyPeer: Bool = true
    /// `tls_ca FILE`: the PEM bundle of CA certificates this upstream's certificate must chain to, instead of
    /// the system store. Default nil: the system store.
    public var caFile: ConfigFileReference?
    /// `tls_cert FILE`: the PEM client certificate sent when the partner asks for one (mutual TLS). Set
    /// together with ``clientKey`` or not at all.
    public var clientCertificate: ConfigFileReference?
    /// `tls_key FILE`: the PEM private key of ``clientCertificate`` (unencrypted).
    public var clientKey: ConfigFileReference?
    /// `connect_to HOST:PORT`: the address the connection goes to. The URL's host still names the request
    /// (`Host`), the TLS server name (SNI) and the name the certificate must carry. Default nil: the URL's.
    public var connectTo: ConnectAddress?
    /// `http2 on|off`: HTTP/2 to this upstream, many calls multiplexed on one connection per worker. With an
    /// https URL it is offered with ALPN (a partner that declines gets HTTP/1.1); with an http URL it is spoken
    /// from the first byte (h2c with prior knowledge), which needs libcurl 8 (``LibcurlCapabilities``).
    /// Default off: HTTP/1.1.
    public var http2: Bool = false

    public init() {}

    /// The files the transport reads, in directive order (what `ConfigFile.load` checks are readable).
    public var files: [ConfigFileReference] {
        [self.caFile, self.clientCertificate, self.clientKey].compactMap { $0 }
    }
}

/// A file named by a directive: its path (a relative one already resolved against the directory of the
/// configuration file) and where the path was written, for errors found when the file is read.
public struct ConfigFileReference: Sendable, Equatable {
    public var path: String
    /// The directive that names the file (`tls_ca`).
    public var directive: String
    /// The position of the path argument.
    public var location: SourceLocation

    public init(path: String, directive: String, location: SourceLocation) {
        self.path = path
        self.directive = directive
        self.location = location
    }
}

/// `connect_to`'s `HOST:PORT`. `host` is a name, an IPv4 literal or an IPv6 literal in brackets.
public struct ConnectAddress: Sendable, Equatable {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
}

extension FanoutConfig {
    /// What an operator should hear about at start, on reload and from `fanout check`, though the configuration
    /// is valid: the parser's warnings (``parseWarnings``), then one line per upstream with `tls_verify off`.
    public var warnings: [String] {
        self.parseWarnings.map(\.description)
            + self.upstreams.compactMap { upstream in
                guard !upstream.transport.verifyPeer else { return nil }
                let place = upstream.location.map { "\($0): " } ?? ""
                return "\(place)warning: upstream \(upstream.name) has tls_verify off: its certificate is not checked, "
                    + "so anyone on the path can pose as the partner"
            }
    }
}
