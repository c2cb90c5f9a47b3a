/// The parser behind `ConfigParser.parse`: one method per grammar rule over a `ConfigCursor`, then
/// validation that needs the whole file (upstream names may be used before their block).
struct ConfigFileParser {
    /// An upstream as a route refers to it, resolved once the whole file is read.
    enum UpstreamReference {
        /// `call … partner /path` or `proxy partner`: the name token (in `file`), looked up among named
        /// upstreams.
        case named(ConfigToken, file: String)
        /// An absolute URL: an index into `implicitUpstreams`.
        case implicit(Int)
    }

    /// A route whose upstream references are not resolved yet (one per call, or one for a proxy).
    struct PendingRoute {
        var route: RouteConfig
        var references: [UpstreamReference]
        /// No `cors` line in the route: it takes the top-level `cors`.
        var inheritsCORS = true
    }

    var cursor: ConfigCursor
    var config = FanoutConfig()
    var namedUpstreams: [UpstreamConfig] = []
    var implicitUpstreams: [UpstreamConfig] = []
    var implicitUpstreamIndex: [UpstreamOrigin: Int] = [:]
    var routes: [PendingRoute] = []
    /// What is valid but suspicious, in the order found.
    var warnings: [ConfigWarning] = []
    /// The single-valued top-level directives met so far, where they were first set.
    var seen: [String: SourceLocation] = [:]
    var listen: [ListenAddress] = []
    /// Reads what `include` names; `environment` fills `${VAR}` in the included files.
    let includes: any ConfigIncludeReader
    let environment: [String: String]
    /// What the libcurl that will run the calls can do (``LibcurlCapabilities``).
    let libcurl: LibcurlCapabilities
    /// The files being parsed, outermost first: what a cycle error names.
    var includeChain: [String] = []
    /// Every file parsed, in the order met (the main file first): the order of their warnings.
    var parsedFiles: [String] = []

    /// Reserved words that cannot name a `call` (they may name parts of the request in future templates).
    static let reservedCallNames: Set<String> = ["query", "header", "body", "item", "route"]

    init(
        cursor: ConfigCursor,
        includes: any ConfigIncludeReader = NoConfigIncludes(),
        environment: [String: String] = [:],
        libcurl: LibcurlCapabilities = .bookworm
    ) {
        self.cursor = cursor
        self.includes = includes
        self.environment = environment
        self.libcurl = libcurl
        self.includeChain = [cursor.file]
        self.parsedFiles = [cursor.file]
    }

    /// file := directive*
    mutating func parseFile() throws(ConfigError) -> FanoutConfig {
        try self.parseDirectives()
        if !self.listen.isEmpty { self.config.listen = self.listen }
        return try self.finish()
    }

    /// The top-level directives of the cursor's file (the main one, or one `include` named), read with
    /// ``topLevelTable``. A non-repeatable one may appear once across every included file.
    mutating func parseDirectives() throws(ConfigError) {
        while let token = try self.cursor.nextDirective() {
            guard let directive = Self.topLevelTable.directive(named: token.text) else {
                throw self.cursor.unknownDirective(token, context: nil, known: Self.topLevelTable.names)
            }
            if !directive.repeatable {
                if let first = self.seen[token.text] {
                    let what = token.text == "tracing" ? "'tracing' block" : "'\(token.text)'"
                    throw self.cursor.error(
                        "duplicate \(what); it is already set at \(self.place(first)), expected it once", at: token)
                }
                self.seen[token.text] = self.cursor.location(of: token)
            }
            var topLevel: Void = ()
            try directive.parse(&self, token, &topLevel)
        }
    }

    /// `line N` for a place in the file being parsed, `FILE:N` for one in another file (main or included).
    func place(_ location: SourceLocation) -> String {
        location.file == self.cursor.file ? "line \(location.line)" : "\(location.file):\(location.line)"
    }

    // MARK: - Top-level settings

    private mutating func parseListen(
        _ directive: ConfigToken,
        existing: [ListenAddress]
    ) throws(ConfigError) -> ListenAddress {
        let token = try self.cursor.requireArgument(of: directive, expected: "an address like 127.0.0.1:8080")
        let address = try self.value(ConfigValue.listenAddress(token.text), at: token)
        if existing.contains(address) {
            throw self.cursor.error("duplicate listen address '\(token.text)'; expected each address once", at: token)
        }
        try self.cursor.finishDirective(directive)
        return address
    }

    /// A single-line top-level setting: `parse`, then the end of the line.
    private static func setting(
        _ name: String, _ parse: @escaping @Sendable (inout ConfigFileParser, ConfigToken) throws(ConfigError) -> Void
    ) -> Directive<Void> {
        Directive(name) { (parser, sub, _) throws(ConfigError) in
            try parse(&parser, sub)
            try parser.cursor.finishDirective(sub)
        }
    }

    /// The top-level directives. Blocks (`store`, `upstream`, `route`, `tracing`) and `include` end at their
    /// `}` or their argument; the others are single-line settings.
    static let topLevelTable = DirectiveTable<Void>(
        block: "top level", referencePage: "docs/reference/top-level.md",
        directives: [
            Directive("listen", repeatable: true) { (parser, sub, _) throws(ConfigError) in
                parser.listen.append(try parser.parseListen(sub, existing: parser.listen))
            },
            setting("admin_listen") { (parser, sub) throws(ConfigError) in
                let expected = "'off', a port (on 127.0.0.1) or an address like 127.0.0.1:9901"
                let token = try parser.cursor.requireArgument(of: sub, expected: expected)
                if token.text == "off" {
                    parser.config.adminListen = nil
                } else if !token.text.isEmpty, token.text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    let port = try parser.value(ConfigValue.count(token.text, in: 0...65_535), at: token)
                    parser.config.adminListen = ListenAddress(host: "127.0.0.1", port: UInt16(port))
                } else {
                    parser.config.adminListen = try parser.value(ConfigValue.listenAddress(token.text), at: token)
                }
            },
            setting("workers") { (parser, sub) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'auto' or a number of workers")
                parser.config.workers =
                    token.text == "auto"
                    ? .auto : .fixed(try parser.value(ConfigValue.count(token.text, in: 1...1024), at: token))
            },
            setting("busy_poll") { (parser, sub) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'off' or microseconds like 50us")
                parser.config.busyPollMicroseconds = try parser.value(ConfigValue.busyPoll(token.text), at: token)
            },
            setting("access_log") { (parser, sub) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'stdout' or 'off'")
                switch token.text {
                case "stdout": parser.config.accessLog = .stdout
                case "off": parser.config.accessLog = .off
                default:
                    throw parser.cursor.error(
                        "invalid access_log target '\(token.text)'; expected 'stdout' or 'off'",
                        at: token
                    )
                }
            },
            setting("forward_headers") { (parser, sub) throws(ConfigError) in
                parser.config.forwardHeaders = try parser.forwardHeadersArguments(sub)
            },
            setting("max_request_line") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxRequestLineBytes = try parser.sizeArgument(sub)
            },
            setting("max_header_bytes") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxHeaderBytes = try parser.sizeArgument(sub)
            },
            setting("max_headers") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxHeaderCount = try parser.countArgument(sub, in: 1...10_000)
            },
            setting("max_body") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxBodyBytes = try parser.sizeArgument(sub)
            },
            setting("keepalive_requests") { (parser, sub) throws(ConfigError) in
                parser.config.limits.keepaliveRequests = try parser.countArgument(sub, in: 1...1_000_000_000)
            },
            setting("max_client_connections") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxClientConnections = try parser.countArgument(sub, in: 1...10_000_000)
            },
            setting("max_response_body") { (parser, sub) throws(ConfigError) in
                parser.config.limits.maxUpstreamBodyBytes = try parser.sizeArgument(sub)
            },
            setting("cache_size") { (parser, sub) throws(ConfigError) in
                parser.config.limits.cacheBytesPerWorker = try parser.sizeArgument(sub)
            },
            setting("client_timeout") { (parser, sub) throws(ConfigError) in
                parser.config.timeouts.clientMs = try parser.durationArgument(sub)
            },
            setting("keepalive_timeout") { (parser, sub) throws(ConfigError) in
                parser.config.timeouts.keepaliveMs = try parser.durationArgument(sub)
            },
            setting("send_timeout") { (parser, sub) throws(ConfigError) in
                parser.config.timeouts.sendMs = try parser.durationArgument(sub)
            },
            setting("shutdown_timeout") { (parser, sub) throws(ConfigError) in
                parser.config.timeouts.shutdownMs = try parser.durationArgument(sub)
            },
            setting("gzip") { (parser, sub) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'on' or 'off'")
                switch token.text {
                case "on": parser.config.gzip.enabled = true
                case "off": parser.config.gzip.enabled = false
                default: throw parser.cursor.error("invalid gzip '\(token.text)'; expected 'on' or 'off'", at: token)
                }
            },
            setting("gzip_min_length") { (parser, sub) throws(ConfigError) in
                parser.config.gzip.minLength = try parser.sizeArgument(sub)
            },
            setting("gzip_level") { (parser, sub) throws(ConfigError) in
                parser.config.gzip.level = try parser.countArgument(sub, in: 1...9)
            },
            setting("abort_on_close") { (parser, sub) throws(ConfigError) in
                parser.config.abortOnClose = try parser.onOffArgument(sub)
            },
            Directive("store") { (parser, sub, _) throws(ConfigError) in try parser.parseStore(sub) },
            Directive("upstream", repeatable: true) { (parser, sub, _) throws(ConfigError) in
                try parser.parseUpstream(sub)
            },
            Directive("route", repeatable: true) { (parser, sub, _) throws(ConfigError) in try parser.parseRoute(sub) },
            Directive("include", repeatable: true) { (parser, sub, _) throws(ConfigError) in
                try parser.parseInclude(sub)
            },
            Directive("tracing") { (parser, sub, _) throws(ConfigError) in try parser.parseTracing(sub) },
            setting("cors") { (parser, sub) throws(ConfigError) in
                parser.config.cors = try parser.parseCORSBlock(sub, context: "cors")
            },
        ])

    /// `forward_headers NAME…`: lowercased, each once.
    private mutating func forwardHeadersArguments(_ directive: ConfigToken) throws(ConfigError) -> [String] {
        let names = self.cursor.remainingArguments()
        guard !names.isEmpty else {
            throw self.cursor.argumentError(directive, expected: "one or more header names like Accept-Language")
        }
        var headers: [String] = []
        for token in names {
            guard ConfigValue.isToken(token.text) else {
                throw self.cursor.error(
                    "invalid header name '\(token.text)'; expected a token like User-Agent",
                    at: token
                )
            }
            let lowercased = token.text.lowercased()
            if ForwardedHeaders.isNeverForwarded(lowercased) {
                throw self.cursor.error(
                    "header '\(token.text)' cannot be forwarded: fanout sets it itself or it is hop-by-hop",
                    at: token
                )
            }
            // Composite calls ask for codings with the upstream's `accept_encoding`, and decode what they asked for.
            if lowercased == "accept-encoding" {
                throw self.cursor.error(
                    "header 'Accept-Encoding' cannot be forwarded to composite calls; "
                        + "expected an upstream's 'accept_encoding' instead",
                    at: token
                )
            }
            if !headers.contains(lowercased) { headers.append(lowercased) }
        }
        return headers
    }

    // MARK: - Values

    /// Unwraps a value parser's result, locating a failure inside `token`.
    func value<T>(_ result: Result<T, ConfigValue.Failure>, at token: ConfigToken, offset: Int = 0) throws(ConfigError)
        -> T
    {
        switch result {
        case .success(let value): return value
        case .failure(let failure):
            throw self.cursor.error(failure.message, at: token, scalarOffset: offset + failure.offset)
        }
    }

    mutating func durationArgument(_ directive: ConfigToken, allowZero: Bool = false) throws(ConfigError) -> Int {
        let token = try self.cursor.requireArgument(of: directive, expected: "a duration like 250ms or 2s")
        return try self.value(ConfigValue.duration(token.text, allowZero: allowZero), at: token)
    }

    mutating func sizeArgument(_ directive: ConfigToken) throws(ConfigError) -> Int {
        let token = try self.cursor.requireArgument(of: directive, expected: "a size like 512, 8k or 1m")
        return try self.value(ConfigValue.size(token.text), at: token)
    }

    mutating func countArgument(_ directive: ConfigToken, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let token = try self.cursor.requireArgument(of: directive, expected: "a number")
        return try self.value(ConfigValue.count(token.text, in: range), at: token)
    }

    /// `header NAME VALUE` (upstream and respond blocks).
    mutating func headerArgument(_ directive: ConfigToken) throws(ConfigError) -> HeaderField {
        let name = try self.cursor.requireArgument(of: directive, expected: "a header name and a value")
        if let failure = ConfigValue.headerNameFailure(name.text) {
            throw self.cursor.error(failure.message, at: name)
        }
        let value = try self.cursor.requireArgument(
            of: directive,
            expected: "a value after the header name '\(name.text)'"
        )
        if let failure = ConfigValue.headerValueFailure(value.text) {
            throw self.cursor.error(failure.message, at: value, scalarOffset: failure.offset)
        }
        if let extra = self.cursor.nextArgument() {
            throw self.cursor.error(
                "unexpected extra argument '\(extra.text)' for 'header'; expected one value (quote values with spaces)",
                at: extra
            )
        }
        return HeaderField(name: name.text, value: value.text)
    }

    // MARK: - Upstream names

    static func isValidUpstreamName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                    || $0 == "-"
            }
    }

    /// Creates or reuses the implicit upstream for an absolute URL.
    mutating func implicitUpstream(for origin: UpstreamOrigin, at token: ConfigToken) -> UpstreamReference {
        if let index = self.implicitUpstreamIndex[origin] { return .implicit(index) }
        var upstream = UpstreamConfig(name: UpstreamURL.implicitName(of: origin), origin: origin)
        upstream.isImplicit = true
        upstream.location = SourceLocation(file: self.cursor.file, line: token.line, column: token.column)
        self.implicitUpstreams.append(upstream)
        self.implicitUpstreamIndex[origin] = self.implicitUpstreams.count - 1
        return .implicit(self.implicitUpstreams.count - 1)
    }

    // MARK: - Whole-file validation

    /// Resolves upstream references and assembles the result.
    private mutating func finish() throws(ConfigError) -> FanoutConfig {
        var routes: [RouteConfig] = []
        for pending in self.routes {
            var resolved: [Int] = []
            for reference in pending.references {
                resolved.append(try self.resolve(reference))
            }
            var route = pending.route
            if pending.inheritsCORS { route.responseHeaders.cors = self.config.cors }
            switch route.action {
            case .composite(var composite):
                for index in composite.calls.indices { composite.calls[index].upstream = resolved[index] }
                route.action = .composite(composite)
            case .proxy(var proxy):
                proxy.upstream = resolved[0]
                route.action = .proxy(proxy)
            case .respond:
                break
            }
            routes.append(route)
        }
        self.config.upstreams = self.namedUpstreams + self.implicitUpstreams
        self.config.routes = routes
        return self.config
    }

    private func resolve(_ reference: UpstreamReference) throws(ConfigError) -> Int {
        switch reference {
        case .implicit(let index):
            return self.namedUpstreams.count + index
        case .named(let token, let file):
            // The reference may sit in an included file: locate the error there, not in the cursor's file.
            var cursor = self.cursor
            cursor.file = file
            if let index = self.namedUpstreams.firstIndex(where: { $0.name == token.text }) { return index }
            let names = self.namedUpstreams.map(\.name)
            if let suggestion = Suggestion.closest(to: token.text, among: names) {
                throw cursor.error("unknown upstream '\(token.text)'; did you mean '\(suggestion)'?", at: token)
            }
            let known =
                names.isEmpty
                ? "no upstream blocks are defined"
                : "defined upstreams: \(names.joined(separator: ", "))"
            throw cursor.error(
                "unknown upstream '\(token.text)'; "
                    + "expected the name of an upstream block or an http(s):// URL (\(known))",
                at: token
            )
        }
    }
}
