import FanoutCore

/// One request from its head to its end, as the access log, the metrics and the exported spans see it.
///
/// The connection opens it when a request is received (or refused before one could be parsed); the dispatch
/// fills it in (the matched route, the upstream of each of its calls, the table it is counted in, the trace);
/// whoever ends the request finishes it once, with the answer's status and the calls as the exchange reports
/// them: the connection when the answer is queued or abandoned, a tunnel when it closes. Calls are matched to
/// their upstreams and their series by call index: an exchange reports its calls in the route's order.
struct RequestRecord {
    var method: String
    var path: String
    var route: String?
    /// Where the request and its calls are counted once a route matched: the table of per-route counters of
    /// the configuration it was dispatched with (on this worker), and the route's index in that configuration.
    var counters: (table: RouteMetricsTable, route: Int)?
    /// The upstream name of each call the route makes, by call index.
    var callUpstreams: [String] = []
    var requestID: String
    var startedAt: UInt64
    /// The request's trace, once it is dispatched: its id and the parent id of the client's `traceparent`
    /// when it was taken. Kept as numbers; their hex forms are built only for an access-log line.
    var trace: TraceContext?
    /// A sampled request under `tracing`: its trace and the id of its server span.
    var serverSpan: (trace: TraceContext, spanID: UInt64)?

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
        status: Int, calls: [AccessLogCall], clientAbort: ClientDeparture?, tunnel: AccessLogLine.Tunnel? = nil,
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
        if tunnel == nil { countCalls(calls, table: table, routeIndex: routeIndex, worker: worker) }
        let sink = worker.accessLog
        let tracer = serverSpan == nil || tunnel != nil ? nil : worker.tracer
        guard sink != nil || tracer != nil else { return }
        var line = AccessLogLine(
            time: iso8601Now(), method: method, path: path, route: self.route, status: status,
            durationMs: durationMs, requestID: requestID, traceID: trace?.traceIDHex,
            parentID: trace?.parentID.map(TraceContext.spanIDHex), calls: calls, clientAbort: clientAbort)
        line.tunnel = tunnel
        if let span = serverSpan, let tracer {
            tracer.record(
                RequestSpans.spans(
                    for: line, trace: span.trace, serverSpanID: span.spanID, callUpstreams: callUpstreams,
                    endUnixNano: wallClockNanoseconds(), newSpanID: TraceContext.newSpanID))
        }
        sink?.write(line.serialized())
    }

    /// Counts each call that was made: its duration in `table` (by route and call index) when the route lists
    /// it, else by name in the worker's metrics, and its failure by upstream name.
    private func countCalls(_ calls: [AccessLogCall], table: RouteMetricsTable?, routeIndex: Int, worker: Worker) {
        // By index, reading single fields: a copy of each call (its Strings) costs more than counting it.
        for callIndex in calls.indices where !calls[callIndex].cancelled {
            let seconds = calls[callIndex].durationMs / 1_000
            let failure = calls[callIndex].failure
            if let table, table.hasCall(route: routeIndex, call: callIndex) {
                // `skipped`: never made, not recorded (as ServerMetrics.recordCall).
                if failure == "skipped" { continue }
                table.recordCall(route: routeIndex, call: callIndex, seconds: seconds)
                if let failure {
                    worker.metrics.recordUpstreamFailure(upstream: upstream(ofCall: callIndex), kind: failure)
                }
            } else {
                worker.metrics.recordCall(
                    route: route ?? "", call: calls[callIndex].name, upstream: upstream(ofCall: callIndex),
                    seconds: seconds, failure: failure)
            }
        }
    }

    /// The upstream of call `index` ("" for a call the route does not list).
    func upstream(ofCall index: Int) -> String {
        index < callUpstreams.count ? callUpstreams[index] : ""
    }

    /// The request's streamed body was cut for moving slower than its route's `min_rate`; `side` is `client`
    /// or `upstream` (`fanout_min_rate_cuts_total`).
    func countMinRateCut(side: String, worker: Worker) {
        let key = ServerMetrics.MinRateCutKey(route: route ?? "", side: side)
        worker.metrics.minRateCuts[key, default: 0] &+= 1
    }
}
