/// An origin-form request target (`/a/b?x=1`), split into path and query and checked before routing.
///
/// Refused: a target not starting with `/`; bytes outside visible ASCII (space, CTL, DEL, non-ASCII);
/// a `#` (hardening rule 4.3/7); a malformed `%` escape in the path; any `.` or `..` path segment, raw or
/// percent-encoded (`%2e`, `.%2E`, …), since partners may normalize them after decoding.
public struct RequestTarget: Sendable {
    /// The raw path, still percent-encoded.
    public let path: Substring
    /// The raw query without the `?`, or nil when the target has no `?`.
    public let query: Substring?

    /// Splits and validates `target`.
    /// - Throws: `RequestTargetError` naming the problem.
    public init(parsing target: String) throws(RequestTargetError) {
        let utf8 = target.utf8
        guard utf8.first == UInt8(ascii: "/") else {
            throw RequestTargetError("the request target must start with '/'")
        }
        if let bad = utf8.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw RequestTargetError("invalid byte 0x\(String(bad, radix: 16, uppercase: true)) in the request target")
        }
        if utf8.contains(UInt8(ascii: "#")) {
            throw RequestTargetError("a request target must not contain a fragment ('#')")
        }
        let full = target[...]
        let questionMark = full.utf8.firstIndex(of: UInt8(ascii: "?"))
        let path = full[..<(questionMark ?? full.endIndex)]
        let pathBytes = path.utf8
        guard PercentCoding.isWellFormed(pathBytes) else {
            throw RequestTargetError("malformed percent-encoding in the path; expected '%' followed by two hex digits")
        }
        var start = pathBytes.index(after: pathBytes.startIndex)
        while true {
            let end = pathBytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? pathBytes.endIndex
            if PercentCoding.isDotSegment(pathBytes[start..<end]) {
                throw RequestTargetError("'.' and '..' path segments are not allowed")
            }
            guard end != pathBytes.endIndex else { break }
            start = pathBytes.index(after: end)
        }
        self.path = path
        if let questionMark {
            self.query = full[full.utf8.index(after: questionMark)...]
        } else {
            self.query = nil
        }
    }
}

/// Why a request target or its query was refused (→ 400).
public struct RequestTargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
