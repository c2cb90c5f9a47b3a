/// What a `URLTemplate` is rendered with: the route's decoded captures and the client's query.
public struct TemplateValues: Sendable {
    /// From `RouteMatch.matched(_, parameters:)`.
    public var routeParameters: [String: [String]]
    /// The client's decoded query.
    public var query: QueryParameters

    public init(routeParameters: [String: [String]], query: QueryParameters) {
        self.routeParameters = routeParameters
        self.query = query
    }
}

/// A template that cannot be rendered for this request (→ 400).
public enum TemplateRenderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `{query.name}` and the client sent no `name`.
    case missingQueryParameter(String)
    /// `{name}` and the values hold no `name` (configuration validation makes this unreachable for routes).
    case missingRouteParameter(String)
    /// The placeholder would turn a path segment into `""`, `.` or `..` (for example `{query.dir}` with
    /// `dir=..`), which could change the upstream path's structure.
    case invalidPathSegment(String)

    /// A sentence for the 400 body and the log.
    public var message: String {
        switch self {
        case .missingQueryParameter(let name): return "missing query parameter '\(name)'"
        case .missingRouteParameter(let name): return "missing path parameter '\(name)'"
        case .invalidPathSegment(let name):
            return "the value of '\(name)' would make an upstream path segment empty, '.' or '..'"
        }
    }

    public var description: String { self.message }
}
