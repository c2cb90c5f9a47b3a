/// What a fleet of replicas (a `store` block: `rate … shared` and fleet-wide breakers) decides in an
/// ``AdmissionController``'s place. The controller asks it before it spends a local `rate` token and before it
/// lets a half-open probe through, and tells it when a breaker opens and when a probe ends. It reads its own
/// clock; the runtime's conformer carries out the store commands its answers need.
///
/// Without a store the controller is given ``NoFleet``, or a conformer that answers as it does: every decision
/// stays local. (Pass a concrete type: the controller's methods are generic over it, and a generic conformer
/// such as `Optional` would make each question go through unspecialized code on the hot path.)
public protocol AdmissionFleet {
    /// Spends a leased `rate` token of `slot`: nil when the fleet does not decide the slot's rate now (the
    /// local bucket does); false when the call must wait (the fleet wakes the slot when tokens come).
    func takeToken(slot: Int) -> Bool?
    /// Whether a leased token is there, without spending it; nil when the fleet does not decide.
    func hasToken(slot: Int) -> Bool?
    /// Whether the fleet decides the slot's rate now (then it, not a rate timer, wakes the slot).
    func managesRate(slot: Int) -> Bool
    /// Whether a call the local `breaker` lets through must fail fast all the same (it would be the half-open
    /// probe, and this worker does not hold the fleet's probe lock).
    func holdsBackProbe(slot: Int, breaker: CircuitBreaker) -> Bool
    /// The local breaker of `slot` opened.
    func breakerOpened(slot: Int, cooldownMs: Int)
    /// A probe of `slot` ended, after its outcome was recorded.
    func probeEnded(slot: Int)
}

/// No fleet: rates and breakers are decided by each worker alone.
public struct NoFleet: AdmissionFleet {
    public init() {}
    public func takeToken(slot: Int) -> Bool? { nil }
    public func hasToken(slot: Int) -> Bool? { nil }
    public func managesRate(slot: Int) -> Bool { false }
    public func holdsBackProbe(slot: Int, breaker: CircuitBreaker) -> Bool { false }
    public func breakerOpened(slot: Int, cooldownMs: Int) {}
    public func probeEnded(slot: Int) {}
}
