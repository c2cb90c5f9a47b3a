/// The head-sampling decision for a trace fanout starts (one without a valid incoming `traceparent`):
/// OpenTelemetry's `TraceIdRatioBased`, as the Go SDK computes it: the low 8 bytes of the trace id, shifted
/// right by one, below `ratio × 2⁶³`. Deterministic from the trace id, so every fanout (and any OTel SDK)
/// seeing the same id decides alike. A continued trace keeps its caller's decision (parent-based), which the
/// caller applies: this type is not asked then.
public struct TraceSampler: Sendable, Equatable {
    /// The bound the shifted id must stay under; `UInt64.max` samples everything.
    let bound: UInt64

    /// `ratio` in 0...1; 0 samples nothing, 1 everything.
    public init(ratio: Double) {
        if ratio >= 1 {
            bound = UInt64.max
        } else if ratio <= 0 {
            bound = 0
        } else {
            bound = UInt64(ratio * 9_223_372_036_854_775_808.0)
        }
    }

    public func samples(traceIDLow: UInt64) -> Bool {
        bound == UInt64.max || traceIDLow >> 1 < bound
    }

    /// The trace a request is served in, with the sampling decision made: a continued trace keeps its
    /// caller's flag (parent-based); one started here is sampled by the ratio, from its trace id.
    public func decide(_ trace: TraceContext) -> TraceContext {
        guard trace.parentID == nil else { return trace }
        var decided = trace
        decided.sampled = samples(traceIDLow: trace.traceIDLow)
        return decided
    }
}
