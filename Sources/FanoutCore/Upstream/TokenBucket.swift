/// A request-rate limit (`rate N/s`) as a token bucket: a pure value driven by an injected monotonic clock
/// (nanoseconds). It refills continuously at `ratePerSecond` up to `capacity` tokens; each call takes one.
public struct TokenBucket: Sendable, Equatable {
    public private(set) var ratePerSecond: Double
    /// The burst: tokens it holds when full.
    public private(set) var capacity: Double
    public private(set) var tokens: Double
    private var refilledAt: UInt64

    /// A full bucket. `ratePerSecond` must be positive; `capacity` is at least one token.
    public init(ratePerSecond: Double, capacity: Double, now: UInt64) {
        self.ratePerSecond = ratePerSecond
        self.capacity = max(1, capacity)
        self.tokens = self.capacity
        self.refilledAt = now
    }

    /// Takes one token if there is one at `now`.
    public mutating func take(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Nanoseconds from `now` until a token is there (0 when one is there already), at least 1 ms when not.
    public func nanosecondsUntilToken(now: UInt64) -> UInt64 {
        var copy = self
        copy.refill(now: now)
        guard copy.tokens < 1 else { return 0 }
        let seconds = (1 - copy.tokens) / ratePerSecond
        return max(1_000_000, UInt64((seconds * 1e9).rounded(.up)))
    }

    /// A new rate and burst (a reload); the tokens collected so far are kept, up to the new capacity.
    public mutating func reconfigure(ratePerSecond: Double, capacity: Double, now: UInt64) {
        refill(now: now)
        self.ratePerSecond = ratePerSecond
        self.capacity = max(1, capacity)
        tokens = min(tokens, self.capacity)
    }

    private mutating func refill(now: UInt64) {
        guard now > refilledAt else { return }
        tokens = min(capacity, tokens + Double(now - refilledAt) / 1e9 * ratePerSecond)
        refilledAt = now
    }
}
