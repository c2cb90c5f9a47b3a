import Testing

@testable import FanoutCore

/// `query NAME VALUE` in an upstream block, and how ``UpstreamQuery`` adds it to a call's path and query.
@Suite struct UpstreamQueryTests {
    // MARK: - Parsing

    @Test func readsRepeatedParametersInFileOrderWithTheEnvironmentInterpolated() throws {
        let config = try ConfigParser.parse(
            """
            upstream partner {
                url https://partner.test/api
                query api_key ${PARTNER_KEY}
                query "filter[v]" "2 b"
            }
            route GET /x { call x GET partner /x }
            """,
            file: "proxy.conf", environment: ["PARTNER_KEY": "a+b&c=d %e é"])
        let query = config.upstreams[0].query
        #expect(
            query.parameters == [
                UpstreamQuery.Parameter(name: "api_key", value: "a+b&c=d %e é"),
                UpstreamQuery.Parameter(name: "filter[v]", value: "2 b"),
            ])
        #expect(query.encoded == "api_key=a%2Bb%26c%3Dd%20%25e%20%C3%A9&filter%5Bv%5D=2%20b")
        #expect(config.upstreams[0].url("/x") == "https://partner.test:443/api/x?" + query.encoded)
    }

    @Test func anUpstreamWithoutQueryLeavesTheURLAlone() throws {
        let config = try ConfigParser.parse(
            "upstream a { url http://a.test }", file: "proxy.conf", environment: [:])
        #expect(config.upstreams[0].query.isEmpty)
        #expect(config.upstreams[0].url("/x?y=1") == "http://a.test:80/x?y=1")
    }

    @Test(arguments: [
        (
            "upstream a { url http://a.test; query }",
            "proxy.conf:1:33: missing argument for 'query'; expected a query parameter name and a value, "
                + "like 'query api_key ${PARTNER_KEY}'"
        ),
        (
            "upstream a { url http://a.test; query api_key }",
            "proxy.conf:1:33: missing argument for 'query'; expected a value after the query parameter name "
                + "'api_key'"
        ),
        (
            "upstream a { url http://a.test; query a&b x }",
            "proxy.conf:1:39: invalid query parameter name 'a&b'; expected letters, digits, '-', '.', '_', '~', "
                + "'[' or ']'"
        ),
        (
            "upstream a { url http://a.test; query \"\" x }",
            "proxy.conf:1:39: invalid query parameter name ''; expected letters, digits, '-', '.', '_', '~', "
                + "'[' or ']'"
        ),
        (
            "upstream a { url http://a.test; query a=b x }",
            "proxy.conf:1:39: invalid query parameter name 'a=b'; expected letters, digits, '-', '.', '_', '~', "
                + "'[' or ']'"
        ),
        (
            "upstream a { url http://a.test; query key one; query key two }",
            "proxy.conf:1:54: duplicate query parameter 'key' in upstream a; it is already set at line 1, "
                + "expected each name once"
        ),
    ])
    func rejects(config: String, message: String) {
        #expect(throws: ConfigError.self) { try ConfigParser.parse(config, file: "proxy.conf", environment: [:]) }
        do {
            _ = try ConfigParser.parse(config, file: "proxy.conf", environment: [:])
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func errorsNeverQuoteTheValue() {
        // Unquoted, a key with a space becomes two arguments: the message must not show either part.
        let config = "upstream a { url http://a.test; query api_key s3cret tail }"
        do {
            _ = try ConfigParser.parse(config, file: "proxy.conf", environment: [:])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("api_key"))
            #expect(!error.description.contains("s3cret"))
            #expect(!error.description.contains("tail"))
        }
    }

    @Test func describesNamesButNeverValues() {
        let query = UpstreamQuery([.init(name: "api_key", value: "s3cret")])
        #expect("\(query)" == "query(api_key=<redacted>)")
        var upstream = UpstreamConfig(
            name: "p", origin: UpstreamOrigin(scheme: "http", host: "p.test", port: 80, basePath: ""))
        upstream.query = query
        #expect(!"\(upstream)".contains("s3cret"))
    }

    // MARK: - Merging into a call's query

    @Test(arguments: [
        ("/x", "/x?key=K%26"),
        ("/x?", "/x?key=K%26"),
        ("/x?a=1", "/x?a=1&key=K%26"),
        ("/x?a=1&", "/x?a=1&key=K%26"),
        ("/x?a=1&&b", "/x?a=1&b&key=K%26"),
        ("/x?key=client", "/x?key=K%26"),
        ("/x?a=1&key=client&b=2&key", "/x?a=1&b=2&key=K%26"),
        ("/x?%6Bey=encoded&k%65y+=other", "/x?k%65y+=other&key=K%26"),
        ("/x?keys=1&akey=2", "/x?keys=1&akey=2&key=K%26"),
    ])
    func appendsAfterTheCallsQueryReplacingSameNamedParameters(pathAndQuery: String, expected: String) {
        let query = UpstreamQuery([.init(name: "key", value: "K&")])
        #expect(query.applied(to: pathAndQuery) == expected)
    }

    @Test func encodesEveryByteOutsideUnreservedOnce() {
        let query = UpstreamQuery([.init(name: "k", value: "+&= %/?#é~-._"), .init(name: "e", value: "")])
        #expect(query.encoded == "k=%2B%26%3D%20%25%2F%3F%23%C3%A9~-._&e=")
        #expect(UpstreamQuery().applied(to: "/x?a") == "/x?a")
    }
}
