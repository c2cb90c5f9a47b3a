extension ConfigFileParser {
    /// Route settings that only a composite route takes.
    static let compositeSettings: Set<String> = [
        "deadline", "combine", "field", "max_items", "max_concurrency", "pass_status", "error_body", "min_success",
    ]

    /// What a route block holds while it is being read; the action kind is known only at its `}`.
    struct RouteBody {
        let path: PathTemplate
        let context: String
        /// The first `call`, `proxy` or `respond` line: it fixes the route's kind.
        var actionToken: ConfigToken?
        var calls: [CallConfig] = []
        var sites: [CallSite] = []
        var composite = CompositeRoute(calls: [])
        var combineTarget: ConfigToken?
        /// The N of `min_success N`, checked against the number of calls at the `}`.
        var minSuccessToken: ConfigToken?
        var references: [UpstreamReference] = []
        var proxy: ProxyRoute?
        var respond: StaticResponse?
        var respondBody: ConfigToken?
        var deadline: Int?
        var timeout: Int?
        var maxBody: Int?
        var tunnelIdleTimeout: Int?
        /// `min_rate`: nil for `off` (and when not given: see `settings`).
        var minRate: MinimumRate?
        var contentType: String?
        var headers: [HeaderField] = []
        var delay: Int?
        /// `response_header`, `pass_header`, `cache_control`, `cors`.
        var responseHeaders = PendingResponseHeaders()
        /// First token of each single-valued or kind-specific setting, for duplicate and placement errors.
        var settings: [String: ConfigToken] = [:]
    }

    /// `route METHODS PATH { … }` (``routeTable``).
    mutating func parseRoute(_ directive: ConfigToken) throws(ConfigError) {
        let methodsToken = try self.cursor.requireArgument(
            of: directive,
            expected: "methods and a path, like 'route GET /products/{id} {'"
        )
        let methods = try self.parseMethods(methodsToken)
        let pathToken = try self.cursor.requireArgument(
            of: directive,
            expected: "a path like /products/{id} after the methods"
        )
        let path: PathTemplate
        do throws(TemplateSyntaxError) {
            path = try PathTemplate(parsing: pathToken.text)
        } catch {
            throw self.cursor.error(error.message, at: pathToken, utf8Offset: error.offset)
        }
        let context = "route \(Self.displayName(methods, path))"
        try self.checkDuplicateRoute(methods, path, at: pathToken, context: context)
        let brace = try self.cursor.openBlock(of: directive, context: context)

        var body = RouteBody(path: path, context: context)
        _ = try self.parseBlock(Self.routeTable, opened: brace, context: context, into: &body)
        let action = try self.routeAction(body, directive: directive, context: context)
        let location = SourceLocation(file: self.cursor.file, line: directive.line, column: directive.column)
        var route = RouteConfig(methods: methods, path: path, action: action, location: location)
        route.responseHeaders = try self.responseHeaderPlan(
            body.responseHeaders, kind: body.actionToken!, calls: body.calls, context: context)
        self.routes.append(
            PendingRoute(route: route, references: body.references, inheritsCORS: body.responseHeaders.cors == nil)
        )
    }

    /// A `call`, `proxy` or `respond` line: the first one fixes the route's kind.
    private mutating func noteAction(_ sub: ConfigToken, in body: inout RouteBody) throws(ConfigError) {
        if let first = body.actionToken, first.text != sub.text {
            throw self.cursor.error(
                "\(body.context) mixes '\(first.text)' (line \(first.line)) and '\(sub.text)'; "
                    + "expected 'call' lines, one 'proxy' or one 'respond'",
                at: sub
            )
        }
        body.actionToken = body.actionToken ?? sub
    }

    /// A setting that fits only some kinds of route: its first line, checked against the kind at the `}`.
    private static func routeSetting(
        _ name: String, repeatable: Bool = false,
        _ parse: @escaping @Sendable (inout ConfigFileParser, ConfigToken, inout RouteBody) throws(ConfigError) -> Void
    ) -> Directive<RouteBody> {
        Directive(name, repeatable: repeatable) { (parser, sub, body) throws(ConfigError) in
            body.settings[sub.text] = body.settings[sub.text] ?? sub
            try parse(&parser, sub, &body)
        }
    }

    /// `response_header`, `pass_header`, `cache_control` and `cors`: what the route adds to its answers.
    private static func responseHeader(_ name: String, repeatable: Bool = false) -> Directive<RouteBody> {
        Directive(name, repeatable: repeatable) { (parser, sub, body) throws(ConfigError) in
            try parser.parseResponseHeaderDirective(sub, into: &body.responseHeaders, context: body.context)
        }
    }

    static let routeTable = DirectiveTable<RouteBody>(
        block: "route METHODS PATH", referencePage: "docs/reference/route.md",
        directives: [
            Directive("call", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                try parser.noteAction(sub, in: &body)
                let (call, reference, site) = try parser.parseCall(
                    sub, path: body.path, context: body.context, existing: body.calls)
                body.calls.append(call)
                body.sites.append(site)
                body.references.append(reference)
            },
            routeSetting("deadline") { (parser, sub, body) throws(ConfigError) in
                body.deadline = try parser.durationArgument(sub)
            },
            routeSetting("combine") { (parser, sub, body) throws(ConfigError) in
                (body.composite.combine, body.combineTarget) = try parser.parseCombine(sub)
            },
            routeSetting("field", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                body.composite.staticFields.append(
                    try parser.parseStaticField(sub, existing: body.composite.staticFields))
            },
            routeSetting("max_items") { (parser, sub, body) throws(ConfigError) in
                body.composite.maxItems = try parser.countArgument(sub, in: 1...10_000)
            },
            routeSetting("max_concurrency") { (parser, sub, body) throws(ConfigError) in
                body.composite.maxConcurrency = try parser.countArgument(sub, in: 1...1_000)
            },
            routeSetting("pass_status") { (parser, sub, body) throws(ConfigError) in body.composite.passStatus = true },
            routeSetting("error_body") { (parser, sub, body) throws(ConfigError) in
                body.composite.errorBodyBytes = try parser.sizeArgument(sub)
            },
            routeSetting("min_success") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "a number of calls like 2")
                body.composite.minSuccess = try parser.value(ConfigValue.count(token.text, in: 0...10_000), at: token)
                body.minSuccessToken = token
            },
            Directive("proxy") { (parser, sub, body) throws(ConfigError) in
                try parser.noteAction(sub, in: &body)
                let (proxy, reference) = try parser.parseProxy(sub, path: body.path, context: body.context)
                body.proxy = proxy
                body.references = [reference]
            },
            routeSetting("timeout") { (parser, sub, body) throws(ConfigError) in
                body.timeout = try parser.durationArgument(sub)
            },
            routeSetting("max_body") { (parser, sub, body) throws(ConfigError) in
                body.maxBody = try parser.sizeArgument(sub)
            },
            routeSetting("min_rate") { (parser, sub, body) throws(ConfigError) in
                body.minRate = try parser.minRateArguments(sub)
            },
            Directive("respond") { (parser, sub, body) throws(ConfigError) in
                try parser.noteAction(sub, in: &body)
                (body.respond, body.respondBody) = try parser.parseRespond(sub)
            },
            routeSetting("content_type") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "a media type like application/json")
                if !token.text.contains("/") || ConfigValue.headerValueFailure(token.text) != nil {
                    throw parser.cursor.error(
                        "invalid content type '\(token.text)'; expected a media type like application/json",
                        at: token
                    )
                }
                body.contentType = token.text
            },
            routeSetting("header", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                let field = try parser.headerArgument(sub)
                if field.name.lowercased() == "content-type" {
                    throw parser.cursor.error("set the content type with 'content_type', not 'header'", at: sub)
                }
                body.headers.append(field)
            },
            routeSetting("delay") { (parser, sub, body) throws(ConfigError) in
                body.delay = try parser.durationArgument(sub, allowZero: true)
            },
            responseHeader("response_header", repeatable: true),
            responseHeader("pass_header", repeatable: true),
            responseHeader("cache_control"),
            responseHeader("cors"),
            routeSetting("tunnel_idle_timeout") { (parser, sub, body) throws(ConfigError) in
                body.tunnelIdleTimeout = try parser.durationArgument(sub)
            },
        ])

    /// Checks that settings fit the route's kind and builds the action.
    private mutating func routeAction(_ body: RouteBody, directive: ConfigToken, context: String) throws(ConfigError)
        -> RouteAction
    {
        guard let actionToken = body.actionToken else {
            throw self.cursor.error(
                "\(context) has no action; expected 'call' lines, 'proxy' or 'respond' in its block",
                at: directive
            )
        }
        let allowed: Set<String>
        switch actionToken.text {
        case "call": allowed = Self.compositeSettings
        case "proxy": allowed = ["timeout", "max_body", "min_rate", "tunnel_idle_timeout"]
        default: allowed = ["content_type", "header", "delay"]
        }
        let misplaced = body.settings.values.filter { !allowed.contains($0.text) }
        if let token = misplaced.min(by: { ($0.line, $0.column) < ($1.line, $1.column) }) {
            let owner =
                switch token.text {
                case "timeout": "'proxy' (calls take timeout=DUR)"
                case "max_body": "'proxy' (the top-level 'max_body' applies to other routes)"
                case "min_rate": "'proxy' (other routes collect whole bodies under 'client_timeout' and 'timeout')"
                case "tunnel_idle_timeout": "'proxy' (other routes refuse Upgrade requests)"
                case _ where Self.compositeSettings.contains(token.text): "'call' lines"
                default: "'respond'"
                }
            throw self.cursor.error(
                "'\(token.text)' is only valid in a route with \(owner); \(context) uses '\(actionToken.text)'",
                at: token
            )
        }
        switch actionToken.text {
        case "call":
            var composite = body.composite
            composite.deadlineMs = body.deadline ?? 5_000
            composite.calls = body.calls
            try self.checkMinSuccess(composite, token: body.minSuccessToken, context: context)
            try self.link(
                &composite, sites: body.sites, combineTarget: body.combineTarget, settings: body.settings,
                context: context)
            return .composite(composite)
        case "proxy":
            var proxy = body.proxy!
            proxy.timeoutMs = body.timeout
            proxy.maxBodyBytes = body.maxBody
            if body.settings["min_rate"] != nil { proxy.minRate = body.minRate }
            if let idle = body.tunnelIdleTimeout { proxy.tunnelIdleTimeoutMs = idle }
            return .proxy(proxy)
        default:
            var response = body.respond!
            if let contentType = body.contentType { response.contentType = contentType }
            response.headers = body.headers
            response.delayMs = body.delay ?? 0
            try self.checkRespondBody(response, token: body.respondBody, contentTypeSet: body.contentType != nil)
            return .respond(response)
        }
    }

    /// `min_rate RATE [GRACE]` or `min_rate off` (nil): RATE is a size per second (`1k/s`), GRACE a duration
    /// (default: the standard grace).
    private mutating func minRateArguments(_ directive: ConfigToken) throws(ConfigError) -> MinimumRate? {
        let expected = "a rate like 1k/s and an optional grace period like 30s, or off"
        let rateToken = try self.cursor.requireArgument(of: directive, expected: expected)
        if rateToken.text == "off" {
            if let extra = self.cursor.nextArgument() {
                throw self.cursor.error("unexpected '\(extra.text)' after 'off'; expected 'off' alone", at: extra)
            }
            return nil
        }
        let bytesPerSecond = try self.value(ConfigValue.byteRate(rateToken.text), at: rateToken)
        var graceMs = MinimumRate.standard.graceMs
        if let graceToken = self.cursor.nextArgument() {
            graceMs = try self.value(ConfigValue.duration(graceToken.text), at: graceToken)
        }
        return MinimumRate(bytesPerSecond: bytesPerSecond, graceMs: graceMs)
    }

    /// `min_success N` asks for 1 to as many successes as there are calls, and only makes a difference when
    /// some call is optional (a required call failing fails the route anyway): a warning otherwise.
    private mutating func checkMinSuccess(_ route: CompositeRoute, token: ConfigToken?, context: String)
        throws(ConfigError)
    {
        guard let token, let minimum = route.minSuccess else { return }
        if !(1...route.calls.count).contains(minimum) {
            throw self.cursor.error(
                "min_success \(minimum) is out of range for the \(route.calls.count) call(s) of \(context); "
                    + "expected 1...\(route.calls.count)",
                at: token)
        }
        if route.calls.allSatisfy(\.required) {
            self.warnings.append(
                self.cursor.warning(
                    "min_success has no effect in \(context): every call is required, so any failure fails the route; "
                        + "mark calls 'optional' or remove min_success",
                    at: token))
        }
    }

    // MARK: - Methods and duplicates

    /// `*`, `GET` or `GET,HEAD` (uppercased, without spaces).
    private func parseMethods(_ token: ConfigToken) throws(ConfigError) -> MethodSet {
        if token.text == "*" { return .any }
        var methods: [String] = []
        var offset = 0
        for part in token.text.split(separator: ",", omittingEmptySubsequences: false) {
            guard ConfigValue.isToken(part), part != "*" else {
                throw self.cursor.error(
                    "invalid method list '\(token.text)'; "
                        + "expected '*', a method or a comma list without spaces like GET,HEAD",
                    at: token,
                    scalarOffset: offset
                )
            }
            let method = part.uppercased()
            if !methods.contains(method) { methods.append(method) }
            offset += part.unicodeScalars.count + 1
        }
        return .only(methods)
    }

    static func displayName(_ methods: MethodSet, _ path: PathTemplate) -> String {
        switch methods {
        case .any: return "* \(path.raw)"
        case .only(let list): return "\(list.joined(separator: ",")) \(path.raw)"
        }
    }

    /// Two routes of the same path shape may not claim the same method, and a `*` route makes every later
    /// route of its shape unreachable.
    private func checkDuplicateRoute(
        _ methods: MethodSet,
        _ path: PathTemplate,
        at token: ConfigToken,
        context: String
    ) throws(ConfigError) {
        let shape = path.shape
        for earlier in self.routes where earlier.route.path.shape == shape {
            let line = self.place(earlier.route.location)
            switch (earlier.route.methods, methods) {
            case (.any, _):
                throw self.cursor.error(
                    "duplicate \(context): '\(earlier.route.displayName)' at \(line) already matches every method "
                        + "on this path; expected a different path or methods",
                    at: token
                )
            case (.only, .any):
                continue
            case (.only(let previous), .only(let current)):
                if let method = current.first(where: previous.contains) {
                    throw self.cursor.error(
                        "duplicate \(context): \(method) on this path is already routed at \(line); "
                            + "expected each method and path once",
                        at: token
                    )
                }
            }
        }
    }
}
