/// A latency histogram with fixed buckets, in seconds, as Prometheus expects them: `observe` counts a value
/// in the first bucket whose upper bound holds it; the exposition makes the counts cumulative (`le`).
///
/// The bounds are fixed for the process (no configuration): 1 ms to 10 s, roughly ×2.5 apart, which covers a
/// proxy answering from memory and a partner timing out.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; `+Inf` is implicit.
    public static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Per bucket, not cumulative; the last one is `+Inf`.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init() {
        counts = Array(repeating: 0, count: Self.bounds.count + 1)
    }

    public mutating func observe(seconds: Double) {
        var index = 0
        while index < Self.bounds.count && seconds > Self.bounds[index] { index += 1 }
        counts[index] &+= 1
        sum += seconds
        count &+= 1
    }

    /// The observations made since `earlier` (an older copy of the same histogram): a bucket that looks
    /// smaller than before (it never should) counts as empty rather than wrapping.
    public func subtracting(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var delta = LatencyHistogram()
        for index in counts.indices {
            delta.counts[index] = counts[index] >= earlier.counts[index] ? counts[index] - earlier.counts[index] : 0
        }
        delta.count = delta.counts.reduce(0, &+)
        delta.sum = max(0, sum - earlier.sum)
        return delta
    }

    /// The `q`-quantile (0...1) in seconds, estimated as Prometheus's `histogram_quantile` does: find the
    /// bucket holding the rank `q × count` and interpolate linearly inside it (from 0 for the first bucket).
    /// A rank in the `+Inf` bucket answers the largest finite bound. nil without observations.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = min(max(q, 0), 1) * Double(count)
        var below: UInt64 = 0
        for (index, inBucket) in counts.enumerated() where inBucket > 0 {
            if Double(below &+ inBucket) >= rank {
                guard index < Self.bounds.count else { return Self.bounds[Self.bounds.count - 1] }
                let lower = index == 0 ? 0 : Self.bounds[index - 1]
                let upper = Self.bounds[index]
                return lower + (upper - lower) * max(0, rank - Double(below)) / Double(inBucket)
            }
            below &+= inBucket
        }
        return Self.bounds[Self.bounds.count - 1]
    }

    /// Adds `other`'s observations (another worker's) to these.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        sum += other.sum
        count &+= other.count
    }
}
