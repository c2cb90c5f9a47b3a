/// A successful token answer (RFC 6749 §5.1): `{"access_token":"…","token_type":"Bearer","expires_in":3600}`.
public struct OAuth2TokenResponse: Sendable, Equatable {
    public var accessToken: String
    /// Seconds the token lives (`expires_in`, a number or a string of digits); nil when the answer has none.
    public var expiresInSeconds: Int?

    /// Why a token answer cannot be used. The descriptions never quote the answer: it may hold a token.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not one JSON object.
        case notJSON
        /// No non-empty string `access_token`.
        case missingAccessToken
        /// `access_token` holds a byte that cannot go into a header (RFC 6750 §2.1 allows visible ASCII only).
        case invalidAccessToken
        /// `token_type` is there and is not `Bearer` (case-insensitive).
        case unsupportedTokenType
        /// `expires_in` is not a non-negative whole number.
        case invalidExpiresIn

        public var description: String {
            switch self {
            case .notJSON: return "token answer is not a JSON object"
            case .missingAccessToken: return "token answer has no access_token"
            case .invalidAccessToken: return "token answer's access_token is not visible ASCII"
            case .unsupportedTokenType: return "token answer's token_type is not Bearer"
            case .invalidExpiresIn: return "token answer's expires_in is not a whole number of seconds"
            }
        }
    }

    public init(accessToken: String, expiresInSeconds: Int?) {
        self.accessToken = accessToken
        self.expiresInSeconds = expiresInSeconds
    }

    /// Reads a 2xx answer's body.
    public static func parse(_ body: [UInt8]) -> Result<OAuth2TokenResponse, Failure> {
        guard let value = try? JSONValue(parsing: body), case .object(let members) = value else {
            return .failure(.notJSON)
        }
        func member(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
        guard case .string(let token)? = member("access_token"), !token.isEmpty else {
            return .failure(.missingAccessToken)
        }
        guard token.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return .failure(.invalidAccessToken) }
        switch member("token_type") {
        case nil, .null?: break
        case .string(let type)? where type.lowercased() == "bearer": break
        default: return .failure(.unsupportedTokenType)
        }
        let expiresIn: Int?
        switch member("expires_in") {
        case nil, .null?: expiresIn = nil
        case .number(let text)?, .string(let text)?:
            guard let seconds = Int(text), seconds >= 0 else { return .failure(.invalidExpiresIn) }
            expiresIn = seconds
        default: return .failure(.invalidExpiresIn)
        }
        return .success(OAuth2TokenResponse(accessToken: token, expiresInSeconds: expiresIn))
    }
}
