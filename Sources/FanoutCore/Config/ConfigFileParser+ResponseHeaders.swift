/// `response_header`, `pass_header`, `cache_control` and `cors` in a route, and the top-level `cors`: what a
/// route adds to its answers (``ResponseHeaderPlan``).
extension ConfigFileParser {

    /// The response-header lines of one route block, checked against its calls and kind at its `}`.
    struct PendingResponseHeaders {
        var fixed: [(field: HeaderField, token: ConfigToken)] = []
        var passes: [(directive: ConfigToken, call: ConfigToken, names: [ConfigToken])] = []
        var cacheControl: (directive: ConfigToken, derived: Bool)?
        /// `cors { … }` (a policy) or `cors off` (nil), with its directive.
        var cors: (directive: ConfigToken, policy: CORSPolicy?)?

        /// Every directive, for placement errors.
        var directives: [ConfigToken] {
            self.fixed.map(\.token) + self.passes.map(\.directive)
                + [self.cacheControl?.directive, self.cors?.directive]
                .compactMap { $0 }
        }
    }

    /// Reads `response_header`, `pass_header`, `cache_control` or `cors` in a route block (duplicates of the
    /// last two are refused by ``routeTable``).
    mutating func parseResponseHeaderDirective(
        _ directive: ConfigToken, into pending: inout PendingResponseHeaders, context: String
    ) throws(ConfigError) {
        switch directive.text {
        case "response_header":
            let field = try self.headerArgument(directive)
            try self.checkAnswerFieldName(field.name, at: directive)
            if let first = pending.fixed.first(where: { HTTPHeaders.namesEqual($0.field.name, field.name) }) {
                throw self.cursor.error(
                    "duplicate response_header '\(field.name)'; it is already set at line \(first.token.line), "
                        + "expected each name once",
                    at: directive)
            }
            pending.fixed.append((field, directive))
        case "pass_header":
            let call = try self.cursor.requireArgument(
                of: directive, expected: "a call name and header names like 'pass_header product ETag'")
            let names = self.cursor.remainingArguments()
            guard !names.isEmpty else {
                throw self.cursor.argumentError(directive, expected: "header names after the call '\(call.text)'")
            }
            for name in names {
                if let failure = ConfigValue.headerNameFailure(name.text) {
                    throw self.cursor.error(failure.message, at: name)
                }
                try self.checkAnswerFieldName(name.text, at: name)
            }
            pending.passes.append((directive, call, names))
        case "cache_control":
            let token = try self.cursor.requireArgument(of: directive, expected: "'derived' or 'off'")
            switch token.text {
            case "derived": pending.cacheControl = (directive, true)
            case "off": pending.cacheControl = (directive, false)
            default:
                throw self.cursor.error("invalid cache_control '\(token.text)'; expected 'derived' or 'off'", at: token)
            }
        case "cors":
            if let off = self.cursor.nextArgument() {
                guard off.text == "off" else {
                    throw self.cursor.error(
                        "unexpected '\(off.text)' after 'cors'; expected a block '{ … }' or 'off'", at: off)
                }
                pending.cors = (directive, nil)
            } else {
                pending.cors = (directive, try self.parseCORSBlock(directive, context: "cors of \(context)"))
            }
        default:
            preconditionFailure("unhandled response header directive '\(directive.text)'")
        }
    }

    private func checkAnswerFieldName(_ name: String, at token: ConfigToken) throws(ConfigError) {
        if let reason = ResponseHeaderPlan.refusal(forName: name) {
            throw self.cursor.error("header '\(name)' cannot be set on answers: \(reason)", at: token)
        }
    }

    /// Checks the lines against the route's kind and calls, and resolves them.
    /// - Parameter calls: the route's calls (empty for a proxy or respond route).
    mutating func responseHeaderPlan(
        _ pending: PendingResponseHeaders, kind actionToken: ConfigToken, calls: [CallConfig], context: String
    ) throws(ConfigError) -> ResponseHeaderPlan {
        for token in pending.directives.sorted(by: { ($0.line, $0.column) < ($1.line, $1.column) }) {
            switch (token.text, actionToken.text) {
            case ("cors", _), ("response_header", "call"), ("response_header", "proxy"), (_, "call"):
                continue
            case ("response_header", _):
                throw self.cursor.error(
                    "'response_header' is only valid in a route with 'call' lines or 'proxy'; "
                        + "a 'respond' route sets its fields with 'header'",
                    at: token)
            default:
                throw self.cursor.error(
                    "'\(token.text)' is only valid in a route with 'call' lines; \(context) uses '\(actionToken.text)'",
                    at: token)
            }
        }
        var plan = ResponseHeaderPlan()
        plan.fixed = pending.fixed.map(\.field)
        var passedNames: [String: ConfigToken] = [:]
        for (_, callToken, names) in pending.passes {
            guard let index = calls.firstIndex(where: { $0.name == callToken.text }) else {
                let known = calls.map(\.name)
                if let suggestion = Suggestion.closest(to: callToken.text, among: known) {
                    throw self.cursor.error(
                        "unknown call '\(callToken.text)' in pass_header; did you mean '\(suggestion)'?", at: callToken)
                }
                throw self.cursor.error(
                    "unknown call '\(callToken.text)' in pass_header; expected a call of \(context) "
                        + "(\(known.joined(separator: ", ")))",
                    at: callToken)
            }
            if calls[index].forEach != nil {
                throw self.cursor.error(
                    "pass_header cannot name the for_each call '\(callToken.text)': it has one answer per item",
                    at: callToken)
            }
            for name in names {
                let key = name.text.lowercased()
                if let first = passedNames[key] {
                    throw self.cursor.error(
                        "header '\(name.text)' is already passed at line \(first.line); expected each name once",
                        at: name)
                }
                if let fixed = pending.fixed.first(where: { HTTPHeaders.namesEqual($0.field.name, name.text) }) {
                    throw self.cursor.error(
                        "header '\(name.text)' is both passed and set by response_header at line \(fixed.token.line); "
                            + "expected one of them",
                        at: name)
                }
                passedNames[key] = name
            }
            plan.passed.append(PassedHeaders(call: index, names: names.map(\.text)))
        }
        if let (directive, derived) = pending.cacheControl, derived {
            if let token = passedNames["cache-control"]
                ?? pending.fixed.first(where: { HTTPHeaders.namesEqual($0.field.name, "cache-control") })?.token
            {
                throw self.cursor.error(
                    "'cache_control derived' sets Cache-Control; remove the Cache-Control of line \(token.line)",
                    at: directive)
            }
            plan.derivedCacheControl = true
            if let uncached = calls.first(where: { $0.cache == nil }) {
                self.warnings.append(
                    self.cursor.warning(
                        "call '\(uncached.name)' has no 'cache=', so every answer of \(context) says "
                            + "'Cache-Control: no-store'; give each call a cache= lifetime or remove cache_control",
                        at: directive))
            }
        }
        plan.cors = pending.cors?.policy
        return plan
    }

    /// A `cors` block while it is read.
    struct CORSBody {
        var policy = CORSPolicy(origins: .list([]))
        var credentialsToken: ConfigToken?
    }

    static let corsTable = DirectiveTable<CORSBody>(
        block: "cors", referencePage: "docs/reference/response-headers.md",
        directives: [
            Directive("origins") { (parser, sub, body) throws(ConfigError) in
                body.policy.origins = try parser.corsOrigins(sub)
            },
            Directive("methods") { (parser, sub, body) throws(ConfigError) in
                let tokens = parser.cursor.remainingArguments()
                guard !tokens.isEmpty else { throw parser.cursor.argumentError(sub, expected: "methods like GET POST") }
                for token in tokens {
                    guard ConfigValue.isToken(token.text) else {
                        throw parser.cursor.error(
                            "invalid method '\(token.text)'; expected a method like GET", at: token)
                    }
                    let method = token.text.uppercased()
                    if !body.policy.methods.contains(method) { body.policy.methods.append(method) }
                }
            },
            Directive("headers") { (parser, sub, body) throws(ConfigError) in
                let names = try parser.corsHeaderNames(sub, wildcard: true)
                if names == ["*"] {
                    body.policy.anyHeader = true
                } else {
                    body.policy.headers = names.map { $0.lowercased() }
                }
            },
            Directive("credentials") { (parser, sub, body) throws(ConfigError) in
                body.policy.credentials = try parser.onOffArgument(sub)
                body.credentialsToken = sub
            },
            Directive("max_age") { (parser, sub, body) throws(ConfigError) in
                body.policy.maxAgeSeconds = try parser.durationArgument(sub, allowZero: true) / 1_000
            },
            Directive("expose") { (parser, sub, body) throws(ConfigError) in
                body.policy.expose = try parser.corsHeaderNames(sub, wildcard: false)
            },
        ])

    /// `cors { … }` (``corsTable``), in a route or at top level.
    mutating func parseCORSBlock(_ directive: ConfigToken, context: String) throws(ConfigError) -> CORSPolicy {
        let brace = try self.cursor.openBlock(of: directive, context: context)
        var body = CORSBody()
        let seen = try self.parseBlock(Self.corsTable, opened: brace, context: context, into: &body)
        let policy = body.policy
        let credentialsToken = body.credentialsToken
        guard seen["origins"] != nil else {
            throw self.cursor.error(
                "\(context) has no 'origins'; expected 'origins *' or a list like 'origins https://app.example'",
                at: directive)
        }
        if policy.credentials, let credentialsToken {
            if policy.origins == .any {
                throw self.cursor.error(
                    "'credentials on' cannot go with 'origins *': the Fetch standard forbids a wildcard origin on "
                        + "credentialed requests; list the origins",
                    at: credentialsToken)
            }
            if policy.anyHeader {
                throw self.cursor.error(
                    "'credentials on' cannot go with 'headers *': browsers read '*' literally on credentialed "
                        + "requests; list the headers",
                    at: credentialsToken)
            }
        }
        return policy
    }

    /// `origins *` or `origins ORIGIN…`: `http(s)://host[:port]`, the host optionally `*.`-prefixed.
    private mutating func corsOrigins(_ directive: ConfigToken) throws(ConfigError) -> CORSPolicy.Origins {
        let tokens = self.cursor.remainingArguments()
        guard !tokens.isEmpty else {
            throw self.cursor.argumentError(directive, expected: "'*' or origins like https://app.example")
        }
        if tokens.count == 1, tokens[0].text == "*" { return .any }
        var patterns: [String] = []
        for token in tokens {
            let text = token.text.lowercased()
            if text == "*" {
                throw self.cursor.error(
                    "'*' must stand alone in 'origins'; expected '*' or a list of origins", at: token)
            }
            guard let origin = Self.originPattern(text) else {
                throw self.cursor.error(
                    "invalid origin '\(token.text)'; expected scheme://host[:port] without a path, "
                        + "like https://app.example or https://*.app.example",
                    at: token)
            }
            if !patterns.contains(origin) { patterns.append(origin) }
        }
        return .list(patterns)
    }

    /// The origin pattern as compared (lowercased), or nil when it is not `http(s)://host[:port]` with at most
    /// a leading `*.` label.
    static func originPattern(_ text: String) -> String? {
        let rest: Substring
        if text.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if text.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        var host = rest
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            let port = rest[rest.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            host = rest[..<colon]
        }
        if host.hasPrefix("*.") { host = host.dropFirst(2) }
        guard !host.isEmpty,
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.[]:".contains($0)) }),
            !host.hasPrefix("."), !host.hasSuffix(".")
        else { return nil }
        return text
    }

    private mutating func corsHeaderNames(_ directive: ConfigToken, wildcard: Bool) throws(ConfigError) -> [String] {
        let tokens = self.cursor.remainingArguments()
        guard !tokens.isEmpty else {
            throw self.cursor.argumentError(
                directive, expected: wildcard ? "'*' or header names like Authorization" : "header names like ETag")
        }
        if wildcard, tokens.count == 1, tokens[0].text == "*" { return ["*"] }
        var names: [String] = []
        for token in tokens {
            if let failure = ConfigValue.headerNameFailure(token.text) {
                throw self.cursor.error(failure.message, at: token)
            }
            if !names.contains(where: { HTTPHeaders.namesEqual($0, token.text) }) { names.append(token.text) }
        }
        return names
    }
}
