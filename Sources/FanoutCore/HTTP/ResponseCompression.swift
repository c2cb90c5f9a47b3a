/// The top-level `gzip`, `gzip_min_length` and `gzip_level` settings: gzip for the answers fanout builds
/// itself (composite routes). Proxy routes pass the partner's encoding through untouched.
public struct GzipSettings: Sendable, Equatable {
    /// `gzip on|off`. Default off: next to its clients (a sidecar, a loopback or LAN hop) compressing costs
    /// CPU and saves nothing; nginx's default is off too.
    public var enabled = false
    /// `gzip_min_length SIZE`: smaller bodies go out unencoded (the gzip wrapper alone is 18 bytes, and a
    /// small answer fits one packet anyway). Default 1 KiB.
    public var minLength = 1024
    /// `gzip_level 1-9`: zlib's level. Default 1, the fastest (see docs/contributing/benchmarks.md, "Gzip for
    /// clients").
    public var level = 1

    public init() {}
}

/// Whether an answer fanout built is sent gzip-encoded, decided from the settings, the answer and the
/// client's `Accept-Encoding`. The encoding itself happens in the runtime.
public enum ResponseCompression: Equatable, Sendable {
    /// `gzip off`: the answer goes out as it is, without `Vary`.
    case off
    /// The answer goes out as it is, with `Vary: Accept-Encoding` (another client may get it gzipped).
    case identity
    /// The answer is gzip-encoded: `Content-Encoding: gzip`, `Vary: Accept-Encoding`.
    case gzip

    /// The decision for an answer with `status` and `bodyCount` body bytes (as if it were a GET: a HEAD
    /// answer gets the same headers). No gzip for statuses without a body (204, 304) or bodies under
    /// `minLength`.
    public static func decide(
        _ settings: GzipSettings, status: Int, bodyCount: Int, acceptEncoding: [String]
    ) -> ResponseCompression {
        guard settings.enabled else { return .off }
        guard HTTPResponse.allowsBody(status), bodyCount >= settings.minLength,
            AcceptEncoding.prefersGzip(acceptEncoding)
        else { return .identity }
        return .gzip
    }
}
