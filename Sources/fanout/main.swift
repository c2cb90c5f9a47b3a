import FanoutCore
import FanoutRuntime
import Glibc

/// The fanout command line: `fanout`, `fanout serve [-c FILE]`, `fanout check FILE`, `--help`, `--version`.
/// Parsing and validation happen here; everything else lives in FanoutRuntime.
let version = "0.1.0"

let usage = """
    fanout \(version): a reverse proxy that fans one request out to many upstream calls.

    Usage:
      fanout                     serve ./proxy.conf
      fanout serve [-c FILE] [--reuse-port]
                                 serve FILE (default ./proxy.conf)
      fanout check FILE          validate FILE and exit: 0 if valid, 1 with file:line:column errors
      fanout graph FILE [ROUTE] [--format mermaid|dot]
                                 print the call graph of ROUTE (`/demo` or `GET /demo`; default: every
                                 route) as Mermaid (default) or Graphviz DOT
      fanout --help              this text
      fanout --version           print the version, and libcurl's with its TLS library and features

    An address another process listens on fails the start with "address in use" (exit 1).
    --reuse-port shares the addresses with the fanout already there on purpose (SO_REUSEPORT), for a
    handover: start the new one with it, then send SIGTERM to the old one.
    Environment: FANOUT_ADMIN=off|PORT|ADDRESS sets admin_listen, overriding FILE (the container image sets *:9901).

    Signals: SIGTERM or SIGINT stop accepting, let in-flight requests finish (shutdown_timeout), exit 0.
             SIGHUP re-reads FILE: a valid file replaces the configuration (listen, admin_listen, workers
             and access_log need a restart); an invalid one is refused and the running configuration keeps serving.
    Logs: one JSON access-log line per request on stdout; errors on stderr.
    """

/// `fanout serve`'s options.
struct ServeOptions {
    /// The configuration file; nil: the default, ./proxy.conf.
    var file: String?
    /// `--reuse-port`: join the SO_REUSEPORT groups already listening on the addresses.
    var reusePort = false

    var path: String { file ?? "proxy.conf" }
}

enum Command {
    case serve(ServeOptions)
    case check(path: String)
    case graph(path: String, route: String?, format: RouteGraph.Format)
    case help
    case version
}

/// A command line fanout does not understand; the message says what was expected.
struct UsageError: Error {
    var message: String
}

func parse(_ arguments: [String]) -> Result<Command, UsageError> {
    var rest = arguments[...]
    guard let first = rest.first else { return .success(.serve(ServeOptions())) }
    switch first {
    case "-h", "--help", "help":
        return .success(.help)
    case "-V", "--version", "version":
        return .success(.version)
    case "check":
        rest = rest.dropFirst()
        if rest.first == "-c" { rest = rest.dropFirst() }
        guard let path = rest.first, rest.count == 1 else {
            return .failure(UsageError(message: "check takes exactly one FILE"))
        }
        return .success(.check(path: path))
    case "graph":
        return parseGraph(Array(rest.dropFirst()))
    case "serve", "-c", "--config", "--reuse-port":
        if first == "serve" { rest = rest.dropFirst() }
        var options = ServeOptions()
        while let argument = rest.popFirst() {
            switch argument {
            case "-c", "--config":
                guard options.file == nil, let path = rest.popFirst() else {
                    return .failure(UsageError(message: "serve takes one -c FILE"))
                }
                options.file = path
            case "--reuse-port":
                options.reusePort = true
            default:
                return .failure(UsageError(message: "serve takes -c FILE and --reuse-port, not '\(argument)'"))
            }
        }
        return .success(.serve(options))
    default:
        return .failure(UsageError(message: "unknown command '\(first)'"))
    }
}

/// `graph FILE [ROUTE] [--format mermaid|dot]`, the words after `graph`.
func parseGraph(_ arguments: [String]) -> Result<Command, UsageError> {
    var format = RouteGraph.Format.mermaid
    var positional: [String] = []
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        var value: String?
        if argument == "--format" {
            value = rest.popFirst()
            if value == nil { return .failure(UsageError(message: "--format needs mermaid or dot")) }
        } else if argument.hasPrefix("--format=") {
            value = String(argument.dropFirst("--format=".count))
        } else {
            positional.append(argument)
            continue
        }
        guard let chosen = value.flatMap(RouteGraph.Format.init(rawValue:)) else {
            return .failure(UsageError(message: "unknown graph format '\(value ?? "")'; expected mermaid or dot"))
        }
        format = chosen
    }
    guard (1...2).contains(positional.count) else {
        return .failure(UsageError(message: "graph takes FILE and at most one ROUTE"))
    }
    return .success(.graph(path: positional[0], route: positional.count == 2 ? positional[1] : nil, format: format))
}

func run() -> Int32 {
    switch parse(Array(CommandLine.arguments.dropFirst())) {
    case .failure(let error):
        ErrorLog.write("\(error.message)\n\n\(usage)")
        return 2
    case .success(.help):
        print(usage)
        return 0
    case .success(.version):
        print("fanout \(version)\n\(LibcurlVersion.current())")
        return 0
    case .success(.check(let path)):
        do {
            let config = try ConfigFile.load(path: path)
            for warning in config.warnings { ErrorLog.write(warning) }
            print("\(path): ok (\(config.routes.count) routes, \(config.upstreams.count) upstreams)")
            return 0
        } catch {
            ErrorLog.write("\(error)")
            return 1
        }
    case .success(.graph(let path, let route, let format)):
        do {
            let config = try ConfigFile.load(path: path)
            let routes = try RouteGraph.routes(in: config, matching: route)
            let graphs = routes.map { RouteGraph(route: $0, upstreams: config.upstreams) }
            print(RouteGraph.render(graphs, as: format), terminator: "")
            return 0
        } catch {
            ErrorLog.write("\(error)")
            return 1
        }
    case .success(.serve(let options)):
        let path = options.path
        let config: FanoutConfig
        do {
            let loaded = try ConfigFile.loadForServing(path: path)
            config = loaded.config
            for note in loaded.notes { ErrorLog.write(note) }
        } catch {
            if case .missing = error, options.file == nil {
                ErrorLog.write("\(error) (the default, ./proxy.conf); name a file with: fanout serve -c FILE")
            } else {
                ErrorLog.write("\(error)")
            }
            return 1
        }
        for warning in config.warnings { ErrorLog.write(warning) }
        Signals.blockShutdownSignals()
        if let limit = OpenFileLimit.raiseToHardLimit(),
            let warning = OpenFileLimit.warning(
                limit: limit, clientConnections: config.limits.maxClientConnections,
                upstreamConnections: config.upstreams.reduce(0) { $0 + $1.maxConnections })
        {
            ErrorLog.write(warning)
        }
        let accessLog: StdoutAccessLog? = config.accessLog == .stdout ? StdoutAccessLog() : nil
        let server = FanoutServer(config: config, accessLog: accessLog, reusePort: options.reusePort)
        do {
            try server.start()
        } catch {
            ErrorLog.write("\(error)")
            // The log's writer thread refers to it unowned: stop the thread before the log goes away, or the
            // exit races it (a crash, exit status 6, instead of 1).
            accessLog?.close()
            return 1
        }
        let addresses = zip(config.listen, server.ports).map { "\($0.host):\($1)" }.joined(separator: ", ")
        let sharing = options.reusePort ? ", sharing them with any fanout already there (--reuse-port)" : ""
        ErrorLog.write("serving \(path) on \(addresses) with \(server.workerCount) worker(s)\(sharing)")
        if let admin = config.adminListen, let port = server.adminPort {
            ErrorLog.write("admin (status page /, /metrics, /healthz, /readyz) on \(admin.host):\(port)")
        }
        // Signals are blocked in every thread and taken here, on the main thread: a reload's file read and
        // parse never run on a worker loop.
        while true {
            let signal = Signals.waitForShutdownSignal()
            if signal == "SIGHUP" {
                reload(server, path: path)
                continue
            }
            ErrorLog.write("\(signal): draining (up to \(server.config.timeouts.shutdownMs) ms)")
            break
        }
        server.shutdown()
        accessLog?.close()
        ErrorLog.write("stopped")
        return 0
    }
}

/// Re-reads and parses `path` (as `fanout check` does) and installs it, or logs one line saying why not and
/// keeps the running configuration.
func reload(_ server: FanoutServer, path: String) {
    let config: FanoutConfig
    do {
        config = try ConfigFile.loadForServing(path: path).config
    } catch {
        let reason = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        ErrorLog.write("reload of \(path) refused: \(reason); still serving the previous configuration")
        return
    }
    for warning in config.warnings { ErrorLog.write(warning) }
    let summary = server.reload(config)
    var line = "reloaded \(path) (\(summary.routeCount) routes)"
    if !summary.needRestart.isEmpty {
        line += "; \(summary.needRestart.joined(separator: ", ")) changed: needs a restart, running value kept"
    }
    ErrorLog.write(line)
}

exit(run())
