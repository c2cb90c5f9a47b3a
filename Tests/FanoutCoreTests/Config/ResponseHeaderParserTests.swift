import Testing

@testable import FanoutCore

@Suite struct ResponseHeaderParserTests {
    static func parse(_ text: String) throws -> FanoutConfig {
        try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
    }

    @Test func aCompositeRouteResolvesItsResponseHeaderPlan() throws {
        let config = try Self.parse(
            """
            upstream p { url http://p:1 }
            route GET /x {
                call product GET p /product cache=1m
                call stock GET p /stock cache=10s
                response_header Strict-Transport-Security "max-age=63072000"
                response_header X-Api-Version 2
                pass_header product ETag Link
                pass_header stock Retry-After
                cache_control derived
                cors {
                    origins https://a.example https://*.b.example
                    methods GET POST
                    headers Authorization
                    credentials on
                    max_age 10m
                    expose ETag
                }
            }
            """)
        let plan = config.routes[0].responseHeaders
        #expect(plan.fixed.map(\.name) == ["Strict-Transport-Security", "X-Api-Version"])
        #expect(
            plan.passed == [
                PassedHeaders(call: 0, names: ["ETag", "Link"]), PassedHeaders(call: 1, names: ["Retry-After"]),
            ])
        #expect(plan.derivedCacheControl)
        let cors = try #require(plan.cors)
        #expect(cors.origins == .list(["https://a.example", "https://*.b.example"]))
        #expect(cors.methods == ["GET", "POST"])
        #expect(cors.headers == ["authorization"])
        #expect(cors.credentials)
        #expect(cors.maxAgeSeconds == 600)
        #expect(cors.expose == ["ETag"])
        #expect(config.parseWarnings.isEmpty)
    }

    @Test func theTopLevelCORSAppliesToRoutesWithoutTheirOwnAndCORSOffOptsOut() throws {
        let config = try Self.parse(
            """
            cors { origins *; headers * }
            route GET /a { respond 200 }
            route GET /b { respond 200; cors off }
            route GET /c { proxy http://p:1; cors { origins https://c.example } }
            """)
        #expect(config.routes[0].responseHeaders.cors?.origins == .any)
        #expect(config.routes[0].responseHeaders.cors?.anyHeader == true)
        #expect(config.routes[1].responseHeaders.cors == nil)
        #expect(config.routes[2].responseHeaders.cors?.origins == .list(["https://c.example"]))
    }

    @Test func derivedCacheControlWarnsAboutACallWithoutCache() throws {
        let config = try Self.parse(
            """
            route GET /a {
                call a GET http://h:1/a cache=1m
                call b GET http://h:1/b
                cache_control derived
            }
            """)
        #expect(config.parseWarnings.map(\.location.line) == [4])
        #expect(config.warnings[0].contains("call 'b' has no 'cache='"))
    }

    static let call = "route GET /x {\n  call product GET http://h:1/p\n"

    @Test(arguments: [
        (
            call + "  pass_header 1️⃣prodcut ETag\n}",
            "unknown call 'prodcut' in pass_header; did you mean 'product'?"
        ),
        (
            call + "  pass_header 1️⃣zzz ETag\n}",
            "unknown call 'zzz' in pass_header; expected a call of route GET /x (product)"
        ),
        (
            call + "  response_header 1️⃣Content-Length 5\n}",
            "header 'Content-Length' is managed by the proxy and cannot be set"
        ),
        (
            call + "  pass_header product ETag 1️⃣Transfer-Encoding\n}",
            "header 'Transfer-Encoding' is managed by the proxy and cannot be set"
        ),
        (
            call + "  1️⃣response_header Access-Control-Allow-Origin *\n}",
            "…is a CORS field; use a 'cors' block"
        ),
        (
            call + "  response_header ETag x\n  pass_header product 1️⃣etag\n}",
            "header 'etag' is both passed and set by response_header at line 3; expected one of them"
        ),
        (
            call + "  response_header Cache-Control x\n  1️⃣cache_control derived\n}",
            "'cache_control derived' sets Cache-Control; remove the Cache-Control of line 3"
        ),
        (
            "route GET /x {\n  respond 200\n  1️⃣pass_header a ETag\n}",
            "'pass_header' is only valid in a route with 'call' lines; route GET /x uses 'respond'"
        ),
        (
            "route GET /x {\n  respond 200\n  1️⃣response_header X-A b\n}",
            "…a 'respond' route sets its fields with 'header'"
        ),
        (
            "route GET /x {\n  proxy http://h:1\n  1️⃣cache_control derived\n}",
            "'cache_control' is only valid in a route with 'call' lines; route GET /x uses 'proxy'"
        ),
        (
            "cors {\n  origins *\n  1️⃣credentials on\n}",
            "'credentials on' cannot go with 'origins *': the Fetch standard forbids a wildcard origin on credentialed requests; list the origins"
        ),
        (
            "cors {\n  origins https://a.example\n  headers *\n  1️⃣credentials on\n}",
            "…browsers read '*' literally on credentialed requests"
        ),
        (
            "1️⃣cors { credentials off }",
            "cors has no 'origins'; expected 'origins *' or a list like 'origins https://app.example'"
        ),
        ("cors { origins 1️⃣https://a.example/path }", "…invalid origin 'https://a.example/path'"),
        (
            "cors { origins https://a.example 1️⃣* }",
            "'*' must stand alone in 'origins'; expected '*' or a list of origins"
        ),
        ("cors { 1️⃣origin * }", "unknown directive 'origin' in cors; did you mean 'origins'?"),
        (
            call + "  1️⃣response_header Date today\n}",
            "header 'Date' cannot be set on answers: fanout sets 'Date' itself"
        ),
        (
            call + "  call each GET http://h:1/e/{item} { for_each product.ids }\n  pass_header 1️⃣each ETag\n}",
            "pass_header cannot name the for_each call 'each': it has one answer per item"
        ),
        (
            call + "  pass_header product ETag\n  pass_header product 1️⃣etag\n}",
            "header 'etag' is already passed at line 3; expected each name once"
        ),
        (
            "route GET /x {\n  respond 200\n  cors { origins * }\n  1️⃣cors off\n}",
            "…duplicate 'cors'"
        ),
    ])
    func refusesWithAClearError(_ marked: String, _ message: String) {
        expectConfigError(marked, message)
    }
}
