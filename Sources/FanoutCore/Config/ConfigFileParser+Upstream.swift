extension ConfigFileParser {
    /// An upstream block while it is read: `upstream` holds every setting but the origin, required and known
    /// only at the `}`.
    struct UpstreamBody {
        var upstream: UpstreamConfig
        var origin: UpstreamOrigin?
        /// Each `query` name's first token, for the duplicate error.
        var queryNames: [String: ConfigToken] = [:]
        var context: String { "upstream \(self.upstream.name)" }
    }

    static let upstreamTable = DirectiveTable<UpstreamBody>(
        block: "upstream NAME", referencePage: "docs/reference/upstream.md",
        directives: [
            Directive("url") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(
                    of: sub,
                    expected: "an http:// or https:// URL like https://api.example.com/base"
                )
                body.origin = try parser.value(UpstreamURL.base(token.text), at: token)
            },
            Directive("connect_timeout") { (parser, sub, body) throws(ConfigError) in
                body.upstream.connectTimeoutMs = try parser.durationArgument(sub)
            },
            Directive("timeout") { (parser, sub, body) throws(ConfigError) in
                body.upstream.timeoutMs = try parser.durationArgument(sub)
            },
            Directive("max_connections") { (parser, sub, body) throws(ConfigError) in
                body.upstream.maxConnections = try parser.countArgument(sub, in: 1...100_000)
            },
            Directive("max_queue") { (parser, sub, body) throws(ConfigError) in
                body.upstream.maxQueue = try parser.countArgument(sub, in: 0...UpstreamConfig.maxQueueLimit)
            },
            Directive("breaker") { (parser, sub, body) throws(ConfigError) in
                body.upstream.breaker = try parser.breakerArguments(sub)
            },
            Directive("rate") { (parser, sub, body) throws(ConfigError) in
                body.upstream.ratePerSecond = try parser.rateArgument(sub)
                body.upstream.sharedRate = try parser.sharedRateArguments(sub)
            },
            Directive("header", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                body.upstream.headers.append(try parser.headerArgument(sub))
            },
            Directive("query", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                let (parameter, nameToken) = try parser.queryArguments(sub)
                if let first = body.queryNames[parameter.name] {
                    throw parser.cursor.error(
                        "duplicate query parameter '\(parameter.name)' in \(body.context); it is already set at line "
                            + "\(first.line), expected each name once",
                        at: nameToken
                    )
                }
                body.queryNames[parameter.name] = nameToken
                body.upstream.query.append(parameter)
            },
            Directive("follow_redirects") { (parser, sub, body) throws(ConfigError) in
                body.upstream.followRedirects = try parser.countArgument(sub, in: 0...UpstreamConfig.maxFollowRedirects)
            },
            Directive("coalesce") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'on' or 'off'")
                switch token.text {
                case "on": body.upstream.coalesce = true
                case "off": body.upstream.coalesce = false
                default:
                    throw parser.cursor.error("invalid coalesce '\(token.text)'; expected 'on' or 'off'", at: token)
                }
            },
            Directive("accept_encoding") { (parser, sub, body) throws(ConfigError) in
                body.upstream.acceptEncoding = try parser.acceptEncodingArguments(sub)
            },
            Directive("context_headers") { (parser, sub, body) throws(ConfigError) in
                body.upstream.contextHeaders = try parser.contextHeadersArguments(sub)
            },
            Directive("hedge") { (parser, sub, body) throws(ConfigError) in
                let delayMs = try parser.delayOrOffArgument(sub)
                body.upstream.hedgeDelayMs = delayMs > 0 ? delayMs : nil
            },
            Directive("abort_grace") { (parser, sub, body) throws(ConfigError) in
                body.upstream.abortGraceMs = try parser.delayOrOffArgument(sub)
            },
            Directive("retries") { (parser, sub, body) throws(ConfigError) in
                body.upstream.retries = try parser.countArgument(sub, in: 0...AttemptPolicy.maxRetries)
            },
            Directive("retry_budget") { (parser, sub, body) throws(ConfigError) in
                body.upstream.retryBudgetPercent = try parser.percentArgument(sub)
            },
            Directive("tls_verify") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.verifyPeer = try parser.onOffArgument(sub)
            },
            Directive("tls_ca") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.caFile = try parser.fileArgument(sub, expected: "a PEM file of CA certificates")
            },
            Directive("tls_cert") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.clientCertificate = try parser.fileArgument(
                    sub, expected: "a PEM client certificate file")
            },
            Directive("tls_key") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.clientKey = try parser.fileArgument(
                    sub, expected: "the PEM private key file of tls_cert")
            },
            Directive("connect_to") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.connectTo = try parser.connectToArgument(sub)
            },
            Directive("http2") { (parser, sub, body) throws(ConfigError) in
                body.upstream.transport.http2 = try parser.onOffArgument(sub)
            },
            Directive("oauth2") { (parser, sub, body) throws(ConfigError) in
                body.upstream.oauth2 = try parser.parseOAuth2(sub, upstream: body.upstream.name)
            },
        ])

    /// `upstream NAME { … }` (``upstreamTable``).
    mutating func parseUpstream(_ directive: ConfigToken) throws(ConfigError) {
        let nameToken = try self.cursor.requireArgument(of: directive, expected: "an upstream name like 'partner'")
        let name = nameToken.text
        guard Self.isValidUpstreamName(name) else {
            throw self.cursor.error(
                "invalid upstream name '\(name)'; expected letters, digits, '_' and '-'",
                at: nameToken
            )
        }
        if let existing = self.namedUpstreams.first(where: { $0.name == name }) {
            throw self.cursor.error(
                "duplicate upstream '\(name)'; it is already defined at "
                    + "\(existing.location.map(self.place) ?? "line 0"), "
                    + "expected a unique name",
                at: nameToken
            )
        }
        let context = "upstream \(name)"
        let brace = try self.cursor.openBlock(of: directive, context: context)
        let placeholder = UpstreamOrigin(scheme: "http", host: "", port: 80, basePath: "")
        var body = UpstreamBody(upstream: UpstreamConfig(name: name, origin: placeholder))
        let seen = try self.parseBlock(Self.upstreamTable, opened: brace, context: context, into: &body)
        guard let origin = body.origin else {
            throw self.cursor.error(
                "upstream \(name) has no 'url'; expected 'url http(s)://host[:port][/prefix]' in its block",
                at: nameToken
            )
        }
        var upstream = body.upstream
        try self.checkTransport(upstream.transport, seen: seen, origin: origin, context: context)
        if upstream.oauth2 != nil,
            let setter = upstream.headers.first(where: { $0.name.lowercased() == "authorization" })
        {
            throw self.cursor.error(
                "upstream \(name) sets both 'oauth2' and 'header \(setter.name)'; expected one of them (oauth2 sends "
                    + "Authorization: Bearer itself)",
                at: seen["oauth2"] ?? nameToken
            )
        }
        upstream.origin = origin
        upstream.location = SourceLocation(file: self.cursor.file, line: directive.line, column: directive.column)
        self.namedUpstreams.append(upstream)
    }

    /// `query NAME VALUE`: the parameter and its name's token. Messages never quote the value or what follows
    /// it: it is usually a secret (`${PARTNER_KEY}`).
    private mutating func queryArguments(
        _ directive: ConfigToken
    ) throws(ConfigError) -> (UpstreamQuery.Parameter, ConfigToken) {
        let name = try self.cursor.requireArgument(
            of: directive,
            expected: "a query parameter name and a value, like 'query api_key ${PARTNER_KEY}'"
        )
        guard UpstreamQuery.isValidName(name.text) else {
            throw self.cursor.error(
                "invalid query parameter name '\(name.text)'; expected letters, digits, '-', '.', '_', '~', '[' or ']'",
                at: name
            )
        }
        let value = try self.cursor.requireArgument(
            of: directive,
            expected: "a value after the query parameter name '\(name.text)'"
        )
        if let extra = self.cursor.nextArgument() {
            throw self.cursor.error(
                "unexpected extra argument after the value of query parameter '\(name.text)'; expected one value "
                    + "(quote values with spaces)",
                at: extra
            )
        }
        return (UpstreamQuery.Parameter(name: name.text, value: value.text), name)
    }

    /// `breaker FAILURES COOLDOWN`: 1 to 1000 consecutive failures, a cool-down of at least 1 ms.
    private mutating func breakerArguments(_ directive: ConfigToken) throws(ConfigError) -> BreakerSettings {
        let expected = "a failure count and a cool-down, like 'breaker 5 30s'"
        let failures = try self.cursor.requireArgument(of: directive, expected: expected)
        let count = try self.value(ConfigValue.count(failures.text, in: 1...1000), at: failures)
        let cooldown = try self.cursor.requireArgument(of: directive, expected: expected)
        let cooldownMs = try self.value(ConfigValue.duration(cooldown.text), at: cooldown)
        return BreakerSettings(failures: count, cooldownMs: cooldownMs)
    }

    /// `accept_encoding off` (an empty list) or one or more of gzip, deflate, br and zstd, each once.
    private mutating func acceptEncodingArguments(_ directive: ConfigToken) throws(ConfigError) -> [String] {
        let tokens = self.cursor.remainingArguments()
        let expected = "'off' or content codings among \(UpstreamConfig.contentCodings.joined(separator: ", "))"
        guard let first = tokens.first else { throw self.cursor.argumentError(directive, expected: expected) }
        if first.text == "off" {
            if let extra = tokens.dropFirst().first {
                throw self.cursor.error("unexpected '\(extra.text)' after 'off'; expected 'off' alone", at: extra)
            }
            return []
        }
        var codings: [String] = []
        for token in tokens {
            guard UpstreamConfig.contentCodings.contains(token.text) else {
                throw self.cursor.error("invalid content coding '\(token.text)'; expected \(expected)", at: token)
            }
            if codings.contains(token.text) {
                throw self.cursor.error("duplicate content coding '\(token.text)'; expected each once", at: token)
            }
            codings.append(token.text)
        }
        return codings
    }

    /// `context_headers off` (none) or one or more of the names in ``ContextHeaders/names`` (any case), each once.
    private mutating func contextHeadersArguments(_ directive: ConfigToken) throws(ConfigError) -> ContextHeaders {
        let tokens = self.cursor.remainingArguments()
        let allowed = ContextHeaders.names.map(\.name).joined(separator: ", ")
        let expected = "'off' or header names among \(allowed)"
        guard let first = tokens.first else { throw self.cursor.argumentError(directive, expected: expected) }
        if first.text == "off" {
            if let extra = tokens.dropFirst().first {
                throw self.cursor.error("unexpected '\(extra.text)' after 'off'; expected 'off' alone", at: extra)
            }
            return []
        }
        var set: ContextHeaders = []
        for token in tokens {
            guard let member = ContextHeaders.member(named: token.text) else {
                throw self.cursor.error(
                    "invalid context_headers name '\(token.text)'; expected \(expected) (tracestate goes with "
                        + "traceparent)",
                    at: token)
            }
            if set.contains(member) {
                throw self.cursor.error(
                    "duplicate context_headers name '\(token.text)'; expected each name once", at: token)
            }
            set.insert(member)
        }
        return set
    }

    /// `hedge DUR` or `hedge off` (0); `abort_grace` likewise.
    private mutating func delayOrOffArgument(_ directive: ConfigToken) throws(ConfigError) -> Int {
        let token = try self.cursor.requireArgument(of: directive, expected: "a delay like 50ms, or off")
        return try self.value(ConfigValue.hedgeDelay(token.text), at: token)
    }

    /// `retry_budget PERCENT`: 0 to 100, with or without a trailing `%`.
    private mutating func percentArgument(_ directive: ConfigToken) throws(ConfigError) -> Int {
        let token = try self.cursor.requireArgument(of: directive, expected: "a share of the calls like 20%")
        let digits = token.text.hasSuffix("%") ? String(token.text.dropLast()) : token.text
        return try self.value(ConfigValue.count(digits, in: 0...100), at: token)
    }

    /// `rate N/s` or `rate N/m`, N from 1 to 1000000: calls per second (or minute), as calls per second.
    private mutating func rateArgument(_ directive: ConfigToken) throws(ConfigError) -> Double {
        let token = try self.cursor.requireArgument(of: directive, expected: "a rate like 100/s or 30/m")
        let parts = token.text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1] == "s" || parts[1] == "m" else {
            throw self.cursor.error(
                "invalid rate '\(token.text)'; expected a number of calls per s or m, like 100/s or 30/m", at: token)
        }
        let count = try self.value(ConfigValue.count(String(parts[0]), in: 1...1_000_000), at: token)
        return parts[1] == "s" ? Double(count) : Double(count) / 60
    }

    /// After `rate N/s`: nothing, or `shared [replicas=N]` (N from 1 to 10000, default 1): the rate holds
    /// across every fanout sharing the `store`; without the store each replica keeps rate/N.
    private mutating func sharedRateArguments(_ directive: ConfigToken) throws(ConfigError) -> SharedRate? {
        guard let token = self.cursor.nextArgument() else { return nil }
        guard token.text == "shared" else {
            throw self.cursor.error(
                "unexpected argument '\(token.text)' for 'rate'; expected 'shared' or end of line", at: token)
        }
        var shared = SharedRate()
        if let option = self.cursor.nextArgument() {
            guard option.text.hasPrefix("replicas=") else {
                throw self.cursor.error(
                    "unexpected argument '\(option.text)' for 'rate'; expected 'replicas=N' or end of line",
                    at: option)
            }
            let digits = String(option.text.dropFirst("replicas=".count))
            shared.replicas = try self.value(
                ConfigValue.count(digits, in: 1...10_000), at: option, offset: "replicas=".count)
        }
        return shared
    }
}
