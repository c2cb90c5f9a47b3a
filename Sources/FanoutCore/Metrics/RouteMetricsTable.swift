/// One worker's per-route counters for one configuration, kept by route and call index: answered requests
/// by status, request durations and call durations. Recording one is an array index (and an `Int` key for
/// the status), where ``ServerMetrics`` hashes a route name and a call name per request and per call.
///
/// The table names its series with the names of the configuration it was built from, and
/// ``drain(into:)`` adds what it counted to a ``ServerMetrics`` under those names, so `/metrics` shows the
/// same series either way. A reload builds a new table; a request keeps the table of the configuration it was
/// dispatched with (its indices are that configuration's), and the worker drains old tables until no request
/// holds them. Owned by one worker's loop thread.
public final class RouteMetricsTable {
    /// Each route's display name, by route index.
    public let routeNames: [String]
    /// Each route's call names, by route index then call index (a proxy route's one call is `proxy`).
    public let callNames: [[String]]
    /// Where each route's call histograms start in `callDurations`.
    private let firstCall: [Int]
    private var requestDurations: [LatencyHistogram?]
    private var statuses: [[Int: UInt64]]
    private var callDurations: [LatencyHistogram?]

    /// - Parameters:
    ///   - routeNames: the routes' display names, by route index.
    ///   - callNames: the routes' call names, by route index.
    public init(routeNames: [String], callNames: [[String]]) {
        precondition(routeNames.count == callNames.count, "one list of call names per route")
        self.routeNames = routeNames
        self.callNames = callNames
        var first: [Int] = []
        var total = 0
        for calls in callNames {
            first.append(total)
            total += calls.count
        }
        firstCall = first
        requestDurations = Array(repeating: nil, count: routeNames.count)
        statuses = Array(repeating: [:], count: routeNames.count)
        callDurations = Array(repeating: nil, count: total)
    }

    /// The table of a configuration's routes.
    public convenience init(_ routes: [RouteConfig]) {
        self.init(
            routeNames: routes.map(\.displayName),
            callNames: routes.map { route in
                switch route.action {
                case .composite(let composite): composite.calls.map(\.name)
                case .proxy: ["proxy"]
                case .respond: []
                }
            })
    }

    /// One answered request on route `route` (``ServerMetrics/recordRequest(route:status:seconds:)``).
    public func recordRequest(route: Int, status: Int, seconds: Double) {
        statuses[route][status, default: 0] &+= 1
        if requestDurations[route] == nil { requestDurations[route] = LatencyHistogram() }
        requestDurations[route]!.observe(seconds: seconds)
    }

    /// Whether call `call` of route `route` has a series here (an exchange reports no call the route does not
    /// list, but a caller can check rather than trust it).
    public func hasCall(route: Int, call: Int) -> Bool {
        call < callNames[route].count
    }

    /// One call made by a request on route `route` (the duration part of
    /// ``ServerMetrics/recordCall(route:call:upstream:seconds:failure:)``; a `skipped` call is not one).
    public func recordCall(route: Int, call: Int, seconds: Double) {
        let index = firstCall[route] + call
        if callDurations[index] == nil { callDurations[index] = LatencyHistogram() }
        callDurations[index]!.observe(seconds: seconds)
    }

    /// Adds everything counted since the last drain to `metrics`, under this table's names, and starts again
    /// from zero.
    public func drain(into metrics: inout ServerMetrics) {
        for route in routeNames.indices {
            let name = routeNames[route]
            for (status, count) in statuses[route] {
                metrics.requests[ServerMetrics.RequestKey(route: name, status: status), default: 0] &+= count
            }
            statuses[route] = [:]
            if let histogram = requestDurations[route] {
                metrics.requestDurations[name, default: LatencyHistogram()].merge(histogram)
                requestDurations[route] = nil
            }
            for call in callNames[route].indices {
                let index = firstCall[route] + call
                guard let histogram = callDurations[index] else { continue }
                let key = ServerMetrics.CallKey(route: name, call: callNames[route][call])
                metrics.callDurations[key, default: LatencyHistogram()].merge(histogram)
                callDurations[index] = nil
            }
        }
    }
}
