import FanoutCore

/// The configuration as the runtime uses it: parsed once, with everything derived from it that requests
/// would otherwise recompute. Immutable and shared by all workers.
///
/// A reload builds a new one; each request keeps the one it was dispatched with until it is answered, so
/// indices into `config` (a call's upstream, a route) stay valid for the whole request.
final class RuntimeConfig: Sendable {
    let config: FanoutConfig
    let routes: RouteTable
    let parserLimits: HTTPParserLimits
    /// Lowercased names of client headers forwarded on composite calls.
    let forwardHeaders: Set<String>
    /// Per upstream index: how many calls one worker may have inside libcurl at once.
    let upstreamLimitsPerWorker: [Int]
    /// Per upstream index: how many calls may wait in one worker's queue (its share of `max_queue`, rounded
    /// up; nil: unbounded).
    let upstreamQueueLimitsPerWorker: [Int?]
    /// Per upstream index: one worker's share of `rate` in calls per second (nil: no limit); for a shared rate,
    /// its share of the replica's fallback (`rate / replicas`).
    let upstreamRatesPerWorker: [Double?]
    /// How many client connections one worker keeps open: its share of `max_client_connections`, rounded up.
    let clientConnectionsPerWorker: Int
    /// Per upstream index: the admission slot its calls are counted and queued in (see ``AdmissionSlots``).
    let admissionSlots: [AdmissionSlot]
    /// Per upstream index: the admission slot of its `oauth2` token requests (nil without `oauth2`): the token
    /// endpoint's own, so a token request never waits behind the partner's calls.
    let tokenSlots: [AdmissionSlot?]
    /// `Name: value` lines of each upstream's configured headers, built once.
    let upstreamHeaderLines: [[String]]
    /// Per upstream index: `scheme://host:port/base`, built once (see ``upstreamURL(_:_:)``).
    let upstreamURLPrefixes: [String]
    /// Per upstream index: its `accept_encoding` as CURLOPT_ACCEPT_ENCODING (`gzip, br`), without the codings
    /// this libcurl cannot decode; nil when none is left (off).
    let upstreamAcceptEncodings: [String?]
    /// Per upstream index: its connection options (TLS, `connect_to`, HTTP/2), built once.
    let upstreamTransports: [TransportOptions]
    let workerCount: Int
    /// Per route index: its display name (access log, metrics), built once.
    let routeNames: [String]
    /// Per route index: the upstream name of each call, in call order (a proxy route has one, a static
    /// route none); pairs with the calls an exchange reports, for `fanout_upstream_failures_total`.
    let callUpstreamNames: [[String]]
    /// Methods fanout answers with routing (404/405) rather than 501: the common ones plus every method a
    /// route names.
    let knownMethods: Set<String>
    /// The `tracing` block as the runtime uses it; nil when absent (no spans are built).
    let tracing: RuntimeTracing?

    init(config: FanoutConfig, workerCount: Int, slots: inout AdmissionSlots) {
        self.config = config
        self.workerCount = workerCount
        routes = RouteTable(config.routes)
        parserLimits = HTTPParserLimits(config.limits)
        forwardHeaders = Set(config.forwardHeaders.map { $0.lowercased() })
        var methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        for route in config.routes {
            if case .only(let list) = route.methods { methods.formUnion(list) }
        }
        knownMethods = methods
        upstreamLimitsPerWorker = config.upstreams.map { max(1, ($0.maxConnections + workerCount - 1) / workerCount) }
        upstreamQueueLimitsPerWorker = config.upstreams.map { upstream in
            upstream.maxQueue.map { ($0 + workerCount - 1) / workerCount }
        }
        upstreamRatesPerWorker = config.upstreams.map { upstream in
            upstream.ratePerSecond.map { (upstream.sharedRate?.fallbackRate($0) ?? $0) / Double(workerCount) }
        }
        clientConnectionsPerWorker = max(1, (config.limits.maxClientConnections + workerCount - 1) / workerCount)
        admissionSlots = config.upstreams.map { slots.slot(for: $0) }
        tokenSlots = config.upstreams.map { upstream in
            upstream.oauth2.map {
                slots.slot(for: UpstreamConfig(name: "\(upstream.name).oauth2", origin: $0.tokenEndpoint))
            }
        }
        tracing = config.tracing.map { RuntimeTracing(config: $0, workerCount: workerCount, slots: &slots) }
        upstreamHeaderLines = config.upstreams.map { HeaderLine.lines($0.headers) }
        upstreamURLPrefixes = config.upstreams.map(\.origin.urlPrefix)
        let decodable = CurlTransfer.decodableContentCodings
        upstreamAcceptEncodings = config.upstreams.map { upstream in
            let codings = upstream.acceptEncoding.filter(decodable.contains)
            return codings.isEmpty ? nil : codings.joined(separator: ", ")
        }
        upstreamTransports = config.upstreams.map(TransportOptions.init)
        routeNames = config.routes.map(\.displayName)
        callUpstreamNames = config.routes.map { route in
            switch route.action {
            case .composite(let composite): return composite.calls.map { config.upstreams[$0.upstream].name }
            case .proxy(let proxy): return [config.upstreams[proxy.upstream].name]
            case .respond: return []
            }
        }
    }
}

/// The bucket an upstream call is admitted through: ``UpstreamClient`` counts the calls of one slot in
/// libcurl and queues the rest in one FIFO.
struct AdmissionSlot: Hashable, Sendable {
    let raw: Int
}

/// Numbers upstreams by identity (name and origin), so admission state survives a reload.
///
/// Upstream indices change when a reload adds, removes or reorders upstreams, but the calls already queued or
/// running were admitted under the old numbering. Giving each configuration generation its own accounting
/// would let old and new requests each use the full `max_connections` to the same partner during the
/// overlap. Instead every identity the server was ever configured with keeps one slot number for the
/// process's life: an unchanged upstream keeps its slot (its in-flight count and queue carry over, and a new
/// `max_connections` takes effect at once); a new one gets a fresh slot; a removed one keeps its slot, with
/// its last limit, until the calls admitted through it are done. Renaming an upstream or changing its URL
/// makes it a new identity. Slots are never reused; there is one per identity ever configured, a few
/// integers each per worker.
struct AdmissionSlots {
    /// What makes two upstreams of different configurations the same partner.
    private struct Identity: Hashable {
        var name: String
        var origin: UpstreamOrigin
    }

    private var numbers: [Identity: Int] = [:]

    /// The slot of `upstream`, allocated on first sight.
    mutating func slot(for upstream: UpstreamConfig) -> AdmissionSlot {
        let identity = Identity(name: upstream.name, origin: upstream.origin)
        if let number = numbers[identity] { return AdmissionSlot(raw: number) }
        let number = numbers.count
        numbers[identity] = number
        return AdmissionSlot(raw: number)
    }
}

extension RuntimeConfig {
    /// `UpstreamConfig.url(_:)` of upstream `index`, with its prefix built once rather than per call.
    func upstreamURL(_ index: Int, _ pathAndQuery: String) -> String {
        upstreamURLPrefixes[index] + config.upstreams[index].query.applied(to: pathAndQuery)
    }
}
