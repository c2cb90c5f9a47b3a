import FanoutCore

extension ClientConnection {
    /// Gzip-encodes `response` when `settings` and the request's `Accept-Encoding` allow it (see
    /// ``ResponseCompression``), adding `Content-Encoding` and `Vary`; adds only `Vary` when the answer goes
    /// out unencoded but another client could get it gzipped. The body is encoded for a HEAD request too, so
    /// its Content-Length is the one a GET would get.
    static func negotiateGzip(
        _ response: inout HTTPResponse, settings: GzipSettings, acceptEncoding: [String], worker: Worker
    ) {
        let decision = ResponseCompression.decide(
            settings, status: response.status, bodyCount: response.body.count, acceptEncoding: acceptEncoding)
        guard decision != .off else { return }
        response.headers.append(("Vary", "Accept-Encoding"))
        guard decision == .gzip, let encoded = worker.gzipEncoder(level: settings.level)?.encode(response.body)
        else { return }
        response.headers.append(("Content-Encoding", "gzip"))
        response.body = encoded
    }
}
