extension ConfigFileParser {
    static let upstreamDirectives = [
        "url", "connect_timeout", "timeout", "max_connections", "max_queue", "breaker", "rate", "header", "query",
        "follow_redirects", "coalesce", "accept_encoding", "hedge", "retries", "retry_budget", "tls_verify", "tls_ca",
        "tls_cert", "tls_key", "connect_to", "http2", "oauth2",
    ]

    /// upstream := 'upstream' NAME '{' (url | connect_timeout | timeout | max_connections | max_queue
    ///             | breaker | rate | header | query | follow_redirects | coalesce | accept_encoding | hedge | retries
    ///             | retry_budget | tls_verify | tls_ca | tls_cert | tls_key | connect_to | http2 | oauth2)* '}'
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

        var origin: UpstreamOrigin?
        var connectTimeoutMs: Int?
        var timeoutMs: Int?
        var maxConnections: Int?
        var followRedirects: Int?
        var maxQueue: Int?
        var breaker: BreakerSettings?
        var ratePerSecond: Double?
        var sharedRate: SharedRate?
        var coalesce: Bool?
        var acceptEncoding: [String]?
        var hedgeDelayMs: Int?
        var retries: Int?
        var retryBudgetPercent: Int?
        var headers: [HeaderField] = []
        var query = UpstreamQuery()
        var queryNames: [String: ConfigToken] = [:]
        var transport = UpstreamTransport()
        var oauth2: OAuth2Settings?
        var seen: [String: ConfigToken] = [:]
        while let sub = try self.cursor.nextInBlock(opened: brace, context: context) {
            if sub.text != "header", sub.text != "query", Self.upstreamDirectives.contains(sub.text) {
                if let first = seen[sub.text] { throw self.cursor.duplicateError(sub, first: first, context: context) }
                seen[sub.text] = sub
            }
            switch sub.text {
            case "url":
                let token = try self.cursor.requireArgument(
                    of: sub,
                    expected: "an http:// or https:// URL like https://api.example.com/base"
                )
                origin = try self.value(UpstreamURL.base(token.text), at: token)
            case "connect_timeout":
                connectTimeoutMs = try self.durationArgument(sub)
            case "timeout":
                timeoutMs = try self.durationArgument(sub)
            case "max_connections":
                maxConnections = try self.countArgument(sub, in: 1...100_000)
            case "max_queue":
                maxQueue = try self.countArgument(sub, in: 0...UpstreamConfig.maxQueueLimit)
            case "breaker":
                breaker = try self.breakerArguments(sub)
            case "rate":
                ratePerSecond = try self.rateArgument(sub)
                sharedRate = try self.sharedRateArguments(sub)
            case "header":
                headers.append(try self.headerArgument(sub))
            case "query":
                let (parameter, nameToken) = try self.queryArguments(sub)
                if let first = queryNames[parameter.name] {
                    throw self.cursor.error(
                        "duplicate query parameter '\(parameter.name)' in \(context); it is already set at line "
                            + "\(first.line), expected each name once",
                        at: nameToken
                    )
                }
                queryNames[parameter.name] = nameToken
                query.append(parameter)
            case "follow_redirects":
                followRedirects = try self.countArgument(sub, in: 0...UpstreamConfig.maxFollowRedirects)
            case "coalesce":
                let token = try self.cursor.requireArgument(of: sub, expected: "'on' or 'off'")
                switch token.text {
                case "on": coalesce = true
                case "off": coalesce = false
                default: throw self.cursor.error("invalid coalesce '\(token.text)'; expected 'on' or 'off'", at: token)
                }
            case "accept_encoding":
                acceptEncoding = try self.acceptEncodingArguments(sub)
            case "hedge":
                hedgeDelayMs = try self.hedgeArgument(sub)
            case "retries":
                retries = try self.countArgument(sub, in: 0...AttemptPolicy.maxRetries)
            case "retry_budget":
                retryBudgetPercent = try self.percentArgument(sub)
            case "tls_verify":
                transport.verifyPeer = try self.onOffArgument(sub)
            case "tls_ca":
                transport.caFile = try self.fileArgument(sub, expected: "a PEM file of CA certificates")
            case "tls_cert":
                transport.clientCertificate = try self.fileArgument(sub, expected: "a PEM client certificate file")
            case "tls_key":
                transport.clientKey = try self.fileArgument(sub, expected: "the PEM private key file of tls_cert")
            case "connect_to":
                transport.connectTo = try self.connectToArgument(sub)
            case "http2":
                transport.http2 = try self.onOffArgument(sub)
            case "oauth2":
                oauth2 = try self.parseOAuth2(sub, upstream: name)
            default:
                throw self.cursor.unknownDirective(sub, context: context, known: Self.upstreamDirectives)
            }
            try self.cursor.finishDirective(sub)
        }
        guard let origin else {
            throw self.cursor.error(
                "upstream \(name) has no 'url'; expected 'url http(s)://host[:port][/prefix]' in its block",
                at: nameToken
            )
        }
        try self.checkTransport(transport, seen: seen, origin: origin, context: context)
        if oauth2 != nil, let setter = headers.first(where: { $0.name.lowercased() == "authorization" }) {
            throw self.cursor.error(
                "upstream \(name) sets both 'oauth2' and 'header \(setter.name)'; expected one of them (oauth2 sends "
                    + "Authorization: Bearer itself)",
                at: seen["oauth2"] ?? nameToken
            )
        }
        var upstream = UpstreamConfig(name: name, origin: origin)
        upstream.transport = transport
        if let connectTimeoutMs { upstream.connectTimeoutMs = connectTimeoutMs }
        if let timeoutMs { upstream.timeoutMs = timeoutMs }
        if let maxConnections { upstream.maxConnections = maxConnections }
        if let followRedirects { upstream.followRedirects = followRedirects }
        upstream.maxQueue = maxQueue
        upstream.breaker = breaker
        upstream.ratePerSecond = ratePerSecond
        upstream.sharedRate = sharedRate
        if let coalesce { upstream.coalesce = coalesce }
        if let acceptEncoding { upstream.acceptEncoding = acceptEncoding }
        upstream.hedgeDelayMs = hedgeDelayMs.flatMap { $0 > 0 ? $0 : nil }
        if let retries { upstream.retries = retries }
        if let retryBudgetPercent { upstream.retryBudgetPercent = retryBudgetPercent }
        upstream.headers = headers
        upstream.query = query
        upstream.oauth2 = oauth2
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

    /// `hedge DUR` or `hedge off` (0).
    private mutating func hedgeArgument(_ directive: ConfigToken) throws(ConfigError) -> Int {
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
