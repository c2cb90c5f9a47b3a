extension ConfigFileParser {
    static let tracingDirectives = [
        "otlp_endpoint", "sample", "service_name", "batch", "flush", "queue", "timeout", "header",
    ]

    /// tracing := 'tracing' '{' (otlp_endpoint | sample | service_name | batch | flush | queue | timeout
    ///            | header)* '}'
    mutating func parseTracing(_ directive: ConfigToken) throws(ConfigError) {
        let context = "tracing"
        let brace = try self.cursor.openBlock(of: directive, context: context)
        var endpoint: UpstreamOrigin?
        var settings = TracingConfig(endpoint: UpstreamOrigin(scheme: "http", host: "", port: 80, basePath: ""))
        var seen: [String: ConfigToken] = [:]
        while let sub = try self.cursor.nextInBlock(opened: brace, context: context) {
            if sub.text != "header", Self.tracingDirectives.contains(sub.text) {
                if let first = seen[sub.text] { throw self.cursor.duplicateError(sub, first: first, context: context) }
                seen[sub.text] = sub
            }
            switch sub.text {
            case "otlp_endpoint":
                let token = try self.cursor.requireArgument(
                    of: sub, expected: "an http:// or https:// URL like http://127.0.0.1:4318/v1/traces")
                endpoint = try self.value(UpstreamURL.base(token.text), at: token)
            case "sample":
                let token = try self.cursor.requireArgument(of: sub, expected: "a ratio from 0 to 1 like 0.1")
                guard let ratio = Double(token.text), token.text.first?.isNumber == true, (0...1).contains(ratio)
                else {
                    throw self.cursor.error(
                        "invalid sample ratio '\(token.text)'; expected a number from 0 to 1 like 0.1", at: token)
                }
                settings.sampleRatio = ratio
            case "service_name":
                let token = try self.cursor.requireArgument(of: sub, expected: "a service name like fanout")
                if let failure = ConfigValue.headerValueFailure(token.text) {
                    throw self.cursor.error(failure.message, at: token, scalarOffset: failure.offset)
                }
                settings.serviceName = token.text
            case "batch":
                settings.batchSize = try self.countArgument(sub, in: 1...100_000)
            case "flush":
                settings.flushMs = try self.durationArgument(sub)
            case "queue":
                settings.queueSize = try self.countArgument(sub, in: 1...10_000_000)
            case "timeout":
                settings.timeoutMs = try self.durationArgument(sub)
            case "header":
                settings.headers.append(try self.headerArgument(sub))
            default:
                throw self.cursor.unknownDirective(sub, context: context, known: Self.tracingDirectives)
            }
            try self.cursor.finishDirective(sub)
        }
        guard let endpoint else {
            throw self.cursor.error(
                "tracing has no 'otlp_endpoint'; expected one like 'otlp_endpoint http://127.0.0.1:4318/v1/traces'",
                at: directive)
        }
        settings.endpoint = endpoint
        self.config.tracing = settings
    }
}
