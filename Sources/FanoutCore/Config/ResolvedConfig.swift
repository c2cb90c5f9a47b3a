/// The bucket an upstream call is admitted through: the runtime's client counts the calls of one slot in
/// libcurl and queues the rest in one FIFO.
public struct AdmissionSlot: Hashable, Sendable {
    public let raw: Int

    public init(raw: Int) {
        self.raw = raw
    }
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
public struct AdmissionSlots: Sendable {
    /// What makes two upstreams of different configurations the same partner.
    private struct Identity: Hashable, Sendable {
        var name: String
        var origin: UpstreamOrigin
    }

    private var numbers: [Identity: Int] = [:]

    public init() {}

    /// The slot of `upstream`, allocated on first sight.
    public mutating func slot(for upstream: UpstreamConfig) -> AdmissionSlot {
        let identity = Identity(name: upstream.name, origin: upstream.origin)
        if let number = numbers[identity] { return AdmissionSlot(raw: number) }
        let number = numbers.count
        numbers[identity] = number
        return AdmissionSlot(raw: number)
    }
}

/// Numbers the fixed upstream URLs (a call or proxy target without placeholders, on its upstream's origin) for
/// the process's life, as ``AdmissionSlots`` numbers upstreams: an unchanged URL keeps its number across
/// reloads, a new one gets the next. A worker's upstream client keeps one prebuilt libcurl URL per number, in
/// an array, so a fixed call finds it without building or hashing its URL. Numbers are never reused.
public struct FixedURLNumbers: Sendable {
    private var numbers: [String: Int] = [:]

    public init() {}

    /// The number of `url`, allocated on first sight.
    public mutating func number(for url: String) -> Int {
        if let number = numbers[url] { return number }
        let number = numbers.count
        numbers[url] = number
        return number
    }
}

/// The whole URL of a call whose target has no placeholder: decided by the configuration alone, built once
/// when it is loaded (``FanoutConfig/numberFixedURLs(_:)``) rather than per call.
public struct FixedURL: Sendable {
    /// The absolute URL, as ``UpstreamConfig/url(_:)`` makes it from the rendered target.
    public let url: String
    /// Its number in the process's ``FixedURLNumbers``.
    public let number: Int

    public init(url: String, number: Int) {
        self.url = url
        self.number = number
    }
}

extension FanoutConfig {
    /// Gives every call and proxy route whose target has no placeholder its ``FixedURL``, numbered in
    /// `numbers`. Call once per configuration load, after the upstreams are final.
    public mutating func numberFixedURLs(_ numbers: inout FixedURLNumbers) {
        for routeIndex in routes.indices {
            switch routes[routeIndex].action {
            case .composite(var composite):
                for callIndex in composite.calls.indices {
                    let call = composite.calls[callIndex]
                    composite.calls[callIndex].fixedURL = fixedURL(call.target, upstream: call.upstream, &numbers)
                }
                routes[routeIndex].action = .composite(composite)
            case .proxy(var proxy):
                guard let target = proxy.target else { continue }
                proxy.fixedURL = fixedURL(target, upstream: proxy.upstream, &numbers)
                routes[routeIndex].action = .proxy(proxy)
            case .respond:
                continue
            }
        }
    }

    /// `target`'s URL on upstream `upstream` when the target has no placeholder; nil otherwise.
    private func fixedURL(_ target: URLTemplate, upstream: Int, _ numbers: inout FixedURLNumbers) -> FixedURL? {
        guard target.isFixed, upstreams.indices.contains(upstream),
            let pathAndQuery = try? target.render(TemplateValues(routeParameters: [:], query: QueryParameters()))
        else { return nil }
        let url = upstreams[upstream].url(pathAndQuery)
        return FixedURL(url: url, number: numbers.number(for: url))
    }
}

/// One upstream with everything its calls need that the configuration alone decides, computed once per
/// configuration load instead of per call: header lines, URL prefix, admission slots, one worker's share of the
/// limits, the `Accept-Encoding` asked for and the transport options. Immutable; a class, so a call reads
/// its fields in place without copying the whole upstream.
public final class ResolvedUpstream: Sendable {
    /// Its index in `FanoutConfig.upstreams` (what calls and proxy routes name).
    public let index: Int
    public let config: UpstreamConfig
    /// The admission slot its calls are counted and queued in (``AdmissionSlots``).
    public let slot: AdmissionSlot
    /// The admission slot of its `oauth2` token requests (nil without `oauth2`): the token endpoint's own, so a
    /// token request never waits behind the partner's calls.
    public let tokenSlot: AdmissionSlot?
    /// How many calls one worker may have inside libcurl at once: its share of `max_connections`, rounded up,
    /// at least one.
    public let limitPerWorker: Int
    /// How many calls may wait in one worker's queue: its share of `max_queue`, rounded up (nil: unbounded).
    public let queueLimitPerWorker: Int?
    /// One worker's share of `rate` in calls per second (nil: no limit); for a shared rate, its share of the
    /// replica's fallback (`rate / replicas`).
    public let ratePerWorker: Double?
    /// `Name: value` lines of its configured headers (unsafe ones left out, ``HeaderLine``).
    public let headerLines: [String]
    /// `scheme://host:port/base` (see ``url(_:)``).
    public let urlPrefix: String
    /// Its `accept_encoding` as CURLOPT_ACCEPT_ENCODING (`gzip, br`), without the codings the HTTP library
    /// cannot decode; nil when none is left (off).
    public let acceptEncoding: String?
    /// Its connection options (TLS, `connect_to`, HTTP/2).
    public let transport: TransportOptions
    /// Its `context_headers`: which of fanout's own forwarding and trace lines its calls carry.
    public let contextHeaders: ContextHeaders
    /// True when `contextHeaders` is every one (the default): calls append the request's lines unfiltered.
    public var sendsAllContextHeaders: Bool { contextHeaders == .all }

    /// - Parameters:
    ///   - workerCount: the workers that share the limits.
    ///   - decodableCodings: the content codings the HTTP library can decode (libcurl's build features).
    ///   - slots: the process's slot numbering, extended with the upstream's slots on first sight.
    public init(
        _ config: UpstreamConfig, index: Int, workerCount: Int, decodableCodings: Set<String>,
        slots: inout AdmissionSlots
    ) {
        self.index = index
        self.config = config
        slot = slots.slot(for: config)
        tokenSlot = config.oauth2.map {
            slots.slot(for: UpstreamConfig(name: Self.tokenRequestName(config.name), origin: $0.tokenEndpoint))
        }
        limitPerWorker = max(1, (config.maxConnections + workerCount - 1) / workerCount)
        queueLimitPerWorker = config.maxQueue.map { ($0 + workerCount - 1) / workerCount }
        ratePerWorker = config.ratePerSecond.map {
            (config.sharedRate?.fallbackRate($0) ?? $0) / Double(workerCount)
        }
        headerLines = HeaderLine.lines(config.headers)
        urlPrefix = config.origin.urlPrefix
        let codings = config.acceptEncoding.filter(decodableCodings.contains)
        acceptEncoding = codings.isEmpty ? nil : codings.joined(separator: ", ")
        transport = TransportOptions(config)
        contextHeaders = config.contextHeaders
    }

    /// The configured name.
    public var name: String { config.name }

    /// The name its `oauth2` token requests are counted under: the upstream's name with `.oauth2` (upstream
    /// names never contain a dot, so it cannot be another upstream's).
    public static func tokenRequestName(_ upstreamName: String) -> String {
        "\(upstreamName).oauth2"
    }

    /// `UpstreamConfig.url(_:)`, with the prefix built once rather than per call.
    public func url(_ pathAndQuery: String) -> String {
        urlPrefix + config.query.applied(to: pathAndQuery)
    }
}

/// One route with what the access log and metrics say of it, computed once per configuration load. A request
/// reads its route through this reference: copying the `RouteConfig` out of the configuration's array retained
/// and released each of its arrays and Strings (about 1,500 instructions per request, callgrind).
public final class ResolvedRoute: Sendable {
    /// Its display name (`GET /overview`).
    public let name: String
    /// The route as configured.
    public let config: RouteConfig
    /// The action's composite route, for a `call` route: read in place by each request. Bound from
    /// `config.action` by the dispatcher's `switch`, the whole action was copied twice per request and
    /// destroyed again (about 650 instructions, callgrind).
    public let composite: CompositeRoute?

    public init(_ route: RouteConfig) {
        name = route.displayName
        config = route
        if case .composite(let composite) = route.action {
            self.composite = composite
        } else {
            self.composite = nil
        }
    }
}
