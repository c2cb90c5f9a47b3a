/// `cors { … }`: which browser origins may read a route's answers, decided without calling any partner
/// (the Fetch standard's CORS protocol, https://fetch.spec.whatwg.org/#http-cors-protocol).
///
/// - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by fanout itself:
///   204 with the `Access-Control-Allow-*` fields when the origin, the method and every requested header are
///   allowed, else 403 (``preflight(origin:requestMethod:requestHeaders:)``).
/// - Any other answer of the route to an allowed origin gets `Access-Control-Allow-Origin` (and
///   `Access-Control-Allow-Credentials`, `Access-Control-Expose-Headers` when configured); an answer to another
///   origin gets none of them (``actualHeaders(origin:)``). With an origin list every answer carries
///   `Vary: Origin`, since it differs by origin.
public struct CORSPolicy: Sendable, Equatable {
    /// `origins`: `*` or a list of origins, each exact (`https://a.example`) or with one leading wildcard label
    /// (`https://*.b.example` matches `https://x.b.example` and `https://x.y.b.example`, not `https://b.example`).
    public enum Origins: Sendable, Equatable {
        case any
        case list([String])
    }

    public var origins: Origins
    /// `methods`: the methods a preflight may ask for, uppercase. Empty (default): any method the route serves.
    public var methods: [String] = []
    /// `headers`: request headers a preflight may ask for, lowercased; `*` (``anyHeader``): any. The
    /// CORS-safelisted `Accept`, `Accept-Language`, `Content-Language` and `Content-Type` are always allowed.
    public var headers: [String] = []
    public var anyHeader = false
    /// `credentials on`: answers say `Access-Control-Allow-Credentials: true` (cookies, Authorization).
    public var credentials = false
    /// `max_age`: how long a browser may keep a preflight's answer, in seconds. nil: the browser's default.
    public var maxAgeSeconds: Int?
    /// `expose`: answer headers a page may read beyond the safelisted ones.
    public var expose: [String] = []

    public init(origins: Origins) {
        self.origins = origins
    }

    static let safelistedRequestHeaders: Set<String> = [
        "accept", "accept-language", "content-language", "content-type",
    ]

    /// Whether a request's `Origin` is allowed (compared without regard to case).
    public func allows(origin: String) -> Bool {
        switch self.origins {
        case .any:
            return true
        case .list(let patterns):
            let origin = origin.lowercased()
            return patterns.contains { Self.matches(origin, pattern: $0) }
        }
    }

    /// `https://*.b.example` matches an origin with one or more DNS labels in place of `*`.
    static func matches(_ origin: String, pattern: String) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return origin == pattern }
        let prefix = pattern[..<star]
        let suffix = pattern[pattern.index(after: star)...]
        guard origin.utf8.count > prefix.utf8.count + suffix.utf8.count, origin.hasPrefix(prefix),
            origin.hasSuffix(suffix)
        else { return false }
        let labels = origin.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        return labels.first != UInt8(ascii: ".")
            && labels.allSatisfy {
                ASCII.isDigit($0) || (ASCIICase.lowercased($0) >= 0x61 && ASCIICase.lowercased($0) <= 0x7A)
                    || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            }
    }

    /// The answer to a preflight request to a route with this policy.
    /// - Parameters:
    ///   - requestMethod: `Access-Control-Request-Method`; the caller has checked that the route serves it.
    ///   - requestHeaders: `Access-Control-Request-Headers`, a comma-separated list, if sent.
    public func preflight(origin: String, requestMethod: String, requestHeaders: String?) -> HTTPResponse {
        guard self.allows(origin: origin) else {
            return .error(status: 403, message: "CORS preflight refused: origin \(origin) is not allowed")
        }
        if !self.methods.isEmpty, !self.methods.contains(requestMethod) {
            return .error(status: 403, message: "CORS preflight refused: method \(requestMethod) is not allowed")
        }
        let requested = Self.names(requestHeaders ?? "")
        if !self.anyHeader {
            for name in requested where !self.headers.contains(name) && !Self.safelistedRequestHeaders.contains(name) {
                return .error(status: 403, message: "CORS preflight refused: header \(name) is not allowed")
            }
        }
        var fields = self.originFields(origin)
        fields.append(
            (
                "Access-Control-Allow-Methods",
                self.methods.isEmpty ? requestMethod : self.methods.joined(separator: ", ")
            ))
        if !requested.isEmpty {
            fields.append(("Access-Control-Allow-Headers", requested.joined(separator: ", ")))
        }
        if let maxAge = self.maxAgeSeconds { fields.append(("Access-Control-Max-Age", String(maxAge))) }
        fields.append(("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"))
        return HTTPResponse(status: 204, headers: fields)
    }

    /// The fields an answer that is not a preflight gets, for a request with `origin` (nil: no `Origin`).
    public func actualHeaders(origin: String?) -> [HeaderField] {
        var fields: [HeaderField] = []
        if let origin, self.allows(origin: origin) {
            fields = self.originFields(origin).map { HeaderField(name: $0.name, value: $0.value) }
            if !self.expose.isEmpty {
                fields.append(
                    HeaderField(name: "Access-Control-Expose-Headers", value: self.expose.joined(separator: ", ")))
            }
        }
        if case .list = self.origins { fields.append(HeaderField(name: "Vary", value: "Origin")) }
        return fields
    }

    /// `Access-Control-Allow-Origin` (`*` for `origins *`, which config refuses with credentials) and
    /// `Access-Control-Allow-Credentials`.
    private func originFields(_ origin: String) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        if case .any = self.origins {
            fields.append(("Access-Control-Allow-Origin", "*"))
        } else {
            fields.append(("Access-Control-Allow-Origin", origin))
        }
        if self.credentials { fields.append(("Access-Control-Allow-Credentials", "true")) }
        return fields
    }

    /// The lowercased, trimmed, non-empty members of a comma-separated list of header names.
    static func names(_ list: String) -> [String] {
        list.split(separator: ",").compactMap { member in
            let trimmed = member.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }
            return trimmed.isEmpty ? nil : String(trimmed.reversed()).lowercased()
        }
    }

    /// Whether `name` is a CORS answer field (`Access-Control-…`): a route with a policy drops a partner's own.
    public static func isCORSField(_ name: String) -> Bool {
        name.utf8.count > 15 && name.lowercased().hasPrefix("access-control-")
    }
}
