import FanoutCore

/// One HTTP request to an upstream, fully built: URL rendered from a template, header lines validated.
struct UpstreamRequest {
    /// The upstream's configured name, for the connection counters (`fanout_upstream_connections_*`).
    var upstreamName: String
    var method: String
    /// Absolute URL; its scheme, host and port come from configuration only.
    var url: String
    /// `url` comes from configuration alone (a template without placeholders): the client keeps it prebuilt
    /// for libcurl (CURLOPT_CURLU) instead of having it parsed on every transfer.
    var fixedURL: Bool = false
    /// `Name: value` lines. Every value was checked for CR, LF and NUL before it got here.
    var headers: [String]
    var body: [UInt8]?
    /// The admission-control bucket: `RuntimeConfig.admissionSlots[upstream index]` of the configuration
    /// the request was dispatched with.
    var slot: AdmissionSlot
    var connectTimeoutMs: Int
    /// This call's own limit; the transfer also never outlives `deadline`.
    var timeoutMs: Int
    /// Monotonic nanoseconds after which the call counts as timed out, queue time included.
    var deadline: UInt64
    var maxResponseBytes: Int
    /// Keep every response header (plain proxy routes); composite calls only need Content-Type.
    var captureHeaders: Bool
    /// A non-idempotent request (POST, PATCH…): sent on a new connection, so libcurl never resends it.
    var mustNotRepeat: Bool = false
    /// Streamed transfers (plain proxy routes): the request body, read from the client as it is sent.
    var bodySource: BodyPipe? = nil
    /// Streamed transfers: receives the answer as it arrives instead of `UpstreamResponse.body`. Its
    /// transfer has no total timeout (see `CurlTransfer.prepare`).
    var receiver: (any UpstreamReceiver)? = nil
    /// Redirects libcurl may follow (`follow_redirects`); 0 returns a 3xx as the answer.
    var maxRedirects: Int = 0
    /// CURLOPT_ACCEPT_ENCODING: the `Accept-Encoding` libcurl sends and decodes (composite calls, see
    /// `RuntimeConfig.upstreamAcceptEncodings`). nil: no coding asked for and none decoded (proxy routes pass
    /// the client's `Accept-Encoding` and the encoded answer through).
    var acceptEncoding: String? = nil
    /// Composite calls (see ``CallAttempts``): the delay after which a second copy is sent (nil: no hedge),
    /// the extra attempts after a retryable failure, and the upstream's `retry_budget`.
    var hedgeDelayMs: Int? = nil
    var retries: Int = 0
    var retryBudgetPercent: Int = 20
    /// TLS checks, client certificate, `connect_to` and HTTP/2 of the upstream
    /// (`RuntimeConfig.upstreamTransports[upstream index]`).
    var transport = TransportOptions()
}

/// Receives a streamed answer. Both calls come from inside libcurl's write callback: they must not call
/// libcurl (start, cancel or resume a transfer) or close what owns the transfer; defer such work to the loop.
protocol UpstreamReceiver: AnyObject {
    /// The final answer's status and headers, just before its first body byte. An answer without body bytes
    /// arrives whole in the completion instead.
    /// `declaredLength`: the partner's `Content-Length` when fanout may declare it to a client
    /// (``PartnerFraming/declaredLength(decodedByLibcurl:)``); nil when fanout must frame the body itself.
    func upstreamHead(status: Int, headers: [(String, String)], declaredLength: Int?)
    /// Body bytes; false when they cannot be taken now: the transfer pauses, and the same bytes come again
    /// after `UpstreamClient.resume(_:receiving:)`.
    func upstreamBody(_ bytes: UnsafeRawBufferPointer) -> Bool
}

/// A complete upstream answer.
struct UpstreamResponse {
    var status: Int
    var contentType: String?
    /// Every response header when the request asked for them, else empty.
    var headers: [(String, String)]
    var body: [UInt8]
    /// The answer's caching headers, always captured (for the call cache).
    var cacheHeaders = CacheHeaders()
    /// The HTTP version the answer came with (CURLINFO_HTTP_VERSION): `1.0`, `1.1`, `2`; nil if unknown.
    var httpVersion: String? = nil
    /// The partner's `Content-Length` when fanout may declare it to a client (see ``PartnerFraming``): a HEAD
    /// answer passes it on.
    var declaredLength: Int? = nil
}

/// What an upstream call came to, and how long it took (queue time included).
struct UpstreamResult {
    var outcome: Result<UpstreamResponse, CallFailure>
    var elapsedMs: Double
    /// Attempts the outcome took (``CallAttempts``: retries and a hedge add to it), and whether the hedge's
    /// answer won.
    var attempts = 1
    var hedgeWon = false
    /// How the call cache answered a call with a ``CachePolicy`` (nil for a call without one).
    var cache: CacheUse? = nil
    /// For a call with a ``CachePolicy``: how long its answer stays fresh for that policy from now
    /// (`cache_control derived`); nil for a call without one.
    var freshness: CallFreshness? = nil
}

extension CallFailure: Error {}
