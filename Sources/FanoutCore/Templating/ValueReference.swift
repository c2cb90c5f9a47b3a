/// What a placeholder in a template refers to, besides a route parameter (`{id}`, `{rest...}`).
///
/// | written | meaning |
/// | --- | --- |
/// | `{query.NAME}` | the first value of the client's query parameter NAME |
/// | `{header.NAME}` | the client's request header NAME (case-insensitive) |
/// | `{body}`, `{body.PATH}` | the client's JSON body, or a field of it |
/// | `{item}`, `{item.PATH}` | the current element of a `for_each` call, or a field of it |
/// | `{CALL.PATH}` | a field of the JSON answer of another call of the route |
///
/// PATH is a ``JSONPath`` (`sku`, `address.city`, `items[0].id`).
public enum ValueReference: Sendable, Equatable, CustomStringConvertible {
    case query(String)
    /// Lowercased header name.
    case header(String)
    case body(JSONPath?)
    case item(JSONPath?)
    case call(String, JSONPath)

    /// The words that start a reference and so cannot name a call.
    public static let namespaces: Set<String> = ["query", "header", "body", "item"]

    /// Parses the text between `{` and `}` when it is a reference; nil when it is a route parameter name
    /// (`{id}`), which the caller handles.
    /// - Throws: `TemplateSyntaxError` with the UTF-8 offset within `inner`.
    static func parse(_ inner: String) throws(TemplateSyntaxError) -> ValueReference? {
        let dot = inner.firstIndex(of: ".")
        let head = dot.map { String(inner[..<$0]) } ?? inner
        let rest = dot.map { String(inner[inner.index(after: $0)...]) }
        let restOffset = head.utf8.count + 1
        switch head {
        case "query":
            guard let rest, TemplateName.isValidQueryName(rest.utf8) else {
                throw TemplateSyntaxError(
                    offset: min(restOffset, inner.utf8.count),
                    message: "invalid query parameter name in '{query.NAME}'; expected letters, digits, '-._~[]'")
            }
            return .query(rest)
        case "header":
            guard let rest, !rest.isEmpty, rest.utf8.allSatisfy(ASCII.isTokenChar) else {
                throw TemplateSyntaxError(
                    offset: min(restOffset, inner.utf8.count),
                    message: "invalid header name in '{header.NAME}'; expected a field name like X-User-Id")
            }
            return .header(rest.lowercased())
        case "body":
            return .body(try rest.map { text throws(TemplateSyntaxError) in try path(text, offset: restOffset) })
        case "item":
            return .item(try rest.map { text throws(TemplateSyntaxError) in try path(text, offset: restOffset) })
        default:
            guard let rest else { return nil }
            guard CallName.isValid(head) else {
                throw TemplateSyntaxError(
                    offset: 0,
                    message: "invalid reference '{\(inner)}'; expected {CALL.FIELD} with a call name, or "
                        + "{query.NAME}, {header.NAME}, {body.FIELD}, {item.FIELD}")
            }
            return .call(head, try path(rest, offset: restOffset))
        }
    }

    private static func path(_ text: String, offset: Int) throws(TemplateSyntaxError) -> JSONPath {
        do throws(JSONPathError) {
            return try JSONPath(parsing: text)
        } catch {
            throw TemplateSyntaxError(offset: offset + error.offset, message: error.message)
        }
    }

    /// The call this reference reads, if any.
    public var callName: String? {
        if case .call(let name, _) = self { return name }
        return nil
    }

    /// Whether a missing or unusable value is the client's fault (→ 400) rather than another call's
    /// (→ this call is skipped).
    public var isClientInput: Bool {
        switch self {
        case .query, .header, .body: return true
        case .item, .call: return false
        }
    }

    /// As written between the braces.
    public var description: String {
        switch self {
        case .query(let name): return "query.\(name)"
        case .header(let name): return "header.\(name)"
        case .body(let path): return path.map { "body.\($0)" } ?? "body"
        case .item(let path): return path.map { "item.\($0)" } ?? "item"
        case .call(let name, let path): return "\(name).\(path)"
        }
    }
}

/// Call names: a letter, then letters, digits, `_` or `-`.
enum CallName {
    static func isValid(_ name: String) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, TemplateName.isLetter(first) else { return false }
        return bytes.allSatisfy {
            TemplateName.isLetter($0) || TemplateName.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}
