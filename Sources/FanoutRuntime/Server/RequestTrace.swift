import FanoutCore

/// The random half of tracing: a request's trace when the client sent none (or an invalid one) and a span
/// id per upstream call. Ids come from `SystemRandomNumberGenerator` (the kernel's CSPRNG; no Foundation
/// UUID), one 8-byte draw per span and two per started trace.
extension TraceContext {
    /// The trace of a request: the client's when its `traceparent` is valid (with its `tracestate`, when that
    /// looks valid), else a new one marked sampled, since fanout records every request in its access log.
    static func forRequest(_ headers: HTTPHeaders) -> TraceContext {
        let parent = headers.values(named: "traceparent")
        if !parent.isEmpty,
            let continued = TraceContext(traceparent: parent, tracestate: headers.values(named: "tracestate"))
        {
            return continued
        }
        return TraceContext(traceIDHigh: newNonZeroID(), traceIDLow: newNonZeroID(), sampled: true)
    }

    /// `traceparent` (this trace, `spanID` as the parent-id) and the client's `tracestate` when kept: the trace
    /// headers of one upstream call. Every call gets its own span id.
    func headerLines(spanID: UInt64) -> [String] {
        let parent = traceparentHeaderLine(spanID: spanID)
        guard let traceState else { return [parent] }
        return [parent, "tracestate: " + traceState]
    }

    /// A fresh span id for one upstream call (never zero, which the spec reserves as invalid).
    static func newSpanID() -> UInt64 { newNonZeroID() }

    private static func newNonZeroID() -> UInt64 {
        var random = SystemRandomNumberGenerator()
        while true {
            let id = random.next() as UInt64
            if id != 0 { return id }
        }
    }
}
