/// The JSON behind the status page (`GET /status.json` on the admin listener): the configuration's routes and
/// upstreams with the figures of one merged metrics snapshot, the same one `/metrics` renders.
///
/// "Recent" figures are the difference between `metrics` and `baseline` (an older snapshot, see
/// ``RecentWindow``): request counts and p50/p99 estimated from the histogram buckets that filled in between,
/// interpolated as Prometheus's `histogram_quantile` does (so a percentile is only as fine as the bucket
/// bounds of ``LatencyHistogram``). Totals are since start.
///
/// Only names, counts, durations and `scheme://host:port` of upstreams appear: no header value, no URL path
/// or query (a base path can hold a token: a webhook URL), no userinfo.
public struct StatusReport: Sendable {
    public var config: FanoutConfig
    /// The counters now, summed over workers, gauges included.
    public var metrics: ServerMetrics
    /// The counters at the start of the recent window.
    public var baseline: ServerMetrics
    /// Length of the recent window and time since the server started, in seconds.
    public var windowSeconds: Double
    public var uptimeSeconds: Double
    /// Whether the window starts at the server's start (the baseline is the empty seed snapshot).
    public var windowIsSinceStart: Bool
    public var workers: Int

    public init(
        config: FanoutConfig, metrics: ServerMetrics, baseline: ServerMetrics, windowSeconds: Double,
        uptimeSeconds: Double, windowIsSinceStart: Bool, workers: Int
    ) {
        self.config = config
        self.metrics = metrics
        self.baseline = baseline
        self.windowSeconds = windowSeconds
        self.uptimeSeconds = uptimeSeconds
        self.windowIsSinceStart = windowIsSinceStart
        self.workers = workers
    }

    /// The report as a JSON tree; ``json`` serializes it.
    public var value: JSONValue {
        .object([
            member("uptime_s", Self.decimal(uptimeSeconds)),
            member("workers", .number(String(workers))),
            member("window_s", Self.decimal(windowSeconds)),
            member("window_since_start", .bool(windowIsSinceStart)),
            member("requests_in_flight", .number(String(metrics.requestsInFlight))),
            member("client_connections", .number(String(metrics.clientConnections))),
            member("routes", .array(config.routes.map(route))),
            member("unmatched", requestFigures(route: "")),
            member("upstreams", .array(config.upstreams.map(upstream))),
        ])
    }

    public var json: [UInt8] { value.serialized }

    // MARK: - Routes

    private func route(_ route: RouteConfig) -> JSONValue {
        let name = route.displayName
        var members = [member("name", .string(name))]
        let calls: [(name: String, upstream: Int, optional: Bool, forEach: Bool)]
        switch route.action {
        case .composite(let composite):
            members.append(member("kind", .string("composite")))
            members.append(member("deadline_ms", .number(String(composite.deadlineMs))))
            calls = composite.calls.map { ($0.name, $0.upstream, !$0.required, $0.forEach != nil) }
        case .proxy(let proxy):
            members.append(member("kind", .string("proxy")))
            calls = [("proxy", proxy.upstream, false, false)]
        case .respond(let response):
            members.append(member("kind", .string("respond \(response.status)")))
            calls = []
        }
        if case .object(let figures) = requestFigures(route: name) { members += figures }
        members.append(
            member(
                "calls",
                .array(
                    calls.map { call in
                        let key = ServerMetrics.CallKey(route: name, call: call.name)
                        let total = metrics.callDurations[key] ?? LatencyHistogram()
                        let recent = total.subtracting(baseline.callDurations[key] ?? LatencyHistogram())
                        return .object([
                            member("name", .string(call.name)),
                            member("upstream", .string(config.upstreams[call.upstream].name)),
                            member("optional", .bool(call.optional)),
                            member("for_each", .bool(call.forEach)),
                            member("total", .number(String(total.count))),
                            member("recent", Self.percentiles(recent)),
                        ])
                    })))
        return .object(members)
    }

    /// `requests` (total), `statuses` (total per status) and `recent` of one route name.
    private func requestFigures(route name: String) -> JSONValue {
        let statuses = metrics.requests.filter { $0.key.route == name }.sorted { $0.key.status < $1.key.status }
        let total = metrics.requestDurations[name] ?? LatencyHistogram()
        let recent = total.subtracting(baseline.requestDurations[name] ?? LatencyHistogram())
        return .object([
            member("requests", .number(String(statuses.reduce(0) { $0 &+ $1.value }))),
            member(
                "statuses", .object(statuses.map { member(String($0.key.status), .number(String($0.value))) })),
            member("recent", Self.percentiles(recent)),
        ])
    }

    /// `{"count": N, "p50_ms": …, "p99_ms": …}`; the percentiles are null without observations.
    static func percentiles(_ histogram: LatencyHistogram) -> JSONValue {
        let milliseconds = { (q: Double) -> JSONValue in histogram.quantile(q).map { decimal($0 * 1000) } ?? .null }
        return .object([
            member("count", .number(String(histogram.count))),
            member("p50_ms", milliseconds(0.5)),
            member("p99_ms", milliseconds(0.99)),
        ])
    }

    // MARK: - Upstreams

    private func upstream(_ upstream: UpstreamConfig) -> JSONValue {
        let name = upstream.name
        let load = metrics.upstreamLoad[name] ?? ServerMetrics.UpstreamLoad()
        let origin = upstream.origin
        let failures = metrics.upstreamFailures.filter { $0.key.upstream == name }.sorted { $0.key.kind < $1.key.kind }
        let count = { (values: [String: UInt64]) -> JSONValue in .number(String(values[name] ?? 0)) }
        let connections = metrics.upstreamConnections[name] ?? ServerMetrics.ConnectionUse()
        return .object([
            member("name", .string(name)),
            member("origin", .string("\(origin.scheme)://\(origin.host):\(origin.port)")),
            member("max_connections", .number(String(upstream.maxConnections))),
            member("in_flight", .number(String(load.inFlight))),
            member("queued", .number(String(load.queued))),
            member("breaker", Self.breaker(load)),
            member("breaker_opens", count(metrics.breakerOpens)),
            member("failures", .object(failures.map { member($0.key.kind, .number(String($0.value))) })),
            member("cache_hits", count(metrics.upstreamCalls.cacheHits)),
            member("cache_misses", count(metrics.upstreamCalls.cacheMisses)),
            member(
                "cache_stale",
                .number(
                    String(
                        (metrics.upstreamCalls.staleError[name] ?? 0)
                            &+ (metrics.upstreamCalls.staleRevalidate[name] ?? 0)))),
            member("coalesced", count(metrics.upstreamCalls.coalesced)),
            member("retries", count(metrics.upstreamCalls.retries)),
            member("hedges", count(metrics.upstreamCalls.hedges)),
            member("connections_opened", .number(String(connections.opened))),
            member("connections_reused", .number(String(connections.reused))),
        ])
    }

    /// null when the upstream has no breaker; else its state over the workers: `open` when any worker's is
    /// open, else `half_open` when any is, else `closed`, with the counts.
    static func breaker(_ load: ServerMetrics.UpstreamLoad) -> JSONValue {
        guard load.breakers > 0 else { return .null }
        let state = load.breakersOpen > 0 ? "open" : load.breakersHalfOpen > 0 ? "half_open" : "closed"
        return .object([
            member("state", .string(state)),
            member("open", .number(String(load.breakersOpen))),
            member("half_open", .number(String(load.breakersHalfOpen))),
            member("workers", .number(String(load.breakers))),
        ])
    }

    /// A number with one decimal (`12.3`), never an exponent.
    static func decimal(_ value: Double) -> JSONValue {
        var writer = JSONWriter(capacity: 16)
        writer.appendDouble(milliseconds: value)
        return .number(String(decoding: writer.bytes, as: UTF8.self))
    }
}

private func member(_ key: String, _ value: JSONValue) -> JSONMember {
    JSONMember(key: key, value: value)
}
