import Testing

@testable import FanoutCore

/// The token request's form body and headers (``OAuth2TokenRequest``) and reading its answer
/// (``OAuth2TokenResponse``).
@Suite struct OAuth2TokenRequestTests {
    static func settings(_ authentication: OAuth2Settings.ClientAuthentication) -> OAuth2Settings {
        var settings = OAuth2Settings(
            tokenEndpoint: UpstreamOrigin(scheme: "https", host: "auth.test", port: 443, basePath: "/oauth/token"),
            clientID: "id:é", clientSecret: "s&c=r+t %")
        settings.scope = "orders:read stock:read"
        settings.audience = "https://api.test/"
        settings.authentication = authentication
        return settings
    }

    @Test func theFormIsPercentEncodedSoNoValueAddsAParameter() {
        let basic = String(decoding: OAuth2TokenRequest.formBody(Self.settings(.basic)), as: UTF8.self)
        #expect(
            basic == "grant_type=client_credentials&scope=orders%3Aread%20stock%3Aread"
                + "&audience=https%3A%2F%2Fapi.test%2F")
        let form = String(decoding: OAuth2TokenRequest.formBody(Self.settings(.form)), as: UTF8.self)
        #expect(form.hasSuffix("&client_id=id%3A%C3%A9&client_secret=s%26c%3Dr%2Bt%20%25"))
    }

    @Test func basicCredentialsAreTheEncodedIdAndSecretInBase64() {
        let lines = OAuth2TokenRequest.headerLines(Self.settings(.basic))
        // base64("id%3A%C3%A9:s%26c%3Dr%2Bt%20%25")
        #expect(lines.contains("Authorization: Basic aWQlM0ElQzMlQTk6cyUyNmMlM0RyJTJCdCUyMCUyNQ=="))
        #expect(lines.contains("Content-Type: application/x-www-form-urlencoded"))
        #expect(!OAuth2TokenRequest.headerLines(Self.settings(.form)).contains { $0.hasPrefix("Authorization") })
    }

    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg==")])
    func base64MatchesRFC4648(_ text: String, _ encoded: String) {
        #expect(Base64.encode(Array(text.utf8)) == encoded)
    }

    @Test func theSettingsNeverDescribeTheirCredentials() {
        let text = "\(Self.settings(.basic)) \(String(reflecting: Self.settings(.basic)))"
        #expect(!text.contains("s&c=r+t") && !text.contains("id:é"))
        #expect(text.contains("https://auth.test:443/oauth/token"))
    }

    @Test func readsATokenAnswer() {
        let answer = OAuth2TokenResponse.parse(
            Array(#"{"access_token":"abc.DEF-1_~+/=","token_type":"bearer","expires_in":3600,"scope":"x"}"#.utf8))
        #expect(answer == .success(OAuth2TokenResponse(accessToken: "abc.DEF-1_~+/=", expiresInSeconds: 3600)))
        #expect(
            OAuth2TokenResponse.parse(Array(#"{"access_token":"t","expires_in":"60"}"#.utf8))
                == .success(OAuth2TokenResponse(accessToken: "t", expiresInSeconds: 60)))
        #expect(
            OAuth2TokenResponse.parse(Array(#"{"access_token":"t"}"#.utf8))
                == .success(OAuth2TokenResponse(accessToken: "t", expiresInSeconds: nil)))
    }

    @Test(arguments: [
        ("<html>", OAuth2TokenResponse.Failure.notJSON),
        (#"["access_token"]"#, .notJSON),
        (#"{"token_type":"Bearer"}"#, .missingAccessToken),
        (#"{"access_token":""}"#, .missingAccessToken),
        (#"{"access_token":42}"#, .missingAccessToken),
        (#"{"access_token":"a\r\nX-Evil: 1"}"#, .invalidAccessToken),
        (#"{"access_token":"a b"}"#, .invalidAccessToken),
        (#"{"access_token":"t","token_type":"mac"}"#, .unsupportedTokenType),
        (#"{"access_token":"t","expires_in":-1}"#, .invalidExpiresIn),
        (#"{"access_token":"t","expires_in":1.5}"#, .invalidExpiresIn),
        (#"{"access_token":"t","expires_in":true}"#, .invalidExpiresIn),
    ])
    func refusesAnUnusableAnswer(_ body: String, _ failure: OAuth2TokenResponse.Failure) {
        #expect(OAuth2TokenResponse.parse(Array(body.utf8)) == .failure(failure))
        #expect(!failure.description.contains("X-Evil"))
    }
}
