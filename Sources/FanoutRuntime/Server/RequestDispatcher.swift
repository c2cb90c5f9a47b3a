import FanoutCore

/// Routes one parsed request to its handler: a static answer, a composite fan-out or a plain proxy.
/// Every refusal is answered here with its status and a JSON body.
///
/// The worker's configuration is read once, here, and handed to the exchange: a request is answered with the
/// configuration it was dispatched with even if a reload installs another one while it is in flight.
enum RequestDispatcher {
    /// Where a request head leads: a refusal with its answer, or a route with its parameters.
    enum Routing {
        case refused(HTTPResponse)
        case matched(index: Int, parameters: [String: [String]], target: RequestTarget)
    }

    /// The method check, the request-target checks and the route lookup, in that order: one definition for
    /// dispatching and for choosing how a body is read, so the two can never disagree.
    static func route(_ head: HTTPRequestHead, runtime: RuntimeConfig) -> Routing {
        // A method no route uses and no standard names: 501 (RFC 9110 §9.1), before routing.
        guard runtime.knownMethods.contains(head.method) else {
            return .refused(.error(status: 501, message: "method \(head.method) is not implemented"))
        }
        guard let originForm = originFormTarget(head.target) else {
            return .refused(.error(status: 400, message: "the request target must be a path"))
        }
        let target: RequestTarget
        do {
            target = try RequestTarget(parsing: originForm)
        } catch {
            return .refused(.error(status: 400, message: error.message))
        }
        switch runtime.routes.match(method: head.method, path: target.path) {
        case .notFound:
            return .refused(.error(status: 404, message: "no route for \(head.method) \(target.path)"))
        case .methodNotAllowed(let allowed):
            return .refused(
                .error(
                    status: 405, message: "\(head.method) is not allowed here",
                    extraHeaders: [("Allow", allowed.joined(separator: ", "))]))
        case .badRequest(let message):
            return .refused(.error(status: 400, message: message))
        case .matched(let index, let parameters):
            return .matched(index: index, parameters: parameters, target: target)
        }
    }

    /// What holds a request body that is streamed (it goes to a plain proxy route): the route's size limit and
    /// its `min_rate`.
    struct StreamedBodyRules {
        var maxBytes: Int
        var minRate: MinimumRate?
    }

    /// The rules of a request whose body is streamed, or nil when its body is collected whole first (every
    /// other route, and every refusal).
    static func streamedBodyRules(for head: HTTPRequestHead, runtime: RuntimeConfig) -> StreamedBodyRules? {
        guard case .matched(let index, _, _) = route(head, runtime: runtime),
            case .proxy(let proxy) = runtime.config.routes[index].action
        else { return nil }
        return StreamedBodyRules(
            maxBytes: proxy.maxBodyBytes ?? runtime.parserLimits.maxBodyBytes, minRate: proxy.minRate)
    }

    /// Makes the request's ``RequestRecord`` (its id, trace, matched route and counters), hands it to the
    /// connection before anything can answer, then answers the request or starts its exchange.
    /// - Parameter body: the streamed body of a request to a plain proxy route (`request.body` is then empty).
    static func dispatch(_ request: HTTPRequest, body: BodyPipe? = nil, on connection: ClientConnection, worker: Worker)
    {
        let head = request.head
        let runtime = worker.runtime
        let received = TraceContext.forRequest(head.headers)
        let trace = runtime.tracing?.sampler.decide(received) ?? received
        let serverSpanID = runtime.tracing != nil && trace.sampled ? TraceContext.newSpanID() : nil
        /// Hands the connection the request's record (`index`: the matched route, nil when none matched) and
        /// returns the request's id.
        func begin(route index: Int?) -> String {
            let record = RequestRecord(
                dispatched: head, route: index, of: runtime, counters: worker.routeMetrics, trace: trace,
                serverSpanID: serverSpanID, worker: worker)
            let requestID = record.requestID
            connection.begin(record)
            return requestID
        }
        if let (index, answer) = corsPreflight(head, runtime: runtime) {
            _ = begin(route: index)
            connection.respond(answer)
            return
        }
        switch route(head, runtime: runtime) {
        case .refused(let answer):
            _ = begin(route: nil)
            connection.respond(answer)
        case .matched(let index, let parameters, let target):
            let requestID = begin(route: index)
            // The route by reference (``ResolvedRoute``), not a copy of the configuration's `RouteConfig`.
            let route = runtime.resolvedRoutes[index]
            if !route.config.responseHeaders.isEmpty {
                connection.noteResponseOverlay(
                    route.config.responseHeaders.overlay(origin: head.headers[first: "origin"]))
            }
            if head.requestsUpgrade {
                upgrade(
                    request, body: body, route: route.config.action, target: target, parameters: parameters,
                    on: connection, worker: worker, requestID: requestID, trace: trace)
                return
            }
            switch route.config.action {
            case .respond(let answer):
                StaticExchange.start(answer, on: connection, worker: worker)
            case .composite:
                let query: QueryParameters
                do {
                    query = try QueryParameters(parsing: target.query)
                } catch {
                    connection.respond(.error(status: 400, message: error.message))
                    return
                }
                let context = ForwardingContext(
                    request: request, peer: connection.forwardedPeer, requestID: requestID, trace: trace)
                let input = CompositeInput(
                    routeParameters: parameters, query: query, headers: head.headers, body: request.body,
                    contentType: head.headers[first: "content-type"])
                CompositeExchange.start(
                    route, input: input, context: context, runtime: runtime, on: connection, worker: worker)
            case .proxy(let proxy):
                let context = ForwardingContext(
                    request: request, peer: connection.forwardedPeer, requestID: requestID, trace: trace)
                ProxyExchange.start(
                    proxy, target: target, parameters: parameters, context: context, runtime: runtime, body: body,
                    on: connection, worker: worker)
            }
        }
    }

    /// An `Upgrade` request (`Connection: upgrade`): a proxy route tunnels it (``Tunnel``); every other route
    /// refuses it with 403, as Envoy does for a route without that upgrade type: answering it as plain HTTP
    /// would leave a WebSocket client waiting for a 101 that never comes, 426 would ask the client to
    /// upgrade (the opposite), and 400 would call a valid request malformed. An upgrade with a body is
    /// refused 400: the body would have to be sent before the protocol switch, and fanout does not stream it.
    private static func upgrade(
        _ request: HTTPRequest, body: BodyPipe?, route: RouteAction, target: RequestTarget,
        parameters: [String: [String]], on connection: ClientConnection, worker: Worker, requestID: String,
        trace: TraceContext
    ) {
        guard case .proxy(let proxy) = route else {
            connection.respond(
                .error(status: 403, message: "this route does not tunnel Upgrade requests; only proxy routes do"))
            return
        }
        guard body == nil, request.body.isEmpty else {
            connection.respond(.error(status: 400, message: "an Upgrade request to a proxy route may not have a body"))
            return
        }
        let context = ForwardingContext(
            request: request, peer: connection.forwardedPeer, requestID: requestID, trace: trace)
        Tunnel.start(
            proxy, target: target, parameters: parameters, context: context, runtime: worker.runtime, on: connection,
            worker: worker)
    }

    /// The origin-form path of a target: absolute-form (`http://host/p`) is accepted as RFC 9112 §3.2.2
    /// requires, and its authority is ignored (never dialled); asterisk-form is refused.
    static func originFormTarget(_ target: String) -> String? {
        if target.hasPrefix("/") { return target }
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
            return rest[slash] == "/" ? String(rest[slash...]) : "/" + rest[slash...]
        }
        return nil
    }
}

/// A client-supplied `X-Request-Id` is kept only when it is short and made of safe characters.
enum RequestIdentity {
    static func accepted(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128 else { return nil }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: ":"):
                continue
            default:
                return nil
            }
        }
        return value
    }
}
