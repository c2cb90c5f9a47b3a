/// What one call of a composite route contributes to a derived `Cache-Control` (`cache_control derived`).
public enum CallFreshness: Sendable, Equatable {
    /// The call's answer is fresh for this long yet (0 or less: stale), by its `cache=` policy and the
    /// partner's own freshness (``CacheFreshness/windows(for:)``), whether it came from the cache or the
    /// partner just now.
    case fresh(remainingMs: Int)
    /// The call failed, was skipped, has no `cache=`, or its answer may not be stored (`no-store`, `private`,
    /// `no-cache`, not 2xx, `cache=upstream` without explicit freshness).
    case uncacheable
}

/// `cache_control derived`: the composite answer's `Cache-Control`, from its calls.
///
/// The rule: a 2xx answer whose every call contributed ``CallFreshness/fresh(remainingMs:)`` gets
/// `Cache-Control: max-age=N`, N the shortest remaining freshness of those calls in whole seconds, rounded
/// down (a stale one gives 0). Any other answer gets `no-store`: a non-2xx status, a route without calls,
/// or one call that is ``CallFreshness/uncacheable``. A `for_each` call contributes its shortest item.
public enum DerivedCacheControl {
    public static func value(status: Int, calls: [CallFreshness]) -> String {
        guard (200...299).contains(status), !calls.isEmpty else { return "no-store" }
        var shortest = Int.max
        for call in calls {
            switch call {
            case .uncacheable: return "no-store"
            case .fresh(let remainingMs): shortest = min(shortest, remainingMs)
            }
        }
        return "max-age=\(max(0, shortest) / 1_000)"
    }

    /// Two contributions of one call (its `for_each` items, a hedge): the shorter wins, uncacheable wins all.
    public static func combine(_ a: CallFreshness?, _ b: CallFreshness) -> CallFreshness {
        switch (a, b) {
        case (nil, _): return b
        case (.uncacheable, _), (_, .uncacheable): return .uncacheable
        case (.fresh(let x), .fresh(let y)): return .fresh(remainingMs: min(x, y))
        }
    }
}
