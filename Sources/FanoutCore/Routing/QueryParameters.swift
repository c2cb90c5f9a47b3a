/// A decoded `application/x-www-form-urlencoded` query: `+` is a space, `%XX` is decoded exactly once,
/// the result must be valid UTF-8 without NUL/CTL/DEL. Repeated keys are kept, in order; empty pieces
/// (`a=1&&b=2`) are skipped; a piece without `=` has an empty value.
public struct QueryParameters: Sendable {
    /// Every `name=value` pair, in order.
    public let entries: [(name: String, value: String)]

    /// An empty query.
    public init() {
        self.entries = []
    }

    /// Parses the raw query (without `?`); nil means no query.
    /// - Throws: `RequestTargetError` for a malformed escape, invalid UTF-8 or a control character.
    public init(parsing raw: Substring?) throws(RequestTargetError) {
        guard let raw, !raw.isEmpty else {
            self.entries = []
            return
        }
        var entries: [(name: String, value: String)] = []
        for piece in raw.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = piece.firstIndex(of: UInt8(ascii: "="))
            let name = try Self.decode(piece[..<(equals ?? piece.endIndex)], what: "name")
            var value = ""
            if let equals {
                value = try Self.decode(piece[piece.index(after: equals)...], what: "value")
            }
            entries.append((name, value))
        }
        self.entries = entries
    }

    /// The first value for `name`, or nil.
    public func first(_ name: String) -> String? {
        self.entries.first { $0.name == name }?.value
    }

    private static func decode(_ raw: Substring.UTF8View.SubSequence, what: String) throws(RequestTargetError) -> String
    {
        switch PercentCoding.decodeComponent(raw, plusAsSpace: true) {
        case .success(let value): return value
        case .failure(let failure): throw RequestTargetError("query parameter \(what) \(failure.message)")
        }
    }
}
