/// The outcome of looking a request up in a `RouteTable`.
public enum RouteMatch: Sendable, Equatable {
    /// A route accepts the path and method. `parameters` holds decoded values: one element for a
    /// `{name}`, the segments (possibly none) for a `{name...}`.
    case matched(routeIndex: Int, parameters: [String: [String]])
    /// Some route(s) match the path, none the method → 405 with this `Allow` list.
    case methodNotAllowed(allowed: [String])
    /// No route matches the path → 404.
    case notFound
    /// The path matched, but a captured segment failed validation → 400.
    case badRequest(String)
}
