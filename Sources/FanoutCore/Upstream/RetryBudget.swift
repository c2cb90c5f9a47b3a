/// The share of extra attempts (retries and hedges) an upstream may get: `retry_budget PERCENT`, a pure value
/// driven by an injected monotonic clock (nanoseconds), one per upstream per worker.
///
/// Over a sliding window of ``windowSeconds`` (kept as one-second buckets), extra attempts may number at most
/// `percent` % of the calls started in the window, plus a floor of ``floorPerSecond`` per second of the window
/// so that an upstream with little traffic can still retry. Like Finagle's `RetryBudget` (a percentage of
/// requests plus `minRetriesPerSec`, over a 10 s window) and Envoy's `retry_budget` (a percentage with a
/// minimum): a partner in trouble gets at most that share of extra load, however many calls have `retries`.
public struct RetryBudget: Sendable, Equatable {
    /// The window extra attempts are counted over.
    public static let windowSeconds = 10
    /// Extra attempts allowed per second of the window whatever the traffic: 3/s, 30 per window.
    public static let floorPerSecond = 3

    /// `retry_budget PERCENT`: extra attempts as a share of the calls started, 0 to 100.
    public var percent: Int
    /// Per second of the window (indexed by second modulo the window): the second it counts, calls started,
    /// extra attempts made.
    private var seconds: [UInt64]
    private var calls: [Int]
    private var extras: [Int]

    public init(percent: Int) {
        self.percent = percent
        self.seconds = Array(repeating: UInt64.max, count: Self.windowSeconds)
        self.calls = Array(repeating: 0, count: Self.windowSeconds)
        self.extras = Array(repeating: 0, count: Self.windowSeconds)
    }

    /// Counts one call started at `now` (its first attempt).
    public mutating func callStarted(now: UInt64) {
        let index = bucket(now: now)
        calls[index] += 1
    }

    /// Takes the budget for one extra attempt at `now`: true (and counted) when the window has room for it.
    public mutating func spendExtra(now: UInt64) -> Bool {
        let index = bucket(now: now)
        guard extrasInWindow < allowedExtras else { return false }
        extras[index] += 1
        return true
    }

    /// Extra attempts the window allows now: `percent` % of its calls plus the floor.
    public var allowedExtras: Int {
        callsInWindow * percent / 100 + Self.floorPerSecond * Self.windowSeconds
    }

    /// Calls and extra attempts counted in the current window (as of the last `callStarted`/`spendExtra`).
    public var callsInWindow: Int { calls.reduce(0, +) }
    public var extrasInWindow: Int { extras.reduce(0, +) }

    /// The bucket of `now`'s second, emptied first when it last counted an older second. Buckets of seconds
    /// that fell out of the window are emptied too, so the sums only cover the window.
    private mutating func bucket(now: UInt64) -> Int {
        let second = now / 1_000_000_000
        let window = UInt64(Self.windowSeconds)
        let index = Int(second % window)
        // Already this second's bucket: the window was swept when it became so (the clock is monotonic), so
        // counting a call is one increment, not a sweep of ten buckets per call.
        if seconds[index] == second { return index }
        for other in seconds.indices where seconds[other] != UInt64.max {
            if seconds[other] > second || second - seconds[other] >= window {
                seconds[other] = UInt64.max
                calls[other] = 0
                extras[other] = 0
            }
        }
        seconds[index] = second
        calls[index] = 0
        extras[index] = 0
        return index
    }
}
