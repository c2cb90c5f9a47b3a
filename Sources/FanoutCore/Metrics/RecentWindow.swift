/// What "recent" means on the status page: the difference between the metrics now and a snapshot taken about
/// a minute ago, so percentiles and counts describe the last minute rather than the process's whole life.
///
/// A pure value driven by an injected monotonic clock (nanoseconds). It keeps the snapshots the status page
/// was computed from, at most one per ``spacingNs``: each ``advance(to:now:)`` answers the *baseline*, the
/// newest kept snapshot that is at least ``spanNs`` old, or the oldest one when none is that old yet, and
/// then drops the snapshots older than the baseline. The window is seeded with an empty snapshot at the
/// server's start, so for the first minute "recent" is "since start". Nothing is recorded while nobody looks
/// at the page: after a quiet hour the first answer covers the hour (and says so with its start time), the
/// next ones a minute again. At most `spanNs / spacingNs + 2` snapshots are kept.
public struct RecentWindow: Sendable {
    /// How far back "recent" reaches. Default 60 s.
    public let spanNs: UInt64
    /// The least time between two kept snapshots. Default 10 s.
    public let spacingNs: UInt64
    private var samples: [(at: UInt64, metrics: ServerMetrics)]

    /// - Parameter start: the monotonic time the counters started from (all zero then).
    public init(start: UInt64, spanNs: UInt64 = 60_000_000_000, spacingNs: UInt64 = 10_000_000_000) {
        self.spanNs = spanNs
        self.spacingNs = spacingNs
        self.samples = [(start, ServerMetrics())]
    }

    /// Snapshots kept (for tests of the bound).
    public var keptCount: Int { samples.count }

    /// Records `metrics` as the counters at `now` and answers the baseline to subtract from them: its
    /// counters and the monotonic time it was taken.
    public mutating func advance(to metrics: ServerMetrics, now: UInt64) -> (at: UInt64, metrics: ServerMetrics) {
        let old = samples.lastIndex { now >= $0.at && now - $0.at >= spanNs } ?? 0
        let baseline = samples[old]
        samples.removeFirst(old)
        if let newest = samples.last, now >= newest.at, now - newest.at >= spacingNs {
            samples.append((now, metrics))
        }
        return baseline
    }
}
