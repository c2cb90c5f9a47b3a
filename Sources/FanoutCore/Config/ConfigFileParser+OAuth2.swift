extension ConfigFileParser {
    static let oauth2Directives = [
        "token_url", "client_id", "client_secret", "scope", "audience", "auth", "refresh_before", "timeout",
    ]

    /// oauth2 := 'oauth2' '{' (token_url | client_id | client_secret | scope | audience | auth | refresh_before
    ///           | timeout)* '}', inside an upstream block. `token_url`, `client_id` and `client_secret` are
    ///           required.
    ///
    /// Messages never quote the value of `client_id`, `client_secret`, `scope` or `audience`: they usually come
    /// from `${ENV}` and may be secrets.
    mutating func parseOAuth2(_ directive: ConfigToken, upstream: String) throws(ConfigError) -> OAuth2Settings {
        let context = "oauth2 of upstream \(upstream)"
        let brace = try self.cursor.openBlock(of: directive, context: "oauth2")
        var endpoint: UpstreamOrigin?
        var clientID: String?
        var clientSecret: String?
        var scope: String?
        var audience: String?
        var authentication: OAuth2Settings.ClientAuthentication?
        var refreshBeforeMs: Int?
        var timeoutMs: Int?
        var seen: [String: ConfigToken] = [:]
        while let sub = try self.cursor.nextInBlock(opened: brace, context: context) {
            if let first = seen[sub.text] { throw self.cursor.duplicateError(sub, first: first, context: context) }
            seen[sub.text] = sub
            switch sub.text {
            case "token_url":
                let token = try self.cursor.requireArgument(
                    of: sub, expected: "the token endpoint's URL, like https://auth.example.com/oauth/token")
                endpoint = try self.value(UpstreamURL.base(token.text), at: token)
            case "client_id":
                clientID = try self.secretArgument(sub, expected: "the client id, like ${PARTNER_CLIENT_ID}")
            case "client_secret":
                clientSecret = try self.secretArgument(sub, expected: "the client secret, like ${PARTNER_SECRET}")
            case "scope":
                scope = try self.secretArgument(
                    sub, expected: "space-separated scopes, like \"orders:read stock:read\"")
            case "audience":
                audience = try self.secretArgument(sub, expected: "the API's identifier, like https://api.example.com")
            case "auth":
                let token = try self.cursor.requireArgument(of: sub, expected: "'basic' or 'form'")
                guard let value = OAuth2Settings.ClientAuthentication(rawValue: token.text) else {
                    throw self.cursor.error("invalid auth '\(token.text)'; expected 'basic' or 'form'", at: token)
                }
                authentication = value
            case "refresh_before":
                refreshBeforeMs = try self.durationArgument(sub, allowZero: true)
            case "timeout":
                timeoutMs = try self.durationArgument(sub)
            default:
                throw self.cursor.unknownDirective(sub, context: context, known: Self.oauth2Directives)
            }
            try self.cursor.finishDirective(sub)
        }
        for required in ["token_url", "client_id", "client_secret"] where seen[required] == nil {
            throw self.cursor.error(
                "\(context) has no '\(required)'; expected token_url, client_id and client_secret in its block",
                at: directive
            )
        }
        guard let endpoint, let clientID, let clientSecret else { preconditionFailure("checked above") }
        var settings = OAuth2Settings(tokenEndpoint: endpoint, clientID: clientID, clientSecret: clientSecret)
        settings.scope = scope
        settings.audience = audience
        if let authentication { settings.authentication = authentication }
        if let refreshBeforeMs { settings.refreshBeforeMs = refreshBeforeMs }
        if let timeoutMs { settings.timeoutMs = timeoutMs }
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
