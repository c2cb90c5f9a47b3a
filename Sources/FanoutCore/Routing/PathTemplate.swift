/// A route path such as `/products/{id}/overview` or `/api/{rest...}`.
///
/// The path is split on `/` after its leading slash, so `/` is one empty literal segment and `/a/` ends
/// with an empty literal segment (a trailing slash is significant). Rules:
/// - it starts with `/`, and only the last segment may be empty;
/// - a parameter `{name}` is a whole segment; `name` is `[A-Za-z_][A-Za-z0-9_]*`, unique in the path;
/// - a catch-all `{name...}` is the last segment; it matches zero or more remaining segments;
/// - literal segments use unreserved characters, sub-delimiters, `:` and `@` only (no `%`), and are never
///   `.` or `..`.
public struct PathTemplate: Sendable {
    /// One `/`-separated piece of the template.
    public enum Segment: Sendable, Equatable {
        /// Compared byte for byte with the client's raw (still percent-encoded) segment.
        case literal(String)
        /// `{name}`: exactly one non-empty segment, percent-decoded once.
        case parameter(String)
        /// `{name...}`: every remaining segment, possibly none.
        case catchAll(String)
    }

    /// The template as written.
    public let raw: String
    /// The segments after the leading `/`.
    public let segments: [Segment]

    /// Parses a route path template.
    /// - Throws: `TemplateSyntaxError` with the UTF-8 offset of the offending character.
    public init(parsing raw: String) throws(TemplateSyntaxError) {
        let bytes = Array(raw.utf8)
        guard bytes.first == UInt8(ascii: "/") else {
            throw TemplateSyntaxError(offset: 0, message: "a route path must start with '/'")
        }
        var segments: [Segment] = []
        var names: Set<String> = []
        var start = 1
        while true {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            let isLast = end == bytes.endIndex
            let segment = try Self.parseSegment(bytes[start..<end], offset: start, isLast: isLast)
            switch segment {
            case .parameter(let name), .catchAll(let name):
                guard names.insert(name).inserted else {
                    throw TemplateSyntaxError(offset: start, message: "duplicate parameter name '\(name)'")
                }
            case .literal:
                break
            }
            if case .catchAll(let name) = segment, !isLast {
                throw TemplateSyntaxError(
                    offset: start,
                    message: "catch-all '{\(name)...}' must be the last segment of the path"
                )
            }
            segments.append(segment)
            if isLast { break }
            start = end + 1
        }
        self.raw = raw
        self.segments = segments
    }

    /// Names of all parameters and catch-alls, in order.
    public var parameterNames: [String] {
        self.segments.compactMap { segment in
            switch segment {
            case .literal: return nil
            case .parameter(let name), .catchAll(let name): return name
            }
        }
    }

    /// True when `name` is this template's catch-all.
    func isCatchAll(_ name: String) -> Bool {
        self.segments.last == .catchAll(name)
    }

    /// The path with parameter names erased (`/a/{}/{...}`): two routes with the same shape match the same
    /// requests.
    var shape: String {
        var shape = ""
        for segment in self.segments {
            shape += "/"
            switch segment {
            case .literal(let text): shape += text
            case .parameter: shape += "{}"
            case .catchAll: shape += "{...}"
            }
        }
        return shape
    }

    private static func parseSegment(
        _ bytes: ArraySlice<UInt8>,
        offset: Int,
        isLast: Bool
    ) throws(TemplateSyntaxError) -> Segment {
        if bytes.first == UInt8(ascii: "{") {
            guard bytes.last == UInt8(ascii: "}"), bytes.count >= 2 else {
                throw TemplateSyntaxError(offset: offset, message: "unterminated parameter; expected '{name}'")
            }
            var inner = bytes.dropFirst().dropLast()
            if let brace = inner.firstIndex(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) {
                throw TemplateSyntaxError(
                    offset: offset + (brace - bytes.startIndex),
                    message: "a parameter must be a whole segment, like /users/{id}"
                )
            }
            let isCatchAll = inner.count > 3 && inner.suffix(3).elementsEqual("...".utf8)
            if isCatchAll { inner = inner.dropLast(3) }
            guard TemplateName.isValidParameter(inner) else {
                throw TemplateSyntaxError(
                    offset: offset + 1,
                    message: "invalid parameter name '\(String(decoding: inner, as: UTF8.self))'; "
                        + "expected letters, digits and '_', not starting with a digit"
                )
            }
            let name = String(decoding: inner, as: UTF8.self)
            return isCatchAll ? .catchAll(name) : .parameter(name)
        }
        if let index = bytes.firstIndex(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) {
            throw TemplateSyntaxError(
                offset: offset + (index - bytes.startIndex),
                message: "a parameter must be a whole segment, like /users/{id}"
            )
        }
        if bytes.isEmpty && !isLast {
            throw TemplateSyntaxError(offset: offset, message: "empty path segment ('//'); expected a name")
        }
        if let index = bytes.firstIndex(where: { !PercentCoding.isPathCharacter($0) }) {
            throw TemplateSyntaxError(
                offset: offset + (index - bytes.startIndex),
                message: "invalid character in route path; expected letters, digits, '-._~', sub-delimiters, ':' or '@'"
            )
        }
        if PercentCoding.isDotSegment(bytes) {
            throw TemplateSyntaxError(offset: offset, message: "'.' and '..' segments are not allowed in a route path")
        }
        return .literal(String(decoding: bytes, as: UTF8.self))
    }
}
