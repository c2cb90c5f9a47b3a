/// The spans of one answered request, built from what its access-log line holds: a server span for the
/// request and a client span per upstream call that was made (or answered from the cache).
///
/// Ids: the server span gets `serverSpanID`, a child of the client's `traceparent` parent when the trace was
/// continued. A call's span id is the one its `traceparent` carried to the partner, so the partner's own
/// spans hang under fanout's client span; a `for_each` call has one client span per item sent. A call
/// without a span id that was still answered (a cache hit) gets one from `newSpanID`. Skipped calls were never
/// made and get no span.
///
/// Attributes follow the OpenTelemetry HTTP conventions where one exists (`http.request.method`,
/// `url.path`, `http.response.status_code`, `error.type`), and `fanout.*` for the rest.
public enum RequestSpans {
    /// - Parameter upstreamNames: the upstream names of the configuration the request was dispatched with, by
    ///   upstream index: a call's ``AccessLogLine/Call/identity`` names its upstream by that index.
    public static func spans(
        for line: AccessLogLine, trace: TraceContext, serverSpanID: UInt64, upstreamNames: [String],
        endUnixNano: UInt64, newSpanID: () -> UInt64
    ) -> [TraceSpan] {
        let durationNano = nanoseconds(line.durationMs)
        let start = endUnixNano >= durationNano ? endUnixNano - durationNano : 0
        var server = TraceSpan(
            traceIDHigh: trace.traceIDHigh, traceIDLow: trace.traceIDLow, spanID: serverSpanID,
            parentSpanID: trace.parentID, traceState: trace.traceState, name: line.route ?? line.method,
            kind: .server, startUnixNano: start, endUnixNano: endUnixNano, isError: line.status >= 500)
        let path = line.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        server.attributes = [
            .init("http.request.method", .string(line.method)),
            .init("url.path", .string(String(path))),
            .init("http.response.status_code", .int(Int64(line.status))),
            .init("fanout.request_id", .string(line.requestID)),
        ]
        if let route = line.route { server.attributes.append(.init("http.route", .string(route))) }
        if let abort = line.clientAbort {
            server.attributes.append(.init("fanout.client_abort", .string(abort.rawValue)))
        }
        var spans = [server]
        for call in line.calls where call.failure != "skipped" {
            let upstreamIndex = call.identity.upstream
            let upstream = upstreamIndex < upstreamNames.count ? upstreamNames[upstreamIndex] : ""
            let callStart = start &+ nanoseconds(call.startOffsetMs)
            var span = TraceSpan(
                traceIDHigh: trace.traceIDHigh, traceIDLow: trace.traceIDLow, spanID: 0, parentSpanID: serverSpanID,
                traceState: trace.traceState, name: call.name, kind: .client, startUnixNano: callStart,
                endUnixNano: min(endUnixNano, callStart &+ nanoseconds(call.durationMs)),
                attributes: attributes(of: call, upstream: upstream), isError: call.failure != nil)
            if let items = call.itemSpanIDs {
                for (item, id) in items.enumerated() {
                    span.spanID = spanID(hex: id) ?? newSpanID()
                    var itemSpan = span
                    itemSpan.attributes.append(.init("fanout.item", .int(Int64(item))))
                    spans.append(itemSpan)
                }
            } else if call.spanID != nil || call.cache != nil {
                span.spanID = call.spanID.flatMap(spanID(hex:)) ?? newSpanID()
                spans.append(span)
            }
        }
        return spans
    }

    static func attributes(of call: AccessLogLine.Call, upstream: String) -> [TraceSpan.Attribute] {
        var attributes: [TraceSpan.Attribute] = [
            .init("fanout.call", .string(call.name)),
            .init("fanout.upstream", .string(upstream)),
        ]
        if let status = call.status { attributes.append(.init("http.response.status_code", .int(Int64(status)))) }
        if let failure = call.failure { attributes.append(.init("error.type", .string(failure))) }
        if let httpVersion = call.httpVersion {
            attributes.append(.init("network.protocol.version", .string(httpVersion)))
        }
        attributes.append(.init("fanout.attempts", .int(Int64(call.attempts ?? 1))))
        attributes.append(.init("fanout.hedged", .bool(call.hedged)))
        if let cache = call.cache {
            attributes.append(.init("fanout.cache", .string(cache)))
            attributes.append(.init("fanout.cache.hit", .bool(cache != "miss")))
        }
        if call.cancelled { attributes.append(.init("fanout.cancelled", .bool(true))) }
        return attributes
    }

    static func nanoseconds(_ milliseconds: Double) -> UInt64 {
        milliseconds > 0 ? UInt64(milliseconds * 1_000_000) : 0
    }

    /// Sixteen hex digits back to the id (the access log keeps ids as text).
    static func spanID(hex: String) -> UInt64? {
        UInt64(hex, radix: 16)
    }
}
