extension ConfigFileParser {
    /// A `tracing` block while it is read: the endpoint is required, so it is known only at the `}`.
    struct TracingBody {
        var endpoint: UpstreamOrigin?
        var settings = TracingConfig(endpoint: UpstreamOrigin(scheme: "http", host: "", port: 80, basePath: ""))
    }

    static let tracingTable = DirectiveTable<TracingBody>(
        block: "tracing", referencePage: "docs/reference/tracing.md",
        directives: [
            Directive("otlp_endpoint") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "an http:// or https:// URL like http://127.0.0.1:4318/v1/traces")
                body.endpoint = try parser.value(UpstreamURL.base(token.text), at: token)
            },
            Directive("sample") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "a ratio from 0 to 1 like 0.1")
                guard let ratio = Double(token.text), token.text.first?.isNumber == true, (0...1).contains(ratio)
                else {
                    throw parser.cursor.error(
                        "invalid sample ratio '\(token.text)'; expected a number from 0 to 1 like 0.1", at: token)
                }
                body.settings.sampleRatio = ratio
            },
            Directive("service_name") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "a service name like fanout")
                if let failure = ConfigValue.headerValueFailure(token.text) {
                    throw parser.cursor.error(failure.message, at: token, scalarOffset: failure.offset)
                }
                body.settings.serviceName = token.text
            },
            Directive("batch") { (parser, sub, body) throws(ConfigError) in
                body.settings.batchSize = try parser.countArgument(sub, in: 1...100_000)
            },
            Directive("flush") { (parser, sub, body) throws(ConfigError) in
                body.settings.flushMs = try parser.durationArgument(sub)
            },
            Directive("queue") { (parser, sub, body) throws(ConfigError) in
                body.settings.queueSize = try parser.countArgument(sub, in: 1...10_000_000)
            },
            Directive("timeout") { (parser, sub, body) throws(ConfigError) in
                body.settings.timeoutMs = try parser.durationArgument(sub)
            },
            Directive("header", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                body.settings.headers.append(try parser.headerArgument(sub))
            },
        ])

    /// `tracing { … }` (``tracingTable``).
    mutating func parseTracing(_ directive: ConfigToken) throws(ConfigError) {
        let context = "tracing"
        let brace = try self.cursor.openBlock(of: directive, context: context)
        var body = TracingBody()
        _ = try self.parseBlock(Self.tracingTable, opened: brace, context: context, into: &body)
        guard let endpoint = body.endpoint else {
            throw self.cursor.error(
                "tracing has no 'otlp_endpoint'; expected one like 'otlp_endpoint http://127.0.0.1:4318/v1/traces'",
                at: directive)
        }
        body.settings.endpoint = endpoint
        self.config.tracing = body.settings
    }
}
