import FanoutCore

/// The configuration as the runtime uses it: parsed once, with everything derived from it that requests
/// would otherwise recompute. Immutable and shared by all workers.
///
/// A reload builds a new one; each request keeps the one it was dispatched with until it is answered, so
/// indices into `config` (a call's upstream, a route) stay valid for the whole request.
final class RuntimeConfig: Sendable {
    /// The configuration, with the ``FixedURL`` of every call and proxy route whose target has no placeholder.
    let config: FanoutConfig
    let routes: RouteTable
    let parserLimits: HTTPParserLimits
    /// Lowercased names of client headers forwarded on composite calls.
    let forwardHeaders: Set<String>
    /// Per upstream index: the upstream with its header lines, URL prefix, admission slots and one worker's
    /// share of its limits, resolved once (``ResolvedUpstream``).
    let upstreams: [ResolvedUpstream]
    /// Per route index: its display name and its configuration, read by reference (``ResolvedRoute``).
    let resolvedRoutes: [ResolvedRoute]
    /// How many client connections one worker keeps open: its share of `max_client_connections`, rounded up.
    let clientConnectionsPerWorker: Int
    let workerCount: Int
    /// Methods fanout answers with routing (404/405) rather than 501: the common ones, `GET` first, plus every
    /// method a route names. An array: a lookup compares a few small strings, where a `Set` hashed the method
    /// on every request (about 290 instructions, callgrind).
    let knownMethods: [String]
    /// The `tracing` block as the runtime uses it; nil when absent (no spans are built).
    let tracing: RuntimeTracing?

    /// - Parameter fixedURLs: the process's numbering of fixed upstream URLs, extended with this
    ///   configuration's (its calls and proxy routes get their ``FixedURL``).
    init(config: FanoutConfig, workerCount: Int, slots: inout AdmissionSlots, fixedURLs: inout FixedURLNumbers) {
        var config = config
        config.numberFixedURLs(&fixedURLs)
        self.config = config
        self.workerCount = workerCount
        routes = RouteTable(config.routes)
        parserLimits = HTTPParserLimits(config.limits)
        forwardHeaders = Set(config.forwardHeaders.map { $0.lowercased() })
        var methods = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]
        for route in config.routes {
            guard case .only(let list) = route.methods else { continue }
            for method in list where !methods.contains(method) { methods.append(method) }
        }
        knownMethods = methods
        let decodable = CurlTransfer.decodableContentCodings
        upstreams = config.upstreams.enumerated().map { index, upstream in
            ResolvedUpstream(
                upstream, index: index, workerCount: workerCount, decodableCodings: decodable, slots: &slots)
        }
        resolvedRoutes = config.routes.map(ResolvedRoute.init)
        clientConnectionsPerWorker = max(1, (config.limits.maxClientConnections + workerCount - 1) / workerCount)
        tracing = config.tracing.map { RuntimeTracing(config: $0, workerCount: workerCount, slots: &slots) }
    }
}
