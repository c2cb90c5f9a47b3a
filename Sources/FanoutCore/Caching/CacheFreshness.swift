/// How long an upstream answer may be served from the cache, from the call's configured `cache` lifetime and
/// the answer's own headers. What is honoured:
///
/// - only 2xx answers are stored;
/// - `Cache-Control: no-store`, `private` or `no-cache` → not stored (no-cache would need revalidation, which
///   fanout does not do);
/// - `Cache-Control: s-maxage=N` (else `max-age=N`) → at most N seconds (0: not stored); the configured
///   lifetime stays the upper bound;
/// - `Vary: *` → not stored. Other `Vary` values need nothing: the cache key already holds every header line
///   fanout sends that could differ between clients (see README, Coalescing and caching).
///
/// Not honoured: `Expires`, `Age`, `must-revalidate`, `stale-while-revalidate`, `stale-if-error`, validators
/// (`ETag`, `Last-Modified`).
public enum CacheFreshness {
    /// Milliseconds the answer may be served, nil when it must not be stored.
    public static func lifetimeMs(configuredMs: Int, status: Int, cacheControl: String?, vary: String?) -> Int? {
        guard configuredMs > 0, (200...299).contains(status) else { return nil }
        if let vary, vary.split(separator: ",").contains(where: { $0.trimmingOWS() == "*" }) { return nil }
        var lifetime = configuredMs
        guard let cacheControl else { return lifetime }
        var maxAge: Int?
        var sharedMaxAge: Int?
        for rawDirective in cacheControl.split(separator: ",") {
            let directive = rawDirective.trimmingOWS()
            let (name, argument) = split(directive)
            switch name.lowercased() {
            case "no-store", "private", "no-cache":
                return nil
            case "max-age":
                maxAge = argument.flatMap(seconds)
                if maxAge == nil { return nil }  // unparsable: treated as stale (RFC 9111 §4.2.1)
            case "s-maxage":
                sharedMaxAge = argument.flatMap(seconds)
                if sharedMaxAge == nil { return nil }
            default:
                continue
            }
        }
        if let limit = sharedMaxAge ?? maxAge {
            lifetime = min(lifetime, limit > Int.max / 1_000 ? Int.max : limit * 1_000)
        }
        return lifetime > 0 ? lifetime : nil
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
    private static func seconds(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return text.utf8.count > 10 ? 2_147_483_648 : Int(text)
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
