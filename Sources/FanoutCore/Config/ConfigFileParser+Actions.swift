extension ConfigFileParser {
    static let callOptions = ["required", "optional", "timeout=", "header="]

    // MARK: - call

    /// call := 'call' NAME METHOD (UPSTREAM PATH-TEMPLATE | ABSOLUTE-URL-TEMPLATE) OPTION*
    mutating func parseCall(
        _ directive: ConfigToken,
        path: PathTemplate,
        context: String,
        existing: [CallConfig]
    ) throws(ConfigError) -> (CallConfig, UpstreamReference) {
        let nameToken = try self.cursor.requireArgument(
            of: directive,
            expected: "a name, a method and a target, like 'call product GET partner /v1/products/{id}'"
        )
        let name = nameToken.text
        try self.validateCallName(nameToken, existing: existing, context: context)
        let methodToken = try self.cursor.requireArgument(
            of: directive,
            expected: "an HTTP method like GET after the call name '\(name)'"
        )
        guard ConfigValue.isToken(methodToken.text), methodToken.text != "*" else {
            throw self.cursor.error(
                "invalid method '\(methodToken.text)'; expected an HTTP method like GET",
                at: methodToken
            )
        }
        let (reference, target) = try self.parseTarget(
            of: directive,
            path: path,
            user: "call '\(name)'",
            context: context,
            templateRequired: true
        )
        var call = CallConfig(
            name: name,
            method: methodToken.text.uppercased(),
            upstream: 0,
            target: target!,
            location: SourceLocation(file: self.cursor.file, line: directive.line, column: directive.column)
        )
        try self.parseCallOptions(into: &call)
        return (call, reference)
    }

    private func validateCallName(_ token: ConfigToken, existing: [CallConfig], context: String) throws(ConfigError) {
        let name = token.text
        let scalars = name.unicodeScalars
        let isLetter: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
        guard let first = scalars.first, isLetter(first),
            scalars.allSatisfy({ isLetter($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" })
        else {
            throw self.cursor.error(
                "invalid call name '\(name)'; expected a letter followed by letters, digits, '_' or '-'",
                at: token
            )
        }
        if Self.reservedCallNames.contains(name) {
            throw self.cursor.error(
                "call name '\(name)' is reserved; expected a name other than "
                    + Self.reservedCallNames.sorted().joined(separator: ", "),
                at: token
            )
        }
        if let previous = existing.first(where: { $0.name == name }) {
            throw self.cursor.error(
                "duplicate call name '\(name)' in \(context); it is already used at line \(previous.location.line), "
                    + "expected a unique name",
                at: token
            )
        }
    }

    /// `required` | `optional` | `timeout=DUR` | `header=Name:value`, in any order.
    private mutating func parseCallOptions(into call: inout CallConfig) throws(ConfigError) {
        var requirement: ConfigToken?
        var timeout: ConfigToken?
        for option in self.cursor.remainingArguments() {
            let text = option.text
            if text == "required" || text == "optional" {
                if let requirement {
                    throw self.cursor.error(
                        "'\(text)' conflicts with '\(requirement.text)' given earlier; "
                            + "expected one of required or optional",
                        at: option
                    )
                }
                requirement = option
                call.required = text == "required"
            } else if text.hasPrefix("timeout=") {
                if timeout != nil {
                    throw self.cursor.error("duplicate 'timeout=' option; expected it once per call", at: option)
                }
                timeout = option
                call.timeoutMs = try self.value(ConfigValue.duration(String(text.dropFirst(8))), at: option, offset: 8)
            } else if text.hasPrefix("header=") {
                call.headers.append(try self.callHeader(option))
            } else {
                let key = text.firstIndex(of: "=").map { String(text[...$0]) } ?? text
                let hint =
                    Suggestion.closest(to: key, among: Self.callOptions).map { "did you mean '\($0)'?" }
                    ?? "expected required, optional, timeout=DURATION or header=Name:value"
                throw self.cursor.error("unknown call option '\(text)'; \(hint)", at: option)
            }
        }
    }

    /// `header=Name:value`.
    private func callHeader(_ option: ConfigToken) throws(ConfigError) -> HeaderField {
        let field = option.text.dropFirst(7)
        guard let colon = field.firstIndex(of: ":") else {
            throw self.cursor.error(
                "invalid header option '\(option.text)'; expected header=Name:value",
                at: option,
                scalarOffset: 7
            )
        }
        let name = String(field[..<colon])
        let value = String(field[field.index(after: colon)...])
        if let failure = ConfigValue.headerNameFailure(name, offset: 7) {
            throw self.cursor.error(failure.message, at: option, scalarOffset: failure.offset)
        }
        if let failure = ConfigValue.headerValueFailure(value, offset: 8 + name.unicodeScalars.count) {
            throw self.cursor.error(failure.message, at: option, scalarOffset: failure.offset)
        }
        return HeaderField(name: name, value: value)
    }

    // MARK: - proxy

    /// proxy := 'proxy' (UPSTREAM [PATH-TEMPLATE] | BASE-URL)
    mutating func parseProxy(
        _ directive: ConfigToken,
        path: PathTemplate,
        context: String
    ) throws(ConfigError) -> (ProxyRoute, UpstreamReference) {
        let (reference, target) = try self.parseTarget(
            of: directive,
            path: path,
            user: "proxy",
            context: context,
            templateRequired: false
        )
        return (ProxyRoute(upstream: 0, target: target), reference)
    }

    // MARK: - respond

    /// respond := 'respond' STATUS [BODY]
    mutating func parseRespond(_ directive: ConfigToken) throws(ConfigError) -> StaticResponse {
        let statusToken = try self.cursor.requireArgument(of: directive, expected: "a status code like 200")
        let status = try self.value(ConfigValue.count(statusToken.text, in: 100...599), at: statusToken)
        var body: [UInt8] = []
        if let bodyToken = self.cursor.nextArgument() {
            body = Array(bodyToken.text.utf8)
            if !body.isEmpty && (status < 200 || status == 204 || status == 304) {
                throw self.cursor.error(
                    "a \(status) response cannot have a body; expected 'respond \(status)' alone",
                    at: bodyToken
                )
            }
        }
        return StaticResponse(status: status, body: body)
    }

    // MARK: - Targets

    /// `UPSTREAM PATH-TEMPLATE`, `UPSTREAM` (proxy only), an absolute URL template (call) or a base URL
    /// (proxy).
    private mutating func parseTarget(
        of directive: ConfigToken,
        path: PathTemplate,
        user: String,
        context: String,
        templateRequired: Bool
    ) throws(ConfigError) -> (UpstreamReference, URLTemplate?) {
        let token = try self.cursor.requireArgument(
            of: directive,
            expected: templateRequired
                ? "an upstream name and a path, or an http(s):// URL"
                : "an upstream name or an http(s):// URL"
        )
        if UpstreamURL.isAbsolute(token.text) {
            if !templateRequired {
                let origin = try self.value(UpstreamURL.base(token.text), at: token)
                if let extra = self.cursor.nextArgument() {
                    throw self.cursor.error(
                        "unexpected path '\(extra.text)' after a proxy URL; expected 'proxy URL' alone, or an upstream "
                            + "block and 'proxy NAME /path'",
                        at: extra
                    )
                }
                return (self.implicitUpstream(for: origin, at: token), nil)
            }
            let url = try self.value(UpstreamURL.parse(token.text), at: token)
            var templateText = String(url.rest)
            var baseOffset = url.restOffset
            if !templateText.hasPrefix("/") {
                templateText = "/" + templateText
                baseOffset -= 1
            }
            let template = try self.parseTemplate(templateText, token: token, baseOffset: baseOffset)
            try self.validateReferences(
                template,
                token: token,
                baseOffset: baseOffset,
                path: path,
                user: user,
                context: context
            )
            let origin = UpstreamOrigin(scheme: url.scheme, host: url.host, port: url.port, basePath: "")
            return (self.implicitUpstream(for: origin, at: token), template)
        }
        if token.text.hasPrefix("/") {
            throw self.cursor.error(
                "expected an upstream name or an http(s):// URL before the path '\(token.text)'",
                at: token
            )
        }
        guard Self.isValidUpstreamName(token.text) else {
            throw self.cursor.error(
                "invalid upstream '\(token.text)'; expected an upstream name or an http(s):// URL",
                at: token
            )
        }
        let templateToken: ConfigToken
        if templateRequired {
            templateToken = try self.cursor.requireArgument(
                of: directive,
                expected: "an upstream path like /v1/items/{id} after the upstream name '\(token.text)'"
            )
        } else if let next = self.cursor.nextArgument() {
            templateToken = next
        } else {
            return (.named(token), nil)
        }
        let template = try self.parseTemplate(templateToken.text, token: templateToken, baseOffset: 0)
        try self.validateReferences(
            template,
            token: templateToken,
            baseOffset: 0,
            path: path,
            user: user,
            context: context
        )
        return (.named(token), template)
    }

    private func parseTemplate(_ text: String, token: ConfigToken, baseOffset: Int) throws(ConfigError) -> URLTemplate {
        do throws(TemplateSyntaxError) {
            return try URLTemplate(parsing: text)
        } catch {
            throw self.cursor.error(
                error.message,
                at: token,
                scalarOffset: baseOffset + Self.scalarCount(text, utf8Prefix: error.offset)
            )
        }
    }

    /// Every `{x}`/`{x...}` in `template` must be a parameter of the route path, of the same kind.
    private func validateReferences(
        _ template: URLTemplate,
        token: ConfigToken,
        baseOffset: Int,
        path: PathTemplate,
        user: String,
        context: String
    ) throws(ConfigError) {
        let names = path.parameterNames
        for placeholder in template.placeholders where placeholder.kind != .query {
            let name = placeholder.name
            let offset = baseOffset + Self.scalarCount(template.raw, utf8Prefix: placeholder.offset)
            if !names.contains(name) {
                let hint: String
                if let suggestion = Suggestion.closest(to: name, among: names) {
                    hint = "did you mean '\(suggestion)'?"
                } else if names.isEmpty {
                    hint = "\(context) has no parameters; expected {query.NAME} or a literal"
                } else {
                    hint = "expected one of the route's parameters: \(names.joined(separator: ", "))"
                }
                throw self.cursor.error(
                    "unknown route parameter '\(name)' in \(user); \(hint)",
                    at: token,
                    scalarOffset: offset
                )
            }
            if placeholder.kind == .routeParameter && path.isCatchAll(name) {
                throw self.cursor.error(
                    "'\(name)' is a catch-all parameter of \(context); expected {\(name)...}",
                    at: token,
                    scalarOffset: offset
                )
            }
            if placeholder.kind == .catchAll && !path.isCatchAll(name) {
                throw self.cursor.error(
                    "'\(name)' is a single-segment parameter of \(context); expected {\(name)}",
                    at: token,
                    scalarOffset: offset
                )
            }
        }
    }

    private static func scalarCount(_ text: String, utf8Prefix: Int) -> Int {
        String(decoding: text.utf8.prefix(utf8Prefix), as: UTF8.self).unicodeScalars.count
    }
}
