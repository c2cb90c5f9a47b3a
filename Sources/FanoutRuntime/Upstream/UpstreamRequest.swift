import FanoutCore

/// One call to an upstream, fully built: the HTTP message, how the call is admitted, limited and repeated,
/// and the hooks of a streamed transfer. Built in one place per kind of call (``compositeCall(_:method:pathAndQuery:fixedURL:headers:body:timeoutMs:hedgeDelayMs:retries:deadline:maxResponseBytes:captureHeaders:)``,
/// ``proxyCall(_:method:pathAndQuery:fixedURL:headers:body:hooks:timeoutMs:deadline:maxResponseBytes:)``,
/// ``tokenRequest(_:upstreamName:tokenSlot:connectTimeoutMs:now:)``, ``traceExport(_:body:now:maxResponseBytes:)``).
struct UpstreamRequest {
    var message: UpstreamMessage
    var policy: CallPolicy
    var hooks = StreamingHooks()
}

/// What goes on the wire: method, URL, header lines and body.
struct UpstreamMessage {
    var method: String
    /// Absolute URL; its scheme, host and port come from configuration only.
    var url: String
    /// `url` comes from configuration alone (a template without placeholders): its ``FixedURL/number``, by
    /// which the client keeps it prebuilt for libcurl (CURLOPT_CURLU) instead of having it parsed on every
    /// transfer. nil: built for this call. One number always stands for one URL (``FixedURLNumbers``).
    var fixedURLNumber: Int? = nil
    /// `Name: value` lines. Every value was checked for CR, LF and NUL before it got here.
    var headers: [String]
    /// The whole body of a buffered request; a streamed one has ``StreamingHooks/bodySource`` instead.
    var body: [UInt8]?
}

/// How a call is admitted, limited and repeated.
struct CallPolicy {
    /// The upstream's configured name, for the counters (`fanout_upstream_connections_*` and the rest).
    var upstreamName: String
    /// The admission-control bucket: ``ResolvedUpstream/slot`` of the configuration the request was dispatched
    /// with.
    var slot: AdmissionSlot
    var connectTimeoutMs: Int
    /// This call's own limit; the transfer also never outlives `deadline`.
    var timeoutMs: Int
    /// Monotonic nanoseconds after which the call counts as timed out, queue time included.
    var deadline: UInt64
    var maxResponseBytes: Int
    /// Keep every response header (plain proxy routes, as the lines they pass back: ``ProxiedHeaderLines``; a
    /// composite call's `pass`, as Strings); other calls only need Content-Type.
    var captureHeaders: Bool
    /// A non-idempotent request (POST, PATCH…): sent on a new connection, so libcurl never resends it.
    var mustNotRepeat: Bool
    /// Redirects libcurl may follow (`follow_redirects`); 0 returns a 3xx as the answer.
    var maxRedirects = 0
    /// CURLOPT_ACCEPT_ENCODING: the `Accept-Encoding` libcurl sends and decodes (composite calls, see
    /// ``ResolvedUpstream/acceptEncoding``). nil: no coding asked for and none decoded (proxy routes pass the
    /// client's `Accept-Encoding` and the encoded answer through).
    var acceptEncoding: String? = nil
    /// Composite calls (see ``CallAttempts``): the delay after which a second copy is sent (nil: no hedge),
    /// the extra attempts after a retryable failure, and the upstream's `retry_budget`.
    var hedgeDelayMs: Int? = nil
    var retries = 0
    var retryBudgetPercent = 20
    /// Composite calls: how long the call, once sent, may run on unseen after its caller let it go
    /// (``UpstreamCalls/release(_:)``, the upstream's `abort_grace`); 0: a release cancels it.
    var abortGraceMs = 0
    /// TLS checks, client certificate, `connect_to` and HTTP/2 of the upstream (``ResolvedUpstream/transport``).
    var transport = TransportOptions.defaults
    /// Composite calls (see ``CallCache``, ``CallCoalescer``): what makes the call identical to others (``CallKey``; nil: it
    /// is neither merged nor cached), whether it may share a transfer with them (the upstream's `coalesce`),
    /// and its cache policy (`cache=`).
    var key: String? = nil
    var coalesce = false
    var cache: CachePolicy? = nil
}

/// A streamed transfer's ends (plain proxy routes); both nil for a buffered one.
struct StreamingHooks {
    /// The request body, read from the client as it is sent.
    var bodySource: BodyPipe? = nil
    /// Receives the answer as it arrives instead of `UpstreamResponse.body`. Its transfer has no total timeout
    /// (see `CurlTransfer.prepare`).
    var receiver: (any UpstreamReceiver)? = nil
}

extension UpstreamRequest {
    /// A composite route's call to `upstream`: the call's own `timeout`, `hedge` and `retries` when set
    /// (nil: the upstream's), the upstream's limits, redirects, `Accept-Encoding` and transport.
    /// `fixedURL`: the call's URL when the configuration decides it (`pathAndQuery` is then not used).
    static func compositeCall(
        _ upstream: ResolvedUpstream, method: String, pathAndQuery: String, fixedURL: FixedURL?, headers: [String],
        body: [UInt8]?, timeoutMs: Int?, hedgeDelayMs: Int?, retries: Int?, deadline: UInt64, maxResponseBytes: Int,
        captureHeaders: Bool
    ) -> UpstreamRequest {
        let config = upstream.config
        return UpstreamRequest(
            message: UpstreamMessage(
                method: method, url: fixedURL?.url ?? upstream.url(pathAndQuery), fixedURLNumber: fixedURL?.number,
                headers: headers, body: body),
            policy: CallPolicy(
                upstreamName: config.name, slot: upstream.slot, connectTimeoutMs: config.connectTimeoutMs,
                timeoutMs: timeoutMs ?? config.timeoutMs, deadline: deadline, maxResponseBytes: maxResponseBytes,
                captureHeaders: captureHeaders, mustNotRepeat: !HTTPMethod.isIdempotent(method),
                maxRedirects: config.followRedirects, acceptEncoding: upstream.acceptEncoding,
                hedgeDelayMs: hedgeDelayMs ?? config.hedgeDelayMs, retries: retries ?? config.retries,
                retryBudgetPercent: config.retryBudgetPercent, abortGraceMs: config.abortGraceMs,
                transport: upstream.transport))
    }

    /// A proxy route's call to `upstream`: the client's method, every response header kept, the client's
    /// `Accept-Encoding` passed through (none asked of libcurl), no hedge nor retry.
    /// `fixedURL`: the route's URL when the configuration decides it (`pathAndQuery` is then not used).
    static func proxyCall(
        _ upstream: ResolvedUpstream, method: String, pathAndQuery: String, fixedURL: FixedURL?, headers: [String],
        body: [UInt8]?, hooks: StreamingHooks, timeoutMs: Int, deadline: UInt64, maxResponseBytes: Int
    ) -> UpstreamRequest {
        let config = upstream.config
        return UpstreamRequest(
            message: UpstreamMessage(
                method: method, url: fixedURL?.url ?? upstream.url(pathAndQuery), fixedURLNumber: fixedURL?.number,
                headers: headers, body: body),
            policy: CallPolicy(
                upstreamName: config.name, slot: upstream.slot, connectTimeoutMs: config.connectTimeoutMs,
                timeoutMs: timeoutMs, deadline: deadline, maxResponseBytes: maxResponseBytes, captureHeaders: true,
                mustNotRepeat: !HTTPMethod.isIdempotent(method), maxRedirects: config.followRedirects,
                transport: upstream.transport),
            hooks: hooks)
    }

    /// An `oauth2` token request (``OAuth2TokenRequest``): a form POST to `token_url` in the token endpoint's
    /// own slot, never repeated, within the token `timeout` from `now`.
    static func tokenRequest(
        _ settings: OAuth2Settings, upstreamName: String, tokenSlot: AdmissionSlot, connectTimeoutMs: Int,
        now: UInt64
    ) -> UpstreamRequest {
        let timeoutMs = settings.timeoutMs
        return UpstreamRequest(
            message: UpstreamMessage(
                method: "POST", url: settings.tokenURL, headers: OAuth2TokenRequest.headerLines(settings),
                body: OAuth2TokenRequest.formBody(settings)),
            policy: CallPolicy(
                upstreamName: ResolvedUpstream.tokenRequestName(upstreamName), slot: tokenSlot,
                connectTimeoutMs: min(connectTimeoutMs, timeoutMs), timeoutMs: timeoutMs,
                deadline: now &+ UInt64(timeoutMs) &* 1_000_000, maxResponseBytes: OAuth2Settings.maxResponseBytes,
                captureHeaders: false, mustNotRepeat: true))
    }

    /// An OTLP export of the `tracing` block: a POST of `body` to its URL in its own slot, within its
    /// `timeout` from `now`.
    static func traceExport(_ settings: RuntimeTracing, body: [UInt8], now: UInt64, maxResponseBytes: Int)
        -> UpstreamRequest
    {
        let config = settings.config
        return UpstreamRequest(
            message: UpstreamMessage(method: "POST", url: config.url, headers: settings.headerLines, body: body),
            policy: CallPolicy(
                upstreamName: RuntimeTracing.upstreamName, slot: settings.slot, connectTimeoutMs: config.timeoutMs,
                timeoutMs: config.timeoutMs, deadline: now &+ UInt64(config.timeoutMs) &* 1_000_000,
                maxResponseBytes: maxResponseBytes, captureHeaders: false, mustNotRepeat: false))
    }
}

/// Receives a streamed answer. `upstreamHead` and `upstreamBody` come from inside libcurl's write callback: they
/// must not call libcurl (start, cancel or resume a transfer) or close what owns the transfer; defer such work to
/// the loop.
protocol UpstreamReceiver: AnyObject {
    /// The final answer's status and the header lines it passes back (the hop-by-hop and framing fields left
    /// out), just before its first body byte. An answer without body bytes arrives whole in the completion
    /// instead.
    /// `declaredLength`: the partner's `Content-Length` when fanout may declare it to a client
    /// (``PartnerFraming/declaredLength(decodedByLibcurl:)``); nil when fanout must frame the body itself.
    func upstreamHead(status: Int, lines: ProxiedHeaderLines, declaredLength: Int?)
    /// Body bytes; false when they cannot be taken now: the transfer pauses, and the same bytes come again
    /// after `UpstreamClient.resume(_:receiving:)`.
    func upstreamBody(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// libcurl reported the answer whole and clean (no body byte past its `Content-Length`), just before the
    /// transfer's completion runs: the answer may be delivered now. Not from a libcurl callback; the completion
    /// still follows, and only it ends the exchange.
    func upstreamArrived()
}

/// A complete upstream answer.
struct UpstreamResponse {
    var status: Int
    var contentType: String?
    /// Every response header when the request asked for them and did not stream its answer, else empty.
    var headers: [(String, String)]
    var body: [UInt8]
    /// The answer's caching headers, always captured (for the call cache).
    var cacheHeaders = CacheHeaders()
    /// The HTTP version the answer came with (CURLINFO_HTTP_VERSION): `1.0`, `1.1`, `2`; nil if unknown.
    var httpVersion: String? = nil
    /// The partner's `Content-Length` when fanout may declare it to a client (see ``PartnerFraming``): a HEAD
    /// answer passes it on.
    var declaredLength: Int? = nil
    /// A streamed answer's header lines, without the hop-by-hop and framing fields (a plain proxy route's).
    var passedLines = ProxiedHeaderLines()
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

extension UpstreamResult {
    /// The answer, when the call got one.
    var answer: UpstreamResponse? {
        if case .success(let response) = outcome { return response }
        return nil
    }

    /// The failure of a call that got no answer (`answer` is nil). Not inlined: a failure's payload bound where
    /// the answer is read too made the optimizer copy the whole result first (``CompositeExchange``, callgrind).
    var failure: CallFailure {
        @inline(never) get {
            guard case .failure(let failure) = outcome else { preconditionFailure("the call got an answer") }
            return failure
        }
    }
}

extension CallFailure: Error {}
