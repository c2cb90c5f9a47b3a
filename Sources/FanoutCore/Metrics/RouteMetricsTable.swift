/// One worker's per-route counters for one configuration, kept by route and call index: answered requests
/// by status, request durations and call durations. Recording one is an array index (and an `Int` key for
/// the status), where ``ServerMetrics`` hashes a route name and a call name per request and per call.
///
/// The table names its series with the names of the configuration it was built from (its routes, their calls,
/// and the upstreams a call's failures and spans are named by, from the call's
/// ``AccessLogLine/Call/identity``), and
/// ``drain(into:)`` adds what it counted to a ``ServerMetrics`` under those names, so `/metrics` shows the
/// same series either way. A reload builds a new table; a request keeps the table of the configuration it was
/// dispatched with (its indices are that configuration's), and the worker drains old tables until no request
/// holds them. Owned by one worker's loop thread.
public final class RouteMetricsTable {
    /// Each route's display name, by route index.
    public let routeNames: [String]
    /// Each route's call names, by route index then call index (a proxy route's one call is `proxy`).
    public let callNames: [[String]]
    /// Each upstream's name, by upstream index (`fanout_upstream_failures_total`, a call span's
    /// `fanout.upstream`).
    public let upstreamNames: [String]
    /// Where each route's call histograms start in `callDurations`.
    private let firstCall: [Int]
    // Histograms are made up front and emptied by a drain (`count == 0`: no series), so recording one
    // changes it in place; statuses are few per route, so a short list beats hashing.
    // Without the runtime's exclusivity checks (`swift_beginAccess` cost about 80 instructions per access, five
    // per `/overview` request, callgrind): the table has one owner thread, and no method of it reaches another
    // while it changes one of these.
    @exclusivity(unchecked) private var requestDurations: [LatencyHistogram]
    @exclusivity(unchecked) private var statuses: [[(status: Int, count: UInt64)]]
    @exclusivity(unchecked) private var callDurations: [LatencyHistogram]

    /// - Parameters:
    ///   - routeNames: the routes' display names, by route index.
    ///   - callNames: the routes' call names, by route index.
    ///   - upstreamNames: the upstreams' names, by upstream index.
    public init(routeNames: [String], callNames: [[String]], upstreamNames: [String]) {
        precondition(routeNames.count == callNames.count, "one list of call names per route")
        self.routeNames = routeNames
        self.callNames = callNames
        self.upstreamNames = upstreamNames
        var first: [Int] = []
        var total = 0
        for calls in callNames {
            first.append(total)
            total += calls.count
        }
        firstCall = first
        requestDurations = (0..<routeNames.count).map { _ in LatencyHistogram() }
        statuses = Array(repeating: [], count: routeNames.count)
        callDurations = (0..<total).map { _ in LatencyHistogram() }
    }

    /// The table of a configuration's routes.
    public convenience init(_ config: FanoutConfig) {
        self.init(
            routeNames: config.routes.map(\.displayName),
            callNames: config.routes.map { route in
                switch route.action {
                case .composite(let composite): composite.calls.map(\.name)
                case .proxy: ["proxy"]
                case .respond: []
                }
            },
            upstreamNames: config.upstreams.map(\.name))
    }

    /// One answered request on route `route` (``ServerMetrics/recordRequest(route:status:seconds:)``).
    public func recordRequest(route: Int, status: Int, seconds: Double) {
        if let index = statuses[route].firstIndex(where: { $0.status == status }) {
            statuses[route][index].count &+= 1
        } else {
            statuses[route].append((status, 1))
        }
        requestDurations[route].observe(seconds: seconds)
    }

    /// Whether call `call` of route `route` has a series here (an exchange reports no call the route does not
    /// list, but a caller can check rather than trust it).
    public func hasCall(route: Int, call: Int) -> Bool {
        call < callNames[route].count
    }

    /// One call made by a request on route `route` (the duration part of
    /// ``ServerMetrics/recordCall(route:call:upstream:seconds:failure:)``; a `skipped` call is not one).
    public func recordCall(route: Int, call: Int, seconds: Double) {
        callDurations[firstCall[route] + call].observe(seconds: seconds)
    }

    /// Adds everything counted since the last drain to `metrics`, under this table's names, and starts again
    /// from zero.
    public func drain(into metrics: inout ServerMetrics) {
        for route in routeNames.indices {
            let name = routeNames[route]
            for (status, count) in statuses[route] {
                metrics.requests[ServerMetrics.RequestKey(route: name, status: status), default: 0] &+= count
            }
            statuses[route] = []
            if requestDurations[route].count > 0 {
                metrics.requestDurations[name, default: LatencyHistogram()].merge(requestDurations[route])
                requestDurations[route] = LatencyHistogram()
            }
            for call in callNames[route].indices {
                let index = firstCall[route] + call
                guard callDurations[index].count > 0 else { continue }
                let key = ServerMetrics.CallKey(route: name, call: callNames[route][call])
                metrics.callDurations[key, default: LatencyHistogram()].merge(callDurations[index])
                callDurations[index] = LatencyHistogram()
            }
        }
    }
}
