import FanoutCore

/// The configuration as the runtime uses it: parsed once, with everything derived from it that requests
/// would otherwise recompute. Immutable and shared by all workers.
final class RuntimeConfig: Sendable {
    let config: FanoutConfig
    let routes: RouteTable
    let parserLimits: HTTPParserLimits
    /// Lowercased names of client headers forwarded on composite calls.
    let forwardHeaders: Set<String>
    /// Per upstream index: how many calls one worker may have inside libcurl at once.
    let upstreamLimitsPerWorker: [Int]
    /// How many client connections one worker keeps open: its share of `max_client_connections`, rounded up.
    let clientConnectionsPerWorker: Int
    /// `Name: value` lines of each upstream's configured headers, built once.
    let upstreamHeaderLines: [[String]]
    let workerCount: Int
    /// Methods fanout answers with routing (404/405) rather than 501: the common ones plus every method a
    /// route names.
    let knownMethods: Set<String>

    init(config: FanoutConfig, workerCount: Int) {
        self.config = config
        self.workerCount = workerCount
        routes = RouteTable(config.routes)
        parserLimits = HTTPParserLimits(config.limits)
        forwardHeaders = Set(config.forwardHeaders.map { $0.lowercased() })
        var methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        for route in config.routes {
            if case .only(let list) = route.methods { methods.formUnion(list) }
        }
        knownMethods = methods
        upstreamLimitsPerWorker = config.upstreams.map { max(1, ($0.maxConnections + workerCount - 1) / workerCount) }
        clientConnectionsPerWorker = max(1, (config.limits.maxClientConnections + workerCount - 1) / workerCount)
        upstreamHeaderLines = config.upstreams.map { HeaderLine.lines($0.headers) }
    }
}
