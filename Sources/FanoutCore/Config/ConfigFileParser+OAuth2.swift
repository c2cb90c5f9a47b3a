extension ConfigFileParser {
    /// An `oauth2` block while it is read: the three required values are known only at the `}`.
    struct OAuth2Body {
        var endpoint: UpstreamOrigin?
        var clientID: String?
        var clientSecret: String?
        var scope: String?
        var audience: String?
        var authentication: OAuth2Settings.ClientAuthentication?
        var refreshBeforeMs: Int?
        var timeoutMs: Int?
    }

    static let oauth2Table = DirectiveTable<OAuth2Body>(
        block: "oauth2", referencePage: "docs/reference/oauth2.md",
        directives: [
            Directive("token_url") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "the token endpoint's URL, like https://auth.example.com/oauth/token")
                body.endpoint = try parser.value(UpstreamURL.base(token.text), at: token)
            },
            Directive("client_id") { (parser, sub, body) throws(ConfigError) in
                body.clientID = try parser.secretArgument(sub, expected: "the client id, like ${PARTNER_CLIENT_ID}")
            },
            Directive("client_secret") { (parser, sub, body) throws(ConfigError) in
                body.clientSecret = try parser.secretArgument(
                    sub, expected: "the client secret, like ${PARTNER_SECRET}")
            },
            Directive("scope") { (parser, sub, body) throws(ConfigError) in
                body.scope = try parser.secretArgument(
                    sub, expected: "space-separated scopes, like \"orders:read stock:read\"")
            },
            Directive("audience") { (parser, sub, body) throws(ConfigError) in
                body.audience = try parser.secretArgument(
                    sub, expected: "the API's identifier, like https://api.example.com")
            },
            Directive("auth") { (parser, sub, body) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'basic' or 'form'")
                guard let value = OAuth2Settings.ClientAuthentication(rawValue: token.text) else {
                    throw parser.cursor.error("invalid auth '\(token.text)'; expected 'basic' or 'form'", at: token)
                }
                body.authentication = value
            },
            Directive("refresh_before") { (parser, sub, body) throws(ConfigError) in
                body.refreshBeforeMs = try parser.durationArgument(sub, allowZero: true)
            },
            Directive("timeout") { (parser, sub, body) throws(ConfigError) in
                body.timeoutMs = try parser.durationArgument(sub)
            },
        ])

    /// `oauth2 { … }` inside an upstream block (``oauth2Table``). `token_url`, `client_id` and `client_secret`
    /// are required.
    ///
    /// Messages never quote the value of `client_id`, `client_secret`, `scope` or `audience`: they usually come
    /// from `${ENV}` and may be secrets.
    mutating func parseOAuth2(_ directive: ConfigToken, upstream: String) throws(ConfigError) -> OAuth2Settings {
        let context = "oauth2 of upstream \(upstream)"
        let brace = try self.cursor.openBlock(of: directive, context: "oauth2")
        var body = OAuth2Body()
        let seen = try self.parseBlock(Self.oauth2Table, opened: brace, context: context, into: &body)
        for required in ["token_url", "client_id", "client_secret"] where seen[required] == nil {
            throw self.cursor.error(
                "\(context) has no '\(required)'; expected token_url, client_id and client_secret in its block",
                at: directive
            )
        }
        guard let endpoint = body.endpoint, let clientID = body.clientID, let clientSecret = body.clientSecret else {
            preconditionFailure("checked above")
        }
        var settings = OAuth2Settings(tokenEndpoint: endpoint, clientID: clientID, clientSecret: clientSecret)
        settings.scope = body.scope
        settings.audience = body.audience
        if let authentication = body.authentication { settings.authentication = authentication }
        if let refreshBeforeMs = body.refreshBeforeMs { settings.refreshBeforeMs = refreshBeforeMs }
        if let timeoutMs = body.timeoutMs { settings.timeoutMs = timeoutMs }
        return settings
    }

    /// One non-empty value without control characters; the messages never quote it.
    private mutating func secretArgument(_ directive: ConfigToken, expected: String) throws(ConfigError) -> String {
        let token = try self.cursor.requireArgument(of: directive, expected: expected)
        guard !token.text.isEmpty else {
            throw self.cursor.error(
                "empty value for '\(directive.text)' (is its environment variable set?); expected \(expected)",
                at: token)
        }
        for (index, scalar) in token.text.unicodeScalars.enumerated() where scalar.value < 0x20 || scalar.value == 0x7F
        {
            throw self.cursor.error(
                "the value of '\(directive.text)' contains a control character; expected visible text",
                at: token, scalarOffset: index)
        }
        if self.cursor.nextArgument() != nil {
            throw self.cursor.error(
                "unexpected extra argument after the value of '\(directive.text)'; expected one value "
                    + "(quote values with spaces)",
                at: directive)
        }
        return token.text
    }
}
