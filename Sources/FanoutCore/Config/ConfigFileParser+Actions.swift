extension ConfigFileParser {
    // MARK: - proxy

    /// proxy := 'proxy' (UPSTREAM [PATH-TEMPLATE] | BASE-URL)
    mutating func parseProxy(
        _ directive: ConfigToken,
        path: PathTemplate,
        context: String
    ) throws(ConfigError) -> (ProxyRoute, UpstreamReference) {
        let (reference, target, sites) = try self.parseTarget(
            of: directive,
            path: path,
            user: "proxy",
            context: context,
            templateRequired: false
        )
        if let site = sites.first(where: { if case .query = $0.reference { false } else { true } }) {
            throw self.cursor.error(
                "a proxy target may use route parameters and {query.NAME} only; '{\(site.reference)}' needs a composite "
                    + "route ('call' lines)",
                at: site.token, scalarOffset: site.scalarOffset)
        }
        return (ProxyRoute(upstream: 0, target: target), reference)
    }

    // MARK: - respond

    /// respond := 'respond' STATUS [BODY]
    /// - Returns: the response and its body token, checked against the content type once the block is read.
    mutating func parseRespond(_ directive: ConfigToken) throws(ConfigError) -> (StaticResponse, ConfigToken?) {
        let statusToken = try self.cursor.requireArgument(of: directive, expected: "a status code like 200")
        let status = try self.value(ConfigValue.count(statusToken.text, in: 100...599), at: statusToken)
        var body: [UInt8] = []
        let bodyToken = self.cursor.nextArgument()
        if let bodyToken {
            body = Array(bodyToken.text.utf8)
            if !body.isEmpty && (status < 200 || status == 204 || status == 304) {
                throw self.cursor.error(
                    "a \(status) response cannot have a body; expected 'respond \(status)' alone",
                    at: bodyToken
                )
            }
        }
        return (StaticResponse(status: status, body: body), bodyToken)
    }

    /// A body sent as JSON (`application/json`, the default, or a `+json` type) must be JSON: clients parse
    /// it. The error points at the first wrong character inside the body.
    func checkRespondBody(_ response: StaticResponse, token: ConfigToken?, contentTypeSet: Bool) throws(ConfigError) {
        guard let token, !response.body.isEmpty,
            ResponseStitcher.MediaType(contentType: response.contentType) == .json
        else { return }
        do throws(JSONParseError) {
            _ = try JSONValue(parsing: response.body)
        } catch {
            let type = contentTypeSet ? "'\(response.contentType)'" : "application/json (the default of 'respond')"
            throw self.cursor.error(
                "respond body is not valid JSON (\(error.message)) but its content type is \(type); "
                    + "expected JSON in backticks like `{\"status\": \"ok\"}`, or a 'content_type' like text/plain",
                at: token, utf8Offset: error.offset)
        }
    }

    // MARK: - Targets

    /// `UPSTREAM PATH-TEMPLATE`, `UPSTREAM` (proxy only), an absolute URL template (call) or a base URL
    /// (proxy).
    mutating func parseTarget(
        of directive: ConfigToken,
        path: PathTemplate,
        user: String,
        context: String,
        templateRequired: Bool
    ) throws(ConfigError) -> (UpstreamReference, URLTemplate?, [ReferenceSite]) {
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
                return (self.implicitUpstream(for: origin, at: token), nil, [])
            }
            let url = try self.value(UpstreamURL.parse(token.text), at: token)
            var templateText = String(url.rest)
            var baseOffset = url.restOffset
            if !templateText.hasPrefix("/") {
                templateText = "/" + templateText
                baseOffset -= 1
            }
            let template = try self.parseTemplate(templateText, token: token, baseOffset: baseOffset)
            let sites = try self.validateReferences(
                template,
                token: token,
                baseOffset: baseOffset,
                path: path,
                user: user,
                context: context
            )
            let origin = UpstreamOrigin(scheme: url.scheme, host: url.host, port: url.port, basePath: "")
            return (self.implicitUpstream(for: origin, at: token), template, sites)
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
            return (.named(token, file: self.cursor.file), nil, [])
        }
        let template = try self.parseTemplate(templateToken.text, token: templateToken, baseOffset: 0)
        let sites = try self.validateReferences(
            template,
            token: templateToken,
            baseOffset: 0,
            path: path,
            user: user,
            context: context
        )
        return (.named(token, file: self.cursor.file), template, sites)
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

    /// Every `{x}`/`{x...}` in `template` must be a parameter of the route path, of the same kind. Returns
    /// the other references with their places, checked once the whole route is read.
    private func validateReferences(
        _ template: URLTemplate,
        token: ConfigToken,
        baseOffset: Int,
        path: PathTemplate,
        user: String,
        context: String
    ) throws(ConfigError) -> [ReferenceSite] {
        let sites = template.references.map { reference, offset in
            ReferenceSite(
                reference: reference, token: token,
                scalarOffset: baseOffset + Self.scalarCount(template.raw, utf8Prefix: offset))
        }
        try self.validateRouteParameters(
            template.routeParameterReferences, in: template.raw, token: token, baseOffset: baseOffset, path: path,
            user: user, context: context)
        return sites
    }

    /// Every `{x}`/`{x...}` must be a parameter of the route path, of the same kind.
    func validateRouteParameters(
        _ parameters: [(name: String, offset: Int)],
        in raw: String,
        token: ConfigToken,
        baseOffset: Int,
        path: PathTemplate,
        user: String,
        context: String
    ) throws(ConfigError) {
        let names = path.parameterNames
        for placeholder in parameters {
            let name = placeholder.name
            let offset = baseOffset + Self.scalarCount(raw, utf8Prefix: placeholder.offset)
            let isCatchAll = raw.utf8.dropFirst(placeholder.offset + 1 + name.utf8.count).starts(with: "...".utf8)
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
            if !isCatchAll && path.isCatchAll(name) {
                throw self.cursor.error(
                    "'\(name)' is a catch-all parameter of \(context); expected {\(name)...}",
                    at: token,
                    scalarOffset: offset
                )
            }
            if isCatchAll && !path.isCatchAll(name) {
                throw self.cursor.error(
                    "'\(name)' is a single-segment parameter of \(context); expected {\(name)}",
                    at: token,
                    scalarOffset: offset
                )
            }
        }
    }

    static func scalarCount(_ text: String, utf8Prefix: Int) -> Int {
        String(decoding: text.utf8.prefix(utf8Prefix), as: UTF8.self).unicodeScalars.count
    }
}
