/// `min_rate RATE [GRACE]` of a proxy route: the slowest a streamed body may move, the client's request body
/// coming in and the upstream's answer coming back, so that a peer sending a byte just under the idle limit
/// cannot hold a connection for ever. See ``RateBudget`` for how it is measured.
public struct MinimumRate: Sendable, Equatable, CustomStringConvertible {
    /// Bytes per second, at least 1.
    public var bytesPerSecond: Int
    /// The most a body may lag behind the rate (milliseconds): the budget it starts with and never exceeds.
    public var graceMs: Int

    /// The default of every proxy route: 1 KiB/s with 30 s of grace. A mobile client on a poor link moves tens
    /// of KiB/s, so only a deliberate drip falls below; one holds a connection for about 30 s (plus what its
    /// bytes earned), instead of for ever. Kestrel's minimum data rate is 240 bytes/s with 5 s of grace, Apache's
    /// mod_reqtimeout 500 bytes/s after 20 s; this one is higher, and gives a stalled peer longer.
    public static let standard = MinimumRate(bytesPerSecond: 1024, graceMs: 30_000)

    public init(bytesPerSecond: Int, graceMs: Int) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        self.graceMs = max(1, graceMs)
    }

    /// As it is written in the configuration: `1k/s 30s`, `1500/s 2500ms`.
    public var description: String {
        let rate =
            bytesPerSecond % (1 << 20) == 0
            ? "\(bytesPerSecond >> 20)m" : bytesPerSecond % 1024 == 0 ? "\(bytesPerSecond >> 10)k" : "\(bytesPerSecond)"
        let grace = graceMs % 1_000 == 0 ? "\(graceMs / 1_000)s" : "\(graceMs)ms"
        return "\(rate)/s \(grace)"
    }
}
