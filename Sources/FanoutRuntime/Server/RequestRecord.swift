import FanoutCore

/// One request from its head to its end, as the access log, the metrics and the exported spans see it.
///
/// The dispatch makes it (``RequestDispatcher/dispatch(_:body:on:worker:)``): the request's id, its trace, the
/// matched route and the table it is counted in are set there, before the request's handler starts, and
/// nothing fills it in later. The connection holds it while the request is in hand and only reports the end:
/// it finishes the record once, when the answer is queued or abandoned, with the answer's status and the
/// calls as the exchange reports them; an `Upgrade` tunnel takes it over and finishes it when it closes. A
/// request refused before it could be dispatched (a head that does not parse or is too large, a request not
/// received in time, a body the parser refuses) gets a record the connection makes itself
/// (``init(refusedBeforeDispatch:target:worker:)``), with no route and no calls; so does a request to the admin
/// listener (``init(admin:worker:)``), whose record is never finished.
///
/// Each call names its place in the route and its upstream by index (``AccessLogLine/Call/identity``), in the
/// configuration the request was dispatched with: nothing is matched by position.
struct RequestRecord {
    let method: String
    let path: String
    let requestID: String
    let startedAt: UInt64
    /// The matched route's display name.
    let route: String?
    /// Where the request and its calls are counted once a route matched: the table of per-route counters of
    /// the configuration it was dispatched with (on this worker), and the route's index in that configuration.
    /// The table also names the upstreams the calls' identities point to.
    let counters: (table: RouteMetricsTable, route: Int)?
    /// The request's trace, once it is dispatched: its id and the parent id of the client's `traceparent`
    /// when it was taken. Kept as numbers; their hex forms are built only for an access-log line.
    let trace: TraceContext?
    /// A sampled request under `tracing`: its trace and the id of its server span.
    let serverSpan: (trace: TraceContext, spanID: UInt64)?

    /// A dispatched request. `route`: the matched route's index in `runtime` (nil when none matched), counted
    /// in `counters` (that configuration's table on this worker); `serverSpanID`: the id of its server span
    /// when it is sampled under `tracing`.
    init(
        dispatched head: HTTPRequestHead, route index: Int?, of runtime: RuntimeConfig, counters: RouteMetricsTable,
        trace: TraceContext, serverSpanID: UInt64?, worker: Worker
    ) {
        method = head.method
        path = head.target
        requestID = Self.requestID(of: head, worker: worker)
        startedAt = worker.loop.now
        if let index {
            route = runtime.resolvedRoutes[index].name
            self.counters = (counters, index)
        } else {
            route = nil
            self.counters = nil
        }
        self.trace = trace
        serverSpan = serverSpanID.map { (trace, $0) }
    }

    /// A request to the admin listener: neither logged nor counted, its record only gives the answer its
    /// `X-Request-Id`.
    init(admin head: HTTPRequestHead, worker: Worker) {
        method = head.method
        path = head.target
        requestID = Self.requestID(of: head, worker: worker)
        startedAt = worker.loop.now
        route = nil
        counters = nil
        trace = nil
        serverSpan = nil
    }

    /// A request the connection refuses before it could be dispatched: `-` for what could not be read.
    init(refusedBeforeDispatch method: String, target: String, worker: Worker) {
        self.method = method
        path = target
        requestID = worker.newRequestID()
        startedAt = worker.loop.now
        route = nil
        counters = nil
        trace = nil
        serverSpan = nil
    }

    /// The client's `X-Request-Id` when it is acceptable (``RequestIdentity``), else a new id.
    private static func requestID(of head: HTTPRequestHead, worker: Worker) -> String {
        RequestIdentity.accepted(head.headers[first: "x-request-id"]) ?? worker.newRequestID()
    }

    /// Whether this request's end writes an access-log line or spans: only then do its calls need the facts
    /// that only those read (span ids, HTTP versions, cache use, attempts). Metrics need none of them.
    func needsCallDetail(worker: Worker) -> Bool {
        worker.accessLog != nil || (serverSpan != nil && worker.tracer != nil)
    }

    /// Counts the request in `worker`'s metrics and writes its access-log line and spans. `clientAbort`: the
    /// client went away first (`status` is then 499). A cancelled call neither finished nor failed: it is in
    /// the log line only. `tunnel`: an `Upgrade` tunnel's end (status 101); its one call is in the log line
    /// only (the tunnel's bytes have counters of their own), and a tunnel exports no spans.
    func finish(
        status: Int, calls: CallReport, clientAbort: ClientDeparture?, tunnel: AccessLogLine.Tunnel? = nil,
        worker: Worker
    ) {
        worker.loop.refreshNow()
        let durationMs = Double(worker.loop.now &- startedAt) / 1_000_000
        let table = counters?.table
        let routeIndex = counters?.route ?? 0
        if let clientAbort {
            worker.metrics.recordClientAbort(route: route ?? "", reason: clientAbort, seconds: durationMs / 1_000)
        } else if let table {
            table.recordRequest(route: routeIndex, status: status, seconds: durationMs / 1_000)
        } else {
            worker.metrics.recordRequest(route: route ?? "", status: status, seconds: durationMs / 1_000)
        }
        if tunnel == nil { countCalls(calls, worker: worker) }
        let sink = worker.accessLog
        let tracer = serverSpan == nil || tunnel != nil ? nil : worker.tracer
        guard sink != nil || tracer != nil else { return }
        var line = AccessLogLine(
            time: iso8601Now(), method: method, path: path, route: self.route, status: status,
            durationMs: durationMs, requestID: requestID, traceID: trace?.traceIDHex,
            parentID: trace?.parentID.map(TraceContext.spanIDHex), calls: calls.entries, clientAbort: clientAbort)
        line.tunnel = tunnel
        if let span = serverSpan, let tracer {
            tracer.record(
                RequestSpans.spans(
                    for: line, trace: span.trace, serverSpanID: span.spanID, upstreamNames: table?.upstreamNames ?? [],
                    endUnixNano: wallClockNanoseconds(), newSpanID: TraceContext.newSpanID))
        }
        sink?.write(line.serialized())
    }

    /// Counts each call that was made: its duration in the request's table, by route and by the call's own
    /// index, and its failure by the name of its upstream. Calls come only from a matched route's exchange,
    /// so a request without a table has none.
    private func countCalls(_ calls: CallReport, worker: Worker) {
        guard let (table, routeIndex) = counters else { return }
        switch calls {
        case .counts(let counts):
            for count in counts { Self.count(count, table: table, route: routeIndex, worker: worker) }
        case .entries(let entries):
            // By index: a copy of each entry (its Strings) costs more than counting it.
            for index in entries.indices {
                if let count = CallCount(entries[index]) {
                    Self.count(count, table: table, route: routeIndex, worker: worker)
                }
            }
        }
    }

    private static func count(_ call: CallCount, table: RouteMetricsTable, route: Int, worker: Worker) {
        table.recordCall(route: route, call: call.identity.call, seconds: call.durationMs / 1_000)
        if let failure = call.failure {
            worker.metrics.recordUpstreamFailure(upstream: table.upstreamNames[call.identity.upstream], kind: failure)
        }
    }

    /// The request's streamed body was cut for moving slower than its route's `min_rate`; `side` is `client`
    /// or `upstream` (`fanout_min_rate_cuts_total`).
    func countMinRateCut(side: String, worker: Worker) {
        let key = ServerMetrics.MinRateCutKey(route: route ?? "", side: side)
        worker.metrics.minRateCuts[key, default: 0] &+= 1
    }
}

/// What a request's end reports of its calls (``RequestRecord/finish(status:calls:clientAbort:tunnel:worker:)``):
/// their access-log entries, or only what the metrics count of them (``CallCount``) when the request writes no
/// access-log line and exports no spans (``ClientConnection/recordsCallDetail``), which are all that read more.
enum CallReport {
    case entries([AccessLogCall])
    case counts([CallCount])

    /// No calls.
    static let none = CallReport.counts([])

    /// The access-log entries; none for counts.
    var entries: [AccessLogCall] {
        if case .entries(let entries) = self { return entries }
        return []
    }
}
