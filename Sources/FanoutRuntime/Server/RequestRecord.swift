import FanoutCore

/// One request from its head to its end, as the access log, the metrics and the exported spans see it.
///
/// The connection opens it when a request is received (or refused before one could be parsed); the dispatch
/// fills it in (the matched route and the upstream of each of its calls, the trace); whoever ends the request
/// finishes it once, with the answer's status and the calls as the exchange reports them: the connection when
/// the answer is queued or abandoned, a tunnel when it closes. Calls are matched to their upstreams by call
/// index: an exchange reports its calls in the route's order.
struct RequestRecord {
    var method: String
    var path: String
    var route: String?
    /// The upstream name of each call the route makes, by call index.
    var callUpstreams: [String] = []
    var requestID: String
    var startedAt: UInt64
    /// The W3C trace id, once the request is dispatched.
    var traceID: String?
    /// The parent id of the client's `traceparent`, when it was taken.
    var parentID: String?
    /// A sampled request under `tracing`: its trace and the id of its server span.
    var serverSpan: (trace: TraceContext, spanID: UInt64)?

    /// Counts the request in `worker`'s metrics and writes its access-log line and spans. `clientAbort`: the
    /// client went away first (`status` is then 499). A cancelled call neither finished nor failed: it is in
    /// the log line only.
    func finish(status: Int, calls: [AccessLogCall], clientAbort: ClientDeparture?, worker: Worker) {
        worker.loop.refreshNow()
        let durationMs = Double(worker.loop.now &- startedAt) / 1_000_000
        let route = self.route ?? ""
        if let clientAbort {
            worker.metrics.recordClientAbort(route: route, reason: clientAbort, seconds: durationMs / 1_000)
        } else {
            worker.metrics.recordRequest(route: route, status: status, seconds: durationMs / 1_000)
        }
        for (index, call) in calls.enumerated() where !call.cancelled {
            worker.metrics.recordCall(
                route: route, call: call.name, upstream: upstream(ofCall: index), seconds: call.durationMs / 1_000,
                failure: call.failure)
        }
        let sink = worker.accessLog
        guard sink != nil || serverSpan != nil else { return }
        let line = AccessLogLine(
            time: iso8601Now(), method: method, path: path, route: self.route, status: status,
            durationMs: durationMs, requestID: requestID, traceID: traceID, parentID: parentID, calls: calls,
            clientAbort: clientAbort)
        if let span = serverSpan, let tracer = worker.tracer {
            tracer.record(
                RequestSpans.spans(
                    for: line, trace: span.trace, serverSpanID: span.spanID, callUpstreams: callUpstreams,
                    endUnixNano: wallClockNanoseconds(), newSpanID: TraceContext.newSpanID))
        }
        sink?.write(line.serialized())
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
