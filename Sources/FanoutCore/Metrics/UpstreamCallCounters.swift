/// What the upstream call layers of one worker count, per upstream name: the call cache (`CallCache`),
/// single-flight coalescing (`CallCoalescer`), hedges and retries (`CallAttempts`). Each layer keeps one and
/// a scrape merges them, worker by worker, with ``merge(_:)``.
public struct UpstreamCallCounters: Sendable, Equatable {
    /// Composite calls that joined an identical transfer already in flight instead of starting one.
    public var coalesced: [String: UInt64] = [:]
    /// Composite calls with a cache lifetime (`cache=`) answered from the worker's cache, and not.
    public var cacheHits: [String: UInt64] = [:]
    public var cacheMisses: [String: UInt64] = [:]
    /// Calls answered from a stale entry while it was refreshed (stale-while-revalidate), and because the
    /// partner failed (stale-if-error); and the background refreshes started.
    public var staleRevalidate: [String: UInt64] = [:]
    public var staleError: [String: UInt64] = [:]
    public var refreshes: [String: UInt64] = [:]
    /// Extra attempts of composite calls: retries and hedges sent, hedges whose answer won, and retries or
    /// hedges not sent because the upstream's `retry_budget` was spent.
    public var retries: [String: UInt64] = [:]
    public var hedges: [String: UInt64] = [:]
    public var hedgeWins: [String: UInt64] = [:]
    public var budgetRefusals: [String: UInt64] = [:]

    public init() {}

    /// Adds every count of `other` (another layer's, or another worker's).
    public mutating func merge(_ other: UpstreamCallCounters) {
        coalesced.addCounts(other.coalesced)
        cacheHits.addCounts(other.cacheHits)
        cacheMisses.addCounts(other.cacheMisses)
        staleRevalidate.addCounts(other.staleRevalidate)
        staleError.addCounts(other.staleError)
        refreshes.addCounts(other.refreshes)
        retries.addCounts(other.retries)
        hedges.addCounts(other.hedges)
        hedgeWins.addCounts(other.hedgeWins)
        budgetRefusals.addCounts(other.budgetRefusals)
    }
}
