/// The whole configuration, as parsed from `proxy.conf`. Built once, read-only afterwards, shared by
/// every worker.
public struct FanoutConfig: Sendable {
    /// Addresses to listen on (`listen`). Default: `127.0.0.1:8080`.
    public var listen: [ListenAddress]
    /// The admin listener serving `/metrics`, `/healthz` and `/readyz` (`admin_listen`). Default: nil (off).
    /// A bare port means `127.0.0.1:port`.
    public var adminListen: ListenAddress?
    /// Worker threads (`workers`). Default: `.auto`.
    public var workers: WorkerCount
    /// `busy_poll`: microseconds a worker polls for events without sleeping after a turn that had some. Default:
    /// 0 (off).
    public var busyPollMicroseconds = 0
    /// Client-side limits enforced while parsing.
    public var limits: ServerLimits
    /// Client-side timeouts.
    public var timeouts: ServerTimeouts
    /// Where the access log goes (`access_log`). Default: `.stdout`.
    public var accessLog: AccessLogTarget
    /// Request headers forwarded from the client to composite calls (`forward_headers`), lowercased.
    /// Default: `accept-language`, `user-agent`.
    public var forwardHeaders: [String]
    /// `gzip`, `gzip_min_length`, `gzip_level`: gzip for composite answers. Default off.
    public var gzip = GzipSettings()
    /// `abort_on_close`: a client FIN while its answer is pending cancels the request (logged 499). Off: the
    /// FIN is a half-close and the answer is still written. A reset always cancels. Default on.
    public var abortOnClose = true
    /// The `store` block: a Redis/Valkey server shared by every replica (second level of the call cache).
    /// nil (the default): no connection, no work.
    public var store: StoreSettings?
    /// The `tracing` block: OTLP trace export; nil when absent (no spans are built).
    public var tracing: TracingConfig? = nil
    /// Top-level `cors { … }`: the CORS policy of every route without its own `cors` line. Default nil: none.
    public var cors: CORSPolicy?
    /// Named upstreams, in file order, followed by one synthesized upstream per distinct origin used by an
    /// absolute URL in a `call` or `proxy` line (named after the origin, `isImplicit == true`).
    public var upstreams: [UpstreamConfig]
    /// Routes in file order. Matching prefers literal segments over parameters over catch-alls, then file order.
    public var routes: [RouteConfig]
    /// What the parser found valid but suspicious, in file order (a `${VAR}` set to the empty string); part of
    /// ``warnings``.
    public var parseWarnings: [ConfigWarning] = []

    public init(
        listen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 8080)],
        workers: WorkerCount = .auto,
        limits: ServerLimits = ServerLimits(),
        timeouts: ServerTimeouts = ServerTimeouts(),
        accessLog: AccessLogTarget = .stdout,
        forwardHeaders: [String] = ["accept-language", "user-agent"],
        upstreams: [UpstreamConfig] = [],
        routes: [RouteConfig] = [],
        adminListen: ListenAddress? = nil
    ) {
        self.listen = listen
        self.adminListen = adminListen
        self.workers = workers
        self.limits = limits
        self.timeouts = timeouts
        self.accessLog = accessLog
        self.forwardHeaders = forwardHeaders
        self.upstreams = upstreams
        self.routes = routes
    }
}

/// Where a piece of configuration was written: `file:line:column`, 1-based.
public struct SourceLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One `listen` address. `host` is an IPv4 or IPv6 literal (without brackets), or `*` for all IPv4 addresses.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
}

/// `workers N` or `workers auto` (as many as the CPUs the process may use, cgroup quota included).
public enum WorkerCount: Sendable, Equatable {
    case auto
    case fixed(Int)
}

/// `access_log stdout` or `access_log off`.
public enum AccessLogTarget: Sendable, Equatable {
    case stdout
    case off
}

/// Client-side size limits, enforced while parsing (never after).
public struct ServerLimits: Sendable, Equatable {
    /// `max_request_line`: longest request line in bytes; over it → 414. Default 8 KiB.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// `max_header_bytes`: all header lines together; over it → 431. Default 32 KiB.
    public var maxHeaderBytes: Int = 32 * 1024
    /// `max_headers`: number of header fields; over it → 431. Default 100.
    public var maxHeaderCount: Int = 100
    /// `max_body`: request body bytes (Content-Length or chunked total); over it → 413. Default 1 MiB.
    public var maxBodyBytes: Int = 1024 * 1024
    /// `keepalive_requests`: requests served on one connection before it is closed. Default 1000.
    public var keepaliveRequests: Int = 1000
    /// `max_client_connections`: open client connections across all workers; each worker gets an equal share,
    /// rounded up. A connection accepted beyond its worker's share is answered 503 at once and closed.
    /// Default 16384: above the 10,000 idle keep-alive clients one worker is benchmarked with, and ceil(16384/32)
    /// = 512 per worker on a 32-CPU `workers auto`, nginx's default `worker_connections`.
    public var maxClientConnections: Int = 16_384
    /// `max_response_body`: bytes buffered from one upstream answer; over it the call fails. Default 8 MiB.
    public var maxUpstreamBodyBytes: Int = 8 * 1024 * 1024
    /// `cache_size`: bytes of cached call answers each worker keeps (its own LRU). Default 16 MiB.
    public var cacheBytesPerWorker: Int = 16 * 1024 * 1024

    public init() {}
}

/// Client-side timeouts, in milliseconds.
public struct ServerTimeouts: Sendable, Equatable {
    /// `client_timeout`: time to receive a whole request (head and body) from its first byte; → 408 and close.
    /// Default 10 s.
    public var clientMs: Int = 10_000
    /// `keepalive_timeout`: idle time between requests on a connection; → silent close. Default 75 s.
    public var keepaliveMs: Int = 75_000
    /// `send_timeout`: time a response may wait for the client to take bytes; → close. Default 30 s.
    public var sendMs: Int = 30_000
    /// `shutdown_timeout`: on SIGTERM/SIGINT, time in-flight requests get to finish. Default 10 s.
    public var shutdownMs: Int = 10_000

    public init() {}
}

/// A header line set by configuration (`header Name value`). `value` has `${ENV}` already interpolated.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The scheme, host and port an upstream is reached at, plus an optional path prefix. Only these, taken
/// from configuration, are ever contacted.
public struct UpstreamOrigin: Sendable, Equatable, Hashable {
    /// `http` or `https`.
    public var scheme: String
    /// Host as written in a URL: a name, an IPv4 literal, or an IPv6 literal in brackets.
    public var host: String
    /// Explicit port, or the scheme's default (80/443).
    public var port: UInt16
    /// Path prefix without a trailing slash (`""` for none), already valid URL path syntax.
    public var basePath: String

    public init(scheme: String, host: String, port: UInt16, basePath: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// `scheme://host:port` followed by `basePath`: what a rendered path-and-query is appended to.
    public var urlPrefix: String { "\(scheme)://\(host):\(port)\(basePath)" }
}

/// One `upstream NAME { … }` block (or an implicit one for an absolute URL).
public struct UpstreamConfig: Sendable, Equatable {
    public var name: String
    public var origin: UpstreamOrigin
    /// `connect_timeout`. Default 2 s.
    public var connectTimeoutMs: Int = 2_000
    /// `timeout`: the whole call, connect to last byte. Default 10 s.
    public var timeoutMs: Int = 10_000
    /// `max_connections`: concurrent calls to this upstream across all workers (each worker gets its share,
    /// at least one); calls beyond it wait in a FIFO queue. Default 1024, Envoy's default cap: a cap of 64
    /// held a fan-out of 3 at 256 clients to 58 % of slow partners' throughput (docs/operations/tuning.md).
    /// Protecting a partner that cannot take that is explicit: a lower `max_connections`, `max_queue`,
    /// `rate`, `breaker`.
    public static let defaultMaxConnections = 1024
    public var maxConnections: Int = UpstreamConfig.defaultMaxConnections
    /// `max_queue N`: calls that may wait for a connection slot across all workers (each worker gets its
    /// share, rounded up; 0 stays 0: no waiting). A call beyond it fails at once (`overloaded`). Default nil:
    /// unbounded, a queued call waits until its deadline.
    public var maxQueue: Int?
    /// The largest `max_queue` value accepted.
    public static let maxQueueLimit = 1_000_000
    /// `breaker FAILURES COOLDOWN`: the per-worker circuit breaker (see ``CircuitBreaker``). Default nil: off.
    public var breaker: BreakerSettings?
    /// `rate N/s` (or `N/m`): calls started per second across all workers, each worker taking an equal share as
    /// a ``TokenBucket`` holding one second of its share (at least one call). Calls over the rate wait in the
    /// queue (within `max_queue`). Default nil: no limit.
    public var ratePerSecond: Double?
    /// `rate N/s shared [replicas=N]`: the rate holds across the fleet sharing the `store` (``SharedRate``).
    /// Default nil: each fanout keeps its own rate.
    public var sharedRate: SharedRate?
    /// `header Name value`: sent on every call to this upstream.
    public var headers: [HeaderField] = []
    /// `query NAME VALUE`: added to the query of every call to this upstream, encoded once (``UpstreamQuery``).
    public var query = UpstreamQuery()
    /// `follow_redirects N`: redirects followed per call, 0 to ``maxFollowRedirects``. Default 0: a 3xx is the
    /// call's answer (a `status` failure for composite calls, passed on by proxy routes).
    public var followRedirects: Int = 0
    /// The largest `follow_redirects` value accepted.
    public static let maxFollowRedirects = 10
    /// `coalesce on|off`: identical composite GET/HEAD calls to this upstream in flight at once on a worker
    /// share one transfer. Default on; off for a partner whose GETs are not safe to merge (each counts).
    public var coalesce: Bool = true
    /// `accept_encoding CODING… | off`: the content codings composite calls ask for (libcurl sends
    /// `Accept-Encoding` and decodes the answer; limits count decoded bytes). Empty: off, nothing asked for
    /// and nothing decoded. Default gzip and br. Proxy routes never decode: the client's `Accept-Encoding` goes
    /// through, and so does the partner's encoded answer.
    public var acceptEncoding: [String] = ["gzip", "br"]
    /// The codings `accept_encoding` accepts (those libcurl can decode when built with zlib, brotli and zstd).
    public static let contentCodings = ["gzip", "deflate", "br", "zstd"]
    /// `context_headers NAME… | off`: the headers fanout sets itself that every call to this upstream carries
    /// (composite, `for_each` items, proxy, tunnels). Default all five; empty: off.
    public var contextHeaders: ContextHeaders = .all
    /// `hedge DUR|off`: a composite GET/HEAD/OPTIONS call with no answer after DUR gets a second copy; the first
    /// answer wins (docs/reference/partner-protection.md). A call's `hedge=` overrides it. Default nil: off.
    public var hedgeDelayMs: Int?
    /// `abort_grace DUR|off`: when a request's client goes away, a composite call to this upstream that was
    /// already sent runs on, unseen, for up to DUR (within its own `timeout`), so that the partner's answer is
    /// read and its keep-alive connection goes back to the pool instead of being closed and opened again for the
    /// next request (the partner does the work either way: HTTP/1.1 tells it nothing of the close until it
    /// writes). Default ``defaultAbortGraceMs``; 0 (`off`): cancelled at once. Proxy routes always cancel: their
    /// answer streams, and may be large.
    public var abortGraceMs: Int = UpstreamConfig.defaultAbortGraceMs
    /// 1 s: enough for the answer of a partner that answers in a second, short against the default `timeout`.
    public static let defaultAbortGraceMs = 1_000
    /// `retries N`: extra attempts of an idempotent composite call after a connection failure or a 502/503/504,
    /// 0 to ``AttemptPolicy/maxRetries``. A call's `retries=` overrides it. Default 0.
    public var retries: Int = 0
    /// `retry_budget PERCENT`: retries and hedges to this upstream add at most PERCENT % of its calls per
    /// worker over 10 s, plus a floor (``RetryBudget``). Default 20.
    public var retryBudgetPercent: Int = 20
    /// `tls_verify`, `tls_ca`, `tls_cert`, `tls_key`, `connect_to`, `http2`: how connections are made.
    public var transport = UpstreamTransport()
    /// `oauth2 { … }`: calls carry an access token obtained with the client credentials grant. Default nil.
    public var oauth2: OAuth2Settings?
    /// True for upstreams synthesized from an absolute URL in a route.
    public var isImplicit: Bool = false
    public var location: SourceLocation?

    public init(name: String, origin: UpstreamOrigin) {
        self.name = name
        self.origin = origin
    }

    /// The absolute URL of one call: the origin and base path, the rendered path-and-query, then the
    /// upstream's `query` parameters.
    public func url(_ pathAndQuery: String) -> String {
        self.origin.urlPrefix + self.query.applied(to: pathAndQuery)
    }
}

/// The methods a route answers: any, or a set (uppercase).
public enum MethodSet: Sendable, Equatable {
    case any
    case only([String])

    public func contains(_ method: String) -> Bool {
        switch self {
        case .any: return true
        case .only(let methods): return methods.contains(method)
        }
    }
}

/// One `route METHODS PATH { … }` block.
public struct RouteConfig: Sendable {
    public var methods: MethodSet
    public var path: PathTemplate
    public var action: RouteAction
    public var location: SourceLocation
    /// `response_header`, `pass_header`, `cache_control` and `cors` (its own or the top-level one).
    public var responseHeaders = ResponseHeaderPlan()

    public init(methods: MethodSet, path: PathTemplate, action: RouteAction, location: SourceLocation) {
        self.methods = methods
        self.path = path
        self.action = action
        self.location = location
    }

    /// The route's name in logs: `GET /products/{id}`.
    public var displayName: String {
        switch methods {
        case .any: return "* \(path.raw)"
        case .only(let list): return "\(list.joined(separator: ",")) \(path.raw)"
        }
    }
}

/// What a route does.
public enum RouteAction: Sendable {
    /// `call` lines: fan out, stitch one JSON answer.
    case composite(CompositeRoute)
    /// `proxy`: pass one request through to an upstream.
    case proxy(ProxyRoute)
    /// `respond`: a fixed answer, optionally after a delay.
    case respond(StaticResponse)
}

/// A plain reverse-proxy route.
public struct ProxyRoute: Sendable {
    /// Index into `FanoutConfig.upstreams`.
    public var upstream: Int
    /// Upstream path and query; nil forwards the client's path and query unchanged.
    public var target: URLTemplate?
    /// `timeout`: the upstream's when nil. Bodies stream, so this is an idle limit (``IdleLimit``): the longest
    /// the upstream may stay silent (before its answer, or between two reads of it), measured from its last
    /// byte, not a limit on the whole transfer.
    public var timeoutMs: Int?
    /// `max_body`: the request body limit for this route (the top-level `max_body` when nil). The body is
    /// streamed to the upstream, never held whole, so this may be far larger than the top-level limit.
    public var maxBodyBytes: Int?
    /// `min_rate`: the slowest the client's streamed request body and the upstream's streamed answer may
    /// move (``RateBudget``). Default ``MinimumRate/standard``; nil (`min_rate off`): only the idle limits.
    public var minRate: MinimumRate?
    /// `tunnel_idle_timeout`: an `Upgrade` tunnel (a WebSocket) through this route is closed when no byte moved
    /// either way for this long. Default 60 s.
    public var tunnelIdleTimeoutMs: Int = 60_000
    /// The whole upstream URL when `target` has no placeholder (``FanoutConfig/numberFixedURLs(_:)``); nil
    /// otherwise, or before the configuration was numbered.
    public var fixedURL: FixedURL?

    public init(
        upstream: Int, target: URLTemplate?, timeoutMs: Int? = nil, maxBodyBytes: Int? = nil,
        minRate: MinimumRate? = .standard
    ) {
        self.upstream = upstream
        self.target = target
        self.timeoutMs = timeoutMs
        self.maxBodyBytes = maxBodyBytes
        self.minRate = minRate
    }
}

/// A fixed answer (`respond STATUS [BODY]`).
public struct StaticResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// `content_type`. Default `application/json`.
    public var contentType: String = "application/json"
    public var headers: [HeaderField] = []
    /// `delay`: wait this long (on the loop's timers, never a sleep) before answering. Default 0.
    public var delayMs: Int = 0

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}
