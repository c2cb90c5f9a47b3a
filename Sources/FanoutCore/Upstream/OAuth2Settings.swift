/// An upstream's `oauth2 { … }` block: fanout obtains an access token from `token_url` with the OAuth 2.0
/// client credentials grant (RFC 6749 §4.4) and sends it on every call to the upstream as
/// `Authorization: Bearer …` (RFC 6750 §2.1). See docs/reference/oauth2.md.
///
/// The client secret is a secret: ``description`` never shows it (nor the client id), so a settings value may be
/// printed or logged.
public struct OAuth2Settings: Sendable, Equatable {
    /// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
    public enum ClientAuthentication: String, Sendable, CaseIterable {
        /// HTTP Basic with the form-encoded id and secret: what every server must accept (the default).
        case basic
        /// `client_id` and `client_secret` in the form body.
        case form
    }

    /// `token_url`: where the token is asked for (an http:// or https:// URL, path included).
    public var tokenEndpoint: UpstreamOrigin
    /// `client_id`, `client_secret` (usually from `${ENV}`).
    public var clientID: String
    public var clientSecret: String
    /// `scope "a b"`: sent as is; nil: no scope parameter.
    public var scope: String?
    /// `audience`: the `audience` parameter many providers (Auth0, Okta) ask for; nil: none.
    public var audience: String?
    /// `auth basic|form`. Default basic.
    public var authentication: ClientAuthentication = .basic
    /// `refresh_before`: a token is refreshed this long before its `expires_in` runs out (at most half its
    /// lifetime before). Default 30 s.
    public var refreshBeforeMs: Int = 30_000
    /// `timeout`: the token request's own limit, connect to last byte. Default 5 s.
    public var timeoutMs: Int = 5_000

    /// After a failed token request, calls fail at once (`auth`) for this long before the next request is made.
    public static let backoffMs = 1_000
    /// A token answer without `expires_in` is taken to live this long (a 401 still replaces it earlier).
    public static let defaultLifetimeSeconds = 3_600
    /// The largest token answer accepted.
    public static let maxResponseBytes = 64 * 1024

    public init(tokenEndpoint: UpstreamOrigin, clientID: String, clientSecret: String) {
        self.tokenEndpoint = tokenEndpoint
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    /// The token endpoint's URL.
    public var tokenURL: String { self.tokenEndpoint.urlPrefix }
}

extension OAuth2Settings: CustomStringConvertible, CustomDebugStringConvertible {
    /// The endpoint and options, never the client id nor the secret.
    public var description: String {
        "oauth2(token_url \(self.tokenURL), auth \(self.authentication.rawValue), client credentials redacted)"
    }

    public var debugDescription: String { self.description }
}
