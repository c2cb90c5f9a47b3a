import FanoutCore

extension RequestDispatcher {
    /// A CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) for a route with a
    /// ``CORSPolicy``: the route that would serve the announced method, and fanout's own answer, given
    /// without calling any partner. nil for any other request, or when no route serves that method there
    /// (the request then goes on as a plain `OPTIONS`).
    static func corsPreflight(_ head: HTTPRequestHead, runtime: RuntimeConfig) -> (Int, HTTPResponse)? {
        guard head.method == "OPTIONS", let origin = head.headers[first: "origin"],
            let requestMethod = head.headers[first: "access-control-request-method"],
            let originForm = originFormTarget(head.target),
            let target = try? RequestTarget(parsing: originForm),
            case .matched(let index, _) = runtime.routes.match(method: requestMethod, path: target.path),
            let policy = runtime.config.routes[index].responseHeaders.cors
        else { return nil }
        let answer = policy.preflight(
            origin: origin, requestMethod: requestMethod,
            requestHeaders: head.headers.values(named: "access-control-request-headers").joined(separator: ","))
        return (index, answer)
    }
}
