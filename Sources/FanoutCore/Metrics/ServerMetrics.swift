/// The counters behind `/metrics`, as one worker keeps them or as the sum over workers.
///
/// A plain value: each worker owns one and updates it on its own loop thread only (no lock, no atomic on the
/// request path); a scrape copies every worker's value on that worker's loop and ``merge(_:)``s the copies.
/// Keys are names from the configuration (route display names, call and upstream names), statuses and
/// failure kinds, so the number of series is bounded by the configuration, never by client input.
public struct ServerMetrics: Sendable, Equatable {
    /// A `fanout_requests_total` series. `route` is empty when no route matched.
    public struct RequestKey: Hashable, Sendable {
        public var route: String
        public var status: Int
        public init(route: String, status: Int) {
            self.route = route
            self.status = status
        }
    }

    /// A `fanout_call_duration_seconds` series.
    public struct CallKey: Hashable, Sendable {
        public var route: String
        public var call: String
        public init(route: String, call: String) {
            self.route = route
            self.call = call
        }
    }

    /// An upstream name and the result of a token request: `ok` or `failed`.
    public struct TokenFetchKey: Hashable, Sendable {
        public var upstream: String
        public var result: String
        public init(upstream: String, result: String) {
            self.upstream = upstream
            self.result = result
        }
    }

    /// A `fanout_upstream_failures_total` series; `kind` is a ``CallFailure/kind``.
    public struct FailureKey: Hashable, Sendable {
        public var upstream: String
        public var kind: String
        public init(upstream: String, kind: String) {
            self.upstream = upstream
            self.kind = kind
        }
    }

    /// A `fanout_client_aborts_total` series: requests whose client went away before the answer was complete.
    public struct ClientAbortKey: Hashable, Sendable {
        public var route: String
        public var reason: ClientDeparture
        public init(route: String, reason: ClientDeparture) {
            self.route = route
            self.reason = reason
        }
    }

    /// A `fanout_min_rate_cuts_total` series: a streamed body of a proxy route on `route` cut for moving slower
    /// than the route's `min_rate`; `side` is `client` (its request body) or `upstream` (its answer).
    public struct MinRateCutKey: Hashable, Sendable {
        public var route: String
        public var side: String
        public init(route: String, side: String) {
            self.route = route
            self.side = side
        }
    }

    /// Connections to one upstream: how many transfers opened, and how many transfers reused a pooled one.
    public struct ConnectionUse: Sendable, Equatable {
        public var opened: UInt64 = 0
        public var reused: UInt64 = 0
        public init(opened: UInt64 = 0, reused: UInt64 = 0) {
            self.opened = opened
            self.reused = reused
        }

        /// One finished transfer that opened `opened` connections (more than one when it followed redirects
        /// or retried). A transfer that opened none reused a connection, but only one that got an answer
        /// counts as such: one that failed before connecting (a timeout in the queue, a name that did not
        /// resolve) used no connection at all.
        public mutating func record(opened: Int, answered: Bool) {
            if opened > 0 {
                self.opened &+= UInt64(opened)
            } else if answered {
                reused &+= 1
            }
        }
    }

    /// What is happening at one upstream right now, on one worker or summed over workers (gauges, filled in
    /// when a snapshot is taken).
    public struct UpstreamLoad: Sendable, Equatable {
        /// Calls inside libcurl (hedges included).
        public var inFlight = 0
        /// Calls waiting for a place (`max_connections`, `rate`).
        public var queued = 0
        /// Workers whose breaker for the upstream is open, half-open, and that have one at all (0: `breaker`
        /// is off). Each worker has its own breaker.
        public var breakersOpen = 0
        public var breakersHalfOpen = 0
        public var breakers = 0

        public init(
            inFlight: Int = 0, queued: Int = 0, breakersOpen: Int = 0, breakersHalfOpen: Int = 0, breakers: Int = 0
        ) {
            self.inFlight = inFlight
            self.queued = queued
            self.breakersOpen = breakersOpen
            self.breakersHalfOpen = breakersHalfOpen
            self.breakers = breakers
        }

        /// Adds one worker's breaker in `state`.
        public mutating func addBreaker(_ state: CircuitBreaker.State) {
            breakers += 1
            switch state {
            case .closed: break
            case .open: breakersOpen += 1
            case .halfOpen: breakersHalfOpen += 1
            }
        }

        public mutating func add(_ other: UpstreamLoad) {
            inFlight += other.inFlight
            queued += other.queued
            breakersOpen += other.breakersOpen
            breakersHalfOpen += other.breakersHalfOpen
            breakers += other.breakers
        }
    }

    /// Answered requests, by route and status.
    public var requests: [RequestKey: UInt64] = [:]
    /// Time from a request's head to its last response byte queued, by route (`""`: no route matched).
    public var requestDurations: [String: LatencyHistogram] = [:]
    /// Upstream calls that were made (skipped calls are not), by route and call.
    public var callDurations: [CallKey: LatencyHistogram] = [:]
    /// Failed upstream calls, by upstream and failure kind (`skipped` is not a failure of the upstream).
    public var upstreamFailures: [FailureKey: UInt64] = [:]
    /// `oauth2` token requests, per upstream name and result (`ok`, `failed`).
    public var tokenFetches: [TokenFetchKey: UInt64] = [:]
    /// Per upstream name.
    public var upstreamConnections: [String: ConnectionUse] = [:]
    /// Times an upstream's circuit breaker opened (on any worker), per upstream name.
    public var breakerOpens: [String: UInt64] = [:]
    /// Coalescing, the call cache, hedges and retries of composite calls, per upstream name.
    public var upstreamCalls = UpstreamCallCounters()
    /// The shared store's counters (`store` block); left empty, and not exposed, without one.
    public var store = StoreMetrics()
    /// Requests whose client went away before their answer was complete (also counted in `requests` with
    /// status 499), by route and how the client went away.
    public var clientAborts: [ClientAbortKey: UInt64] = [:]
    /// Streamed bodies cut for moving slower than `min_rate`, by route and side.
    public var minRateCuts: [MinRateCutKey: UInt64] = [:]
    /// Calls in flight and queued, and breaker states, per upstream name (gauges, filled in when a snapshot
    /// is taken).
    public var upstreamLoad: [String: UpstreamLoad] = [:]
    /// Trace export (`tracing`): nil when it is not configured, and then not shown.
    public var traceExport: TraceExportCounts? = nil
    /// Requests received and not answered yet (a gauge, filled in when a snapshot is taken).
    public var requestsInFlight = 0
    /// Open client connections (a gauge, filled in when a snapshot is taken).
    public var clientConnections = 0
    /// `Upgrade` tunnels open now (a gauge, filled in when a snapshot is taken), opened in total, and the bytes
    /// they passed on each way (from the client to the partner, and back).
    public var tunnelsOpen = 0
    public var tunnelsOpened: UInt64 = 0
    public var tunnelBytesUp: UInt64 = 0
    public var tunnelBytesDown: UInt64 = 0
    /// `busy_poll`: loop turns that polled before sleeping, by what they found (filled in when a snapshot is
    /// taken); nil when it is off, and then not shown.
    public var busyPolls: BusyPollCounts? = nil

    public init() {}

    /// One answered request.
    public mutating func recordRequest(route: String, status: Int, seconds: Double) {
        requests[RequestKey(route: route, status: status), default: 0] &+= 1
        requestDurations[route, default: LatencyHistogram()].observe(seconds: seconds)
    }

    /// One request whose client went away before its answer was complete: counted as a 499 answer and as an
    /// abort.
    public mutating func recordClientAbort(route: String, reason: ClientDeparture, seconds: Double) {
        recordRequest(route: route, status: ClientDeparture.abortStatus, seconds: seconds)
        clientAborts[ClientAbortKey(route: route, reason: reason), default: 0] &+= 1
    }

    /// One upstream call of a request on `route`; `failure` is its failure kind, nil when it succeeded.
    /// A `skipped` call was never made and is not recorded.
    public mutating func recordCall(route: String, call: String, upstream: String, seconds: Double, failure: String?) {
        if failure == "skipped" { return }
        callDurations[CallKey(route: route, call: call), default: LatencyHistogram()].observe(seconds: seconds)
        if let failure { recordUpstreamFailure(upstream: upstream, kind: failure) }
    }

    /// One failed call to `upstream` (`kind` is its ``CallFailure/kind``; never `skipped`), the failure part of
    /// ``recordCall(route:call:upstream:seconds:failure:)`` for a call whose duration is kept elsewhere
    /// (``RouteMetricsTable``).
    public mutating func recordUpstreamFailure(upstream: String, kind: String) {
        upstreamFailures[FailureKey(upstream: upstream, kind: kind), default: 0] &+= 1
    }

    /// Adds connection use per upstream name (another worker's, or a worker's client's into its snapshot).
    public mutating func addConnectionUse(_ uses: [String: ConnectionUse]) {
        for (upstream, use) in uses {
            upstreamConnections[upstream, default: ConnectionUse()].opened &+= use.opened
            upstreamConnections[upstream, default: ConnectionUse()].reused &+= use.reused
        }
    }

    /// Adds load per upstream name (another worker's, or a worker's client's into its snapshot).
    public mutating func addUpstreamLoad(_ loads: [String: UpstreamLoad]) {
        for (upstream, load) in loads { upstreamLoad[upstream, default: UpstreamLoad()].add(load) }
    }

    /// Adds `other` (another worker's snapshot) to this one, gauges included.
    public mutating func merge(_ other: ServerMetrics) {
        requests.addCounts(other.requests)
        for (key, value) in other.requestDurations { requestDurations[key, default: LatencyHistogram()].merge(value) }
        for (key, value) in other.callDurations { callDurations[key, default: LatencyHistogram()].merge(value) }
        upstreamFailures.addCounts(other.upstreamFailures)
        tokenFetches.addCounts(other.tokenFetches)
        addConnectionUse(other.upstreamConnections)
        breakerOpens.addCounts(other.breakerOpens)
        upstreamCalls.merge(other.upstreamCalls)
        store.merge(other.store)
        clientAborts.addCounts(other.clientAborts)
        minRateCuts.addCounts(other.minRateCuts)
        addUpstreamLoad(other.upstreamLoad)
        if let counts = other.traceExport { traceExport = (traceExport ?? TraceExportCounts()).adding(counts) }
        requestsInFlight += other.requestsInFlight
        clientConnections += other.clientConnections
        tunnelsOpen += other.tunnelsOpen
        tunnelsOpened &+= other.tunnelsOpened
        tunnelBytesUp &+= other.tunnelBytesUp
        tunnelBytesDown &+= other.tunnelBytesDown
        if let counts = other.busyPolls { busyPolls = (busyPolls ?? BusyPollCounts()).adding(counts) }
    }
}

/// Loop turns that polled before sleeping (`busy_poll`): `hits` found events while polling, `misses` found
/// none and slept.
public struct BusyPollCounts: Sendable, Equatable {
    public var hits: UInt64 = 0
    public var misses: UInt64 = 0

    public init(hits: UInt64 = 0, misses: UInt64 = 0) {
        self.hits = hits
        self.misses = misses
    }

    /// The sum of these counts and `other`'s (wrapping, like every counter here).
    public func adding(_ other: BusyPollCounts) -> BusyPollCounts {
        BusyPollCounts(hits: hits &+ other.hits, misses: misses &+ other.misses)
    }
}

extension Dictionary where Value == UInt64 {
    /// Adds each of `counts` to the count of its key (wrapping, like every counter here): how per-worker
    /// counters are summed, and how a worker's components report theirs into a snapshot.
    public mutating func addCounts(_ counts: [Key: UInt64]) {
        for (key, count) in counts { self[key, default: 0] &+= count }
    }
}

/// The shared store's counters, summed over workers.
public struct StoreMetrics: Sendable, Equatable {
    /// A worker has a `store` block: the families are exposed (a configuration without one shows none).
    public var configured = false
    /// Workers whose connection is ready (a gauge).
    public var available = 0
    /// Commands the store answered.
    public var roundTrips: UInt64 = 0
    /// Commands without an answer, by kind: `unavailable`, `timed_out`, `connection_lost`, `error_reply`.
    public var errors: [String: UInt64] = [:]
    /// Connection state changes: `connected`, `unavailable`, `reconnected`.
    public var stateChanges: [String: UInt64] = [:]
    /// Redis Cluster redirections followed, by kind: `moved`, `ask`.
    public var redirects: [String: UInt64] = [:]
    /// Per upstream name: calls answered from the store's level of the cache, lookups that found nothing
    /// usable, lookups and refresh claims that went on without the store, answers written, and
    /// stale-while-revalidate refreshes left to the replica holding the lock.
    public var hits: [String: UInt64] = [:]
    public var misses: [String: UInt64] = [:]
    public var fallbacks: [String: UInt64] = [:]
    public var writes: [String: UInt64] = [:]
    public var refreshesLeft: [String: UInt64] = [:]
    /// Per upstream name, for `rate … shared` and shared breakers (docs/operations/fleet.md): tokens the store
    /// granted, renewals it answered short (the fleet at its rate), renewals without an answer (the local
    /// limit decided for a while), and breakers opened here because another replica opened theirs.
    public var quotaTokensLeased: [String: UInt64] = [:]
    public var quotaWaits: [String: UInt64] = [:]
    public var quotaFallbacks: [String: UInt64] = [:]
    public var breakerOpensLearned: [String: UInt64] = [:]

    public init() {}

    public mutating func merge(_ other: StoreMetrics) {
        configured = configured || other.configured
        available += other.available
        roundTrips &+= other.roundTrips
        errors.addCounts(other.errors)
        stateChanges.addCounts(other.stateChanges)
        redirects.addCounts(other.redirects)
        hits.addCounts(other.hits)
        misses.addCounts(other.misses)
        fallbacks.addCounts(other.fallbacks)
        writes.addCounts(other.writes)
        refreshesLeft.addCounts(other.refreshesLeft)
        quotaTokensLeased.addCounts(other.quotaTokensLeased)
        quotaWaits.addCounts(other.quotaWaits)
        quotaFallbacks.addCounts(other.quotaFallbacks)
        breakerOpensLearned.addCounts(other.breakerOpensLearned)
    }
}
