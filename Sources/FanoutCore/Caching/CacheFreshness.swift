/// What an upstream answer allows the call cache to do with it, read from its headers once when it arrives
/// (RFC 9111, RFC 5861). Combined with a call's ``CachePolicy`` it gives that call's ``CacheWindows``: the
/// same stored entry may be fresh for one call and stale for another with a shorter `cache=`.
///
/// Honoured:
///
/// - only 2xx answers are stored;
/// - `Cache-Control: no-store`, `private` or `no-cache` → not stored (no-cache would need revalidation, which
///   fanout does not do);
/// - explicit freshness (RFC 9111 §4.2.1): `s-maxage`, else `max-age`, else `Expires` − `Date` (`Date`
///   missing or invalid: the time the answer arrived); an unparsable `s-maxage`/`max-age` or an invalid
///   `Expires` (for example `0`) means already stale. `Age` is subtracted (the partner's, not an apparent age
///   from `Date`: `Date` has whole seconds and the partner's clock, which would eat a short lifetime);
/// - `stale-while-revalidate=N` and `stale-if-error=N` (RFC 5861), which take precedence over the call's
///   defaults; `must-revalidate` and `proxy-revalidate` forbid serving stale at all; `s-maxage` implies
///   `proxy-revalidate` in a shared cache (RFC 9111 §5.2.2.10), so with it only the partner's own stale-*
///   directives apply, not the call's defaults;
/// - `Vary: *`, or a `Vary` naming a header fanout sends but leaves out of the cache key
///   (``unkeyedRequestHeaders``) → not stored. Every other header fanout sends is in the key, and one it does
///   not send is absent for every call of that key, so any other `Vary` is already satisfied.
///
/// Not honoured: heuristic freshness (no explicit freshness: `cache=upstream` does not store,
/// `cache=DUR` keeps its own lifetime), validators (`ETag`, `Last-Modified`: a stale entry is replaced by a
/// full transfer, never a conditional one), `no-cache` with field names (treated as `no-cache`),
/// `must-understand`, `immutable`, and the client's own `Cache-Control`.
public struct CacheFreshness: Sendable, Equatable {
    /// Request headers fanout sends but leaves out of the cache key because they differ on every request
    /// (see `CompositeExchange.coalescingKey`), lowercased.
    public static let unkeyedRequestHeaders: Set<String> = [
        "x-forwarded-for", "x-request-id", "traceparent", "tracestate",
    ]

    /// Explicit freshness left when the answer arrived, in milliseconds: the lifetime minus `Age`; 0 or less
    /// when it arrived stale; nil when the partner gave none.
    public var explicitFreshMs: Int?
    /// The partner's `stale-while-revalidate` and `stale-if-error`, in milliseconds (at most one day).
    public var staleWhileRevalidateMs: Int?
    public var staleIfErrorMs: Int?
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    public var staleForbidden = false
    /// `s-maxage` given: the call's stale defaults do not apply.
    public var sharedMaxAge = false

    public init(
        explicitFreshMs: Int?, staleWhileRevalidateMs: Int? = nil, staleIfErrorMs: Int? = nil,
        staleForbidden: Bool = false, sharedMaxAge: Bool = false
    ) {
        self.explicitFreshMs = explicitFreshMs
        self.staleWhileRevalidateMs = staleWhileRevalidateMs
        self.staleIfErrorMs = staleIfErrorMs
        self.staleForbidden = staleForbidden
        self.sharedMaxAge = sharedMaxAge
    }

    /// What the answer allows; nil when it must not be stored at all.
    /// - Parameter now: wall-clock seconds since the epoch when the answer arrived (for `Expires` without a
    ///   valid `Date`, and RFC 850 years).
    public init?(status: Int, headers: CacheHeaders, now: Int64) {
        guard (200...299).contains(status) else { return nil }
        if let vary = headers.vary {
            for name in vary.split(separator: ",") {
                let field = name.trimmingOWS().lowercased()
                if field == "*" || Self.unkeyedRequestHeaders.contains(field) { return nil }
            }
        }
        var maxAge: Int64?? = nil  // .some(nil): present but unparsable
        var sharedMaxAge: Int64?? = nil
        for rawDirective in (headers.cacheControl ?? "").split(separator: ",") {
            let (name, argument) = Self.split(rawDirective.trimmingOWS())
            switch name.lowercased() {
            case "no-store", "private", "no-cache":
                return nil
            case "max-age":
                maxAge = .some(argument.flatMap(Self.seconds))
            case "s-maxage":
                sharedMaxAge = .some(argument.flatMap(Self.seconds))
                self.sharedMaxAge = true
            case "must-revalidate", "proxy-revalidate":
                staleForbidden = true
            case "stale-while-revalidate":
                staleWhileRevalidateMs = argument.flatMap(Self.seconds).map(Self.limitedMs)
            case "stale-if-error":
                staleIfErrorMs = argument.flatMap(Self.seconds).map(Self.limitedMs)
            default:
                continue
            }
        }
        let lifetime: Int64?
        if let sharedMaxAge {
            lifetime = sharedMaxAge ?? 0
        } else if let maxAge {
            lifetime = maxAge ?? 0
        } else if let expires = headers.expires {
            if let end = HTTPDate.seconds(expires, now: now) {
                let start = headers.date.flatMap { HTTPDate.seconds($0, now: now) } ?? now
                lifetime = max(0, end - start)
            } else {
                lifetime = 0
            }
        } else {
            lifetime = nil
        }
        let age = headers.age.flatMap { Self.seconds($0.split(separator: ",").first?.trimmingOWS() ?? "") } ?? 0
        explicitFreshMs = lifetime.map { Int(($0 - age) * 1_000) }
    }

    /// The windows of an entry of this answer for a call with `policy`, in milliseconds after it was stored.
    public func windows(for policy: CachePolicy) -> CacheWindows {
        let fresh: Int
        switch policy.lifetime {
        case .upTo(let milliseconds):
            fresh = min(milliseconds, explicitFreshMs ?? milliseconds)
        case .upstream:
            guard let explicitFreshMs else { return CacheWindows(freshMs: 0, revalidateMs: 0, errorMs: 0) }
            fresh = min(explicitFreshMs, CachePolicy.upstreamLimitMs)
        }
        func window(_ directive: Int?, _ configured: Int) -> Int {
            if staleForbidden { return 0 }
            return directive ?? (sharedMaxAge ? 0 : configured)
        }
        let revalidate = window(staleWhileRevalidateMs, policy.staleWhileRevalidateMs)
        let error = window(staleIfErrorMs, policy.staleIfErrorMs)
        return CacheWindows(freshMs: fresh, revalidateMs: fresh + revalidate, errorMs: fresh + error)
    }

    private static func split(_ directive: Substring) -> (Substring, Substring?) {
        guard let equals = directive.firstIndex(of: "=") else { return (directive, nil) }
        var argument = directive[directive.index(after: equals)...]
        if argument.hasPrefix("\""), argument.hasSuffix("\""), argument.count >= 2 {
            argument = argument.dropFirst().dropLast()
        }
        return (directive[..<equals], argument)
    }

    /// A delta-seconds value: digits only; a huge value is clamped (RFC 9111 §1.2.2).
    private static func seconds(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return text.utf8.count > 10 ? 2_147_483_648 : min(Int64(text)!, 2_147_483_648)
    }

    private static func limitedMs(_ seconds: Int64) -> Int {
        Int(min(seconds * 1_000, Int64(CachePolicy.upstreamLimitMs)))
    }
}

/// When one call may use a stored entry, in milliseconds after it was stored: fresh before ``freshMs``
/// (served as a hit), then served at once while refreshed in the background before ``revalidateMs``, and
/// served only when the partner fails before ``errorMs``. A window that ends before ``freshMs`` is empty;
/// ``freshMs`` is 0 or less for an answer that arrived stale.
public struct CacheWindows: Sendable, Equatable {
    public var freshMs: Int
    public var revalidateMs: Int
    public var errorMs: Int

    public init(freshMs: Int, revalidateMs: Int, errorMs: Int) {
        self.freshMs = freshMs
        self.revalidateMs = revalidateMs
        self.errorMs = errorMs
    }

    /// How long the entry is worth keeping for this call; 0 or less: not at all.
    public var keepMs: Int { max(freshMs, revalidateMs, errorMs) }

    /// What an entry of this age is good for.
    public enum State: Equatable, Sendable {
        case fresh
        case staleWhileRevalidate
        /// Usable only if the partner fails.
        case staleIfError
        case expired
    }

    public func state(ageMs: Int) -> State {
        if ageMs < freshMs { return .fresh }
        if ageMs < revalidateMs { return .staleWhileRevalidate }
        if ageMs < errorMs { return .staleIfError }
        return .expired
    }
}

extension CallFailure {
    /// Whether a call that failed this way may be answered from a stale entry within its stale-if-error
    /// window (RFC 5861 §4: what would otherwise be a 500, 502, 503 or 504): the partner could not be reached,
    /// failed the TLS handshake, broke the connection, did not answer in time, or its admission (or a failed `oauth2` token) turned the call down. An answer the
    /// partner did send (a 4xx, a body over the limit) is its answer. 5xx answers are checked on the status.
    public var permitsStaleAnswer: Bool {
        switch self {
        case .timeout, .tooSlow, .refused, .unreachable, .connection, .tls, .circuitOpen, .overloaded, .auth:
            return true
        case .status(let code): return code >= 500
        case .invalidBody, .htmlPage, .tooLarge, .skipped, .tooManyItems: return false
        }
    }
}

extension Substring {
    fileprivate func trimmingOWS() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
