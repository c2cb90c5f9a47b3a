/// What the metrics count of one call a request made: which call of which route it was, how long it took and
/// how it failed. The metrics read no more than this, so a request that writes no access-log line and exports
/// no spans reports its calls as counts (``CompositeRun/callCounts``) instead of access-log entries, whose
/// names and optional details are built, copied and released for nobody (about 1,500 instructions per
/// `/overview` request of three calls, callgrind).
public struct CallCount: Sendable, Equatable {
    public var identity: AccessLogLine.Call.Identity
    public var durationMs: Double
    /// The ``CallFailure/kind`` of a failed call.
    public var failure: String?

    public init(identity: AccessLogLine.Call.Identity, durationMs: Double, failure: String?) {
        self.identity = identity
        self.durationMs = durationMs
        self.failure = failure
    }

    /// The count of an access-log entry: nil for a call that was never made (`skipped`) or was cancelled, which
    /// the metrics do not count (as ``ServerMetrics/recordCall(route:call:upstream:seconds:failure:)``).
    public init?(_ call: borrowing AccessLogLine.Call) {
        guard !call.cancelled, call.failure != "skipped" else { return nil }
        self.init(identity: call.identity, durationMs: call.durationMs, failure: call.failure)
    }
}
