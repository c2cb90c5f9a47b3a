/// What templates are rendered with: the route's decoded captures, the client's query, headers and JSON
/// body, the answers of calls that already finished, and the current `for_each` element.
public struct TemplateValues: Sendable {
    /// From `RouteMatch.matched(_, parameters:)`.
    public var routeParameters: [String: [String]]
    /// The client's decoded query.
    public var query: QueryParameters
    /// The client's request headers.
    public var headers: HTTPHeaders
    /// The client's body parsed as JSON, when the route reads it.
    public var body: JSONValue?
    /// Answers (as received, before shaping) of the calls that finished, by call name.
    public var calls: [String: JSONValue]
    /// The current element of a `for_each` call.
    public var item: JSONValue?

    public init(
        routeParameters: [String: [String]],
        query: QueryParameters,
        headers: HTTPHeaders = HTTPHeaders(),
        body: JSONValue? = nil,
        calls: [String: JSONValue] = [:],
        item: JSONValue? = nil
    ) {
        self.routeParameters = routeParameters
        self.query = query
        self.headers = headers
        self.body = body
        self.calls = calls
        self.item = item
    }

    /// The JSON value a reference stands for.
    /// - Throws: `.missing(reference)` when the value is absent.
    public func value(of reference: ValueReference) throws(TemplateRenderError) -> JSONValue {
        let found: JSONValue?
        switch reference {
        case .query(let name):
            found = self.query.first(name).map(JSONValue.string)
        case .header(let name):
            found = self.headers[first: name].map(JSONValue.string)
        case .body(let path):
            found = path.map { self.body?.select($0) } ?? self.body
        case .item(let path):
            found = path.map { self.item?.select($0) } ?? self.item
        case .call(let name, let path):
            found = self.calls[name]?.select(path)
        }
        guard let found else { throw .missing(reference) }
        return found
    }

    /// The text a reference stands for in a URL or header: a string, a number as written, `true` or `false`.
    /// - Throws: `.missing` when absent (or null), `.notScalar` for an array or object.
    public func text(of reference: ValueReference) throws(TemplateRenderError) -> String {
        let value = try self.value(of: reference)
        if value == .null { throw .missing(reference) }
        guard let text = value.scalarText else { throw .notScalar(reference) }
        return text
    }
}

/// A template that cannot be rendered for this request.
public enum TemplateRenderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `{query.name}` and the client sent no `name`.
    case missingQueryParameter(String)
    /// `{name}` and the values hold no `name` (configuration validation makes this unreachable for routes).
    case missingRouteParameter(String)
    /// The placeholder would turn a path segment into `""`, `.` or `..` (for example `{query.dir}` with
    /// `dir=..`), which could change the upstream path's structure.
    case invalidPathSegment(String)
    /// A referenced header, body field, call answer field or item field is absent or null.
    case missing(ValueReference)
    /// A referenced value is an array or object where a URL or header needs one value.
    case notScalar(ValueReference)
    /// A referenced value holds a control character (CR, LF, NUL…) and would go into a header.
    case unsafeHeaderValue(ValueReference)
    /// A route parameter holds a control character and would go into a header.
    case unsafeParameterValue(String)

    /// Whether the client's request is at fault (→ 400). Otherwise another call's answer lacks what this
    /// call needs, and the call is skipped.
    public var isClientError: Bool {
        switch self {
        case .missingQueryParameter, .missingRouteParameter, .invalidPathSegment, .unsafeParameterValue: return true
        case .missing(let reference), .notScalar(let reference), .unsafeHeaderValue(let reference):
            return reference.isClientInput
        }
    }

    /// A sentence for the 400 body, the skip report and the log.
    public var message: String {
        switch self {
        case .missingQueryParameter(let name): return "missing query parameter '\(name)'"
        case .missingRouteParameter(let name): return "missing path parameter '\(name)'"
        case .invalidPathSegment(let name):
            return "the value of '\(name)' would make an upstream path segment empty, '.' or '..'"
        case .missing(let reference):
            switch reference {
            case .query(let name): return "missing query parameter '\(name)'"
            case .header(let name): return "missing request header '\(name)'"
            case .body(nil): return "missing JSON request body"
            case .body(let path?): return "the JSON request body has no field '\(path)'"
            case .item(nil): return "the item is null"
            case .item(let path?): return "the item has no field '\(path)'"
            case .call(let name, let path): return "the answer of '\(name)' has no field '\(path)'"
            }
        case .notScalar(let reference):
            return "'\(reference)' is an array or object; a URL or header needs a string, number or boolean"
        case .unsafeHeaderValue(let reference):
            return "'\(reference)' holds a control character and cannot go into a header"
        case .unsafeParameterValue(let name):
            return "the value of '\(name)' holds a control character and cannot go into a header"
        }
    }

    public var description: String { self.message }
}
