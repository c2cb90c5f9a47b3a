/// The connection options of one upstream as `CurlTransfer` applies them: its ``UpstreamTransport`` with
/// the libcurl strings built once per configuration (``ResolvedUpstream/transport``), not per call.
public struct TransportOptions: Sendable, Equatable {
    /// CURLOPT_SSL_VERIFYPEER and CURLOPT_SSL_VERIFYHOST (`tls_verify`).
    public var verifyPeer = true
    /// CURLOPT_CAINFO (`tls_ca`); nil: libcurl's built-in bundle and directory (the system store).
    public var caFile: String?
    /// CURLOPT_SSLCERT and CURLOPT_SSLKEY (`tls_cert`, `tls_key`).
    public var clientCertificate: String?
    public var clientKey: String?
    /// The CURLOPT_CONNECT_TO entry `urlhost:urlport:host:port` (`connect_to`).
    public var connectTo: String?
    /// `http2 on`: CURLOPT_HTTP_VERSION 2TLS (ALPN) over https, 2_PRIOR_KNOWLEDGE (h2c) over http, and
    /// CURLOPT_PIPEWAIT.
    public var http2 = false
    /// The upstream's URL is http:// (what `http2 on` means there: h2c, libcurl 8 only).
    public var cleartext = false

    public init() {}

    public init(_ upstream: UpstreamConfig) {
        let transport = upstream.transport
        self.verifyPeer = transport.verifyPeer
        self.caFile = transport.caFile?.path
        self.clientCertificate = transport.clientCertificate?.path
        self.clientKey = transport.clientKey?.path
        if let target = transport.connectTo {
            let origin = upstream.origin
            self.connectTo = "\(origin.host):\(origin.port):\(target.host):\(target.port)"
        }
        self.http2 = transport.http2
        self.cleartext = upstream.origin.scheme == "http"
    }
}
