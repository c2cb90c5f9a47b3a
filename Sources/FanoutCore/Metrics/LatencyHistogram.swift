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

    /// Adds `other`'s observations (another worker's) to these.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        sum += other.sum
        count &+= other.count
    }
}
