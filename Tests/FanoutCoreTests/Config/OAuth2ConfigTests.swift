import Testing

@testable import FanoutCore

/// The `oauth2 { … }` block of an upstream.
@Suite struct OAuth2ConfigTests {
    static let environment = ["ID": "client-7", "SECRET": "hunter2-very-secret"]

    @Test func readsTheBlockWithTheEnvironmentInterpolated() throws {
        let config = try ConfigParser.parse(
            """
            upstream partner {
                url https://partner.test/api
                oauth2 {
                    token_url https://auth.test/oauth/token
                    client_id ${ID}
                    client_secret ${SECRET}
                    scope "a b"
                    audience https://partner.test
                    auth form
                    refresh_before 10s
                    timeout 2s
                }
                timeout 1s
            }
            route GET /x { call x GET partner /x }
            """, file: "proxy.conf", environment: Self.environment)
        let settings = try #require(config.upstreams[0].oauth2)
        #expect(settings.tokenURL == "https://auth.test:443/oauth/token")
        #expect(settings.clientID == "client-7")
        #expect(settings.clientSecret == "hunter2-very-secret")
        #expect(settings.scope == "a b")
        #expect(settings.audience == "https://partner.test")
        #expect(settings.authentication == .form)
        #expect(settings.refreshBeforeMs == 10_000)
        #expect(settings.timeoutMs == 2_000)
        #expect(config.upstreams[0].timeoutMs == 1_000)
    }

    @Test func defaultsToBasicAuthAndA30SecondMargin() throws {
        let config = try ConfigParser.parse(
            "upstream p {\n url http://p.test\n oauth2 { token_url http://a.test/t; client_id x; client_secret y }\n}",
            file: "proxy.conf", environment: [:])
        let settings = try #require(config.upstreams[0].oauth2)
        #expect(settings.authentication == .basic)
        #expect(settings.refreshBeforeMs == 30_000)
        #expect(settings.scope == nil && settings.audience == nil)
    }

    @Test(arguments: [
        (
            "oauth2 { token_url http://a.test/t; client_id ${ID} }",
            "oauth2 of upstream p has no 'client_secret'; expected token_url, client_id and client_secret"
        ),
        (
            "oauth2 { token_url ftp://a.test; client_id ${ID}; client_secret ${SECRET} }",
            "expected an http:// or https:// URL"
        ),
        (
            "oauth2 { token_url http://a.test; client_id ${ID}; client_secret ${NOPE:-} }",
            "empty value for 'client_secret' (is its environment variable set?)"
        ),
        (
            "oauth2 { token_url http://a.test; client_id ${ID}; client_secret ${SECRET} ${ID} }",
            "unexpected extra argument after the value of 'client_secret'"
        ),
        (
            "oauth2 { token_url http://a.test; client_id ${ID}; client_secret ${SECRET}; auth digest }",
            "invalid auth 'digest'; expected 'basic' or 'form'"
        ),
        (
            "oauth2 { token_url http://a.test; client_id ${ID}; client_secret ${SECRET}; scop x }",
            "unknown directive 'scop' in oauth2 of upstream p; did you mean 'scope'?"
        ),
        (
            "oauth2 { token_url http://a.test; client_id ${ID}; client_id ${ID}; client_secret ${SECRET} }",
            "duplicate 'client_id' in oauth2 of upstream p"
        ),
        (
            "header Authorization ${SECRET}\n oauth2 { token_url http://a.test; client_id ${ID}; client_secret ${SECRET} }",
            "upstream p sets both 'oauth2' and 'header Authorization'"
        ),
    ])
    func refusesAWrongBlockWithoutQuotingASecret(_ block: String, _ message: String) {
        let text = "upstream p {\n url http://p.test\n \(block)\n}\nroute GET /x { call x GET p /x }"
        #expect {
            try ConfigParser.parse(text, file: "proxy.conf", environment: Self.environment)
        } throws: { error in
            let description = "\(error)"
            return description.contains(message) && !description.contains("hunter2")
                && !description.contains("client-7")
        }
    }
}
