/// The connection options of one upstream as `CurlTransfer` applies them: its ``UpstreamTransport`` with
/// the libcurl strings built once per configuration (``ResolvedUpstream/transport``), not per call.
///
/// Immutable, and a class: every call to the upstream carries the same instance, so a call's copy of it is one
/// retain (a struct of four Strings cost eight reference counts per copy, four copies per call), and a handle
/// that applied it last time sees that at once by identity.
public final class TransportOptions: Sendable, Equatable {
    /// CURLOPT_SSL_VERIFYPEER and CURLOPT_SSL_VERIFYHOST (`tls_verify`).
    public let verifyPeer: Bool
    /// CURLOPT_CAINFO (`tls_ca`); nil: libcurl's built-in bundle and directory (the system store).
    public let caFile: String?
    /// CURLOPT_SSLCERT and CURLOPT_SSLKEY (`tls_cert`, `tls_key`).
    public let clientCertificate: String?
    public let clientKey: String?
    /// The CURLOPT_CONNECT_TO entry `urlhost:urlport:host:port` (`connect_to`).
    public let connectTo: String?
    /// `http2 on`: CURLOPT_HTTP_VERSION 2TLS (ALPN) over https, 2_PRIOR_KNOWLEDGE (h2c) over http, and
    /// CURLOPT_PIPEWAIT.
    public let http2: Bool
    /// The upstream's URL is http:// (what `http2 on` means there: h2c, libcurl 8 only).
    public let cleartext: Bool

    /// libcurl's defaults: peer verified, the system store, no client certificate, no `connect_to`, HTTP/1.1.
    public static let defaults = TransportOptions()

    public init() {
        verifyPeer = true
        caFile = nil
        clientCertificate = nil
        clientKey = nil
        connectTo = nil
        http2 = false
        cleartext = false
    }

    public init(_ upstream: UpstreamConfig) {
        let transport = upstream.transport
        self.verifyPeer = transport.verifyPeer
        self.caFile = transport.caFile?.path
        self.clientCertificate = transport.clientCertificate?.path
        self.clientKey = transport.clientKey?.path
        if let target = transport.connectTo {
            let origin = upstream.origin
            self.connectTo = "\(origin.host):\(origin.port):\(target.host):\(target.port)"
        } else {
            self.connectTo = nil
        }
        self.http2 = transport.http2
        self.cleartext = upstream.origin.scheme == "http"
    }

    /// The same options: the same instance (every call of one upstream and configuration), or equal fields.
    public static func == (lhs: TransportOptions, rhs: TransportOptions) -> Bool {
        lhs === rhs
            || (lhs.verifyPeer == rhs.verifyPeer && lhs.caFile == rhs.caFile
                && lhs.clientCertificate == rhs.clientCertificate && lhs.clientKey == rhs.clientKey
                && lhs.connectTo == rhs.connectTo && lhs.http2 == rhs.http2 && lhs.cleartext == rhs.cleartext)
    }
}
