/// The token request of the client credentials grant (RFC 6749 §4.4.2): a POST of
/// `application/x-www-form-urlencoded` parameters, the client authenticated with HTTP Basic or in the body
/// (§2.3.1).
public enum OAuth2TokenRequest {
    /// The form body: `grant_type=client_credentials`, then `scope` and `audience` when set, then, with
    /// `auth form`, `client_id` and `client_secret`. Every value is percent-encoded (only unreserved bytes
    /// stay as they are), so no value can add or split a parameter.
    public static func formBody(_ settings: OAuth2Settings) -> [UInt8] {
        var parameters: [(String, String)] = [("grant_type", "client_credentials")]
        if let scope = settings.scope { parameters.append(("scope", scope)) }
        if let audience = settings.audience { parameters.append(("audience", audience)) }
        if settings.authentication == .form {
            parameters.append(("client_id", settings.clientID))
            parameters.append(("client_secret", settings.clientSecret))
        }
        var body: [UInt8] = []
        for (index, (name, value)) in parameters.enumerated() {
            if index > 0 { body.append(UInt8(ascii: "&")) }
            PercentCoding.appendEncoded(name.utf8, to: &body)
            body.append(UInt8(ascii: "="))
            PercentCoding.appendEncoded(value.utf8, to: &body)
        }
        return body
    }

    /// The request's header lines: the form's content type, `Accept: application/json`, and with `auth basic`
    /// the `Authorization: Basic …` of the form-encoded id and secret (§2.3.1 asks to encode them first).
    public static func headerLines(_ settings: OAuth2Settings) -> [String] {
        var lines = ["Content-Type: application/x-www-form-urlencoded", "Accept: application/json"]
        if settings.authentication == .basic {
            var credentials: [UInt8] = []
            PercentCoding.appendEncoded(settings.clientID.utf8, to: &credentials)
            credentials.append(UInt8(ascii: ":"))
            PercentCoding.appendEncoded(settings.clientSecret.utf8, to: &credentials)
            lines.append("Authorization: Basic \(Base64.encode(credentials))")
        }
        return lines
    }
}

/// Standard base64 with padding (RFC 4648 §4), for HTTP Basic credentials.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let first = UInt32(bytes[index])
            let second = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let third = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let group = first << 16 | second << 8 | third
            out.append(alphabet[Int(group >> 18 & 63)])
            out.append(alphabet[Int(group >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
