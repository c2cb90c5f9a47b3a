/// Holds one streamed body to its ``MinimumRate``: a time budget that starts at the grace period, grows by one
/// second for every `bytesPerSecond` bytes that move (never beyond the grace period) and runs down with time.
/// When it is spent, the body is too slow. So over any stretch of time T, a body that is not cut moved at least
/// `bytesPerSecond × (T − grace)` bytes: fast bytes early buy no licence to drip later.
///
/// While the body is held back by the other side (back-pressure: fanout stopped reading a client whose upload
/// the upstream has not taken, or paused an upstream whose answer the client has not read), the budget is
/// paused and does not run down. A pure value on an injected monotonic clock (nanoseconds).
public struct RateBudget: Sendable, Equatable {
    public let rate: MinimumRate
    /// Where the budget runs out unless bytes move first (while paused: where it would have run out at the
    /// moment it was paused).
    public private(set) var deadline: UInt64
    /// When ``pause(at:)`` was called; nil while the body is measured.
    public private(set) var pausedAt: UInt64?

    private var graceNanoseconds: UInt64 { UInt64(rate.graceMs) &* 1_000_000 }

    /// A full budget at `start`.
    public init(_ rate: MinimumRate, start: UInt64) {
        self.rate = rate
        self.deadline = start &+ UInt64(rate.graceMs) &* 1_000_000
    }

    /// `count` bytes moved at `now`.
    public mutating func bytesMoved(_ count: Int, at now: UInt64) {
        guard count > 0 else { return }
        let earned = UInt64(min(Double(count) / Double(rate.bytesPerSecond) * 1e9, Double(graceNanoseconds)))
        deadline = min(deadline &+ earned, (pausedAt ?? now) &+ graceNanoseconds)
    }

    /// The other side holds the body back from `now` on: time stops counting. Idempotent.
    public mutating func pause(at now: UInt64) {
        if pausedAt == nil { pausedAt = now }
    }

    /// The other side lets the body move again at `now`: the budget runs on from where it was paused.
    public mutating func resume(at now: UInt64) {
        guard let pausedAt else { return }
        self.pausedAt = nil
        deadline = min(deadline &+ (now &- min(now, pausedAt)), now &+ graceNanoseconds)
    }

    /// Whether the budget is spent at `now` (never while paused).
    public func isSpent(at now: UInt64) -> Bool {
        pausedAt == nil && now >= deadline
    }
}
