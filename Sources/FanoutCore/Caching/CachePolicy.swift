/// How one call uses the worker's cache: the call options `cache=DUR` or `cache=upstream`,
/// `stale_while_revalidate=DUR` and `stale_if_error=DUR`. What the partner's answer allows on top of that is
/// ``CacheFreshness``.
public struct CachePolicy: Sendable, Equatable {
    /// Where an entry's fresh lifetime comes from.
    public enum Lifetime: Sendable, Equatable {
        /// `cache=DUR`: up to this many milliseconds; the partner's explicit freshness (`s-maxage`, `max-age`,
        /// `Expires`) may shorten it, never lengthen it. Without explicit freshness: the whole `DUR`.
        case upTo(milliseconds: Int)
        /// `cache=upstream`: the partner's explicit freshness, at most ``CachePolicy/upstreamLimitMs``. Without
        /// explicit freshness the answer is not cached (no heuristic freshness, RFC 9111 §4.2.2).
        case upstream
    }

    /// The longest the partner's own headers can make an entry fresh, and each of its stale windows: one day.
    /// A `max-age=31536000` meant for a browser must not pin a call answer in a proxy without a purge; an
    /// operator who wants less writes `cache=DUR`, which bounds the lifetime the same way.
    public static let upstreamLimitMs = 86_400_000

    public var lifetime: Lifetime
    /// After the entry's fresh lifetime, how long it may be served at once while one background transfer
    /// refreshes it, when the partner's `Cache-Control` has no `stale-while-revalidate` of its own.
    public var staleWhileRevalidateMs: Int
    /// After the fresh lifetime, how long it may be served when the partner fails (transport failure,
    /// timeout, 5xx, breaker open), when the partner's `Cache-Control` has no `stale-if-error` of its own.
    public var staleIfErrorMs: Int

    public init(lifetime: Lifetime, staleWhileRevalidateMs: Int = 0, staleIfErrorMs: Int = 0) {
        self.lifetime = lifetime
        self.staleWhileRevalidateMs = staleWhileRevalidateMs
        self.staleIfErrorMs = staleIfErrorMs
    }
}

/// How a call with a ``CachePolicy`` was answered, for the access log (`"cache"` of a call).
public enum CacheUse: String, Sendable {
    /// From a fresh entry in the worker's cache.
    case hit
    /// From a fresh entry in the shared store (`store` block): another replica (or worker) asked the partner.
    case storeHit = "store_hit"
    /// No usable entry: the call went on to the partner (or joined a transfer in flight).
    case miss
    /// From a stale entry within its stale-while-revalidate window, a background refresh in flight.
    case staleRevalidate = "stale_revalidate"
    /// From a stale entry within its stale-if-error window, because the partner failed.
    case staleError = "stale_error"
}
