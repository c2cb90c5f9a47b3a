import Testing

@testable import FanoutCore

@Suite struct CORSPolicyTests {
    static func policy(_ origins: CORSPolicy.Origins, credentials: Bool = false) -> CORSPolicy {
        var policy = CORSPolicy(origins: origins)
        policy.credentials = credentials
        policy.headers = ["authorization", "x-trace"]
        policy.maxAgeSeconds = 600
        policy.expose = ["ETag", "Link"]
        return policy
    }

    static func field(_ response: HTTPResponse, _ name: String) -> String? {
        response.headers.first { HTTPHeaders.namesEqual($0.name, name) }?.value
    }

    @Test func exactAndWildcardOriginsMatchAsListed() {
        let policy = Self.policy(.list(["https://a.example", "https://*.b.example"]))
        #expect(policy.allows(origin: "https://a.example"))
        #expect(policy.allows(origin: "HTTPS://A.example"))
        #expect(policy.allows(origin: "https://x.b.example"))
        #expect(policy.allows(origin: "https://x.y.b.example"))
        #expect(!policy.allows(origin: "https://b.example"))
        #expect(!policy.allows(origin: "http://a.example"))
        #expect(!policy.allows(origin: "https://a.example:8443"))
        #expect(!policy.allows(origin: "https://evil.example/.b.example"))
        #expect(!policy.allows(origin: "https://evilb.example"))
        #expect(!policy.allows(origin: "null"))
    }

    @Test func anAllowedPreflightIsA204WithTheAllowFields() {
        let policy = Self.policy(.list(["https://a.example"]), credentials: true)
        let answer = policy.preflight(
            origin: "https://a.example", requestMethod: "PUT", requestHeaders: "Authorization, content-type")
        #expect(answer.status == 204)
        #expect(answer.body.isEmpty)
        #expect(Self.field(answer, "Access-Control-Allow-Origin") == "https://a.example")
        #expect(Self.field(answer, "Access-Control-Allow-Credentials") == "true")
        #expect(Self.field(answer, "Access-Control-Allow-Methods") == "PUT")
        #expect(Self.field(answer, "Access-Control-Allow-Headers") == "authorization, content-type")
        #expect(Self.field(answer, "Access-Control-Max-Age") == "600")
        #expect(Self.field(answer, "Vary")?.hasPrefix("Origin") == true)
    }

    @Test func aPreflightIsRefusedForAnOriginMethodOrHeaderNotAllowed() {
        var policy = Self.policy(.list(["https://a.example"]))
        policy.methods = ["GET", "POST"]
        let origin = policy.preflight(origin: "https://c.example", requestMethod: "GET", requestHeaders: nil)
        let method = policy.preflight(origin: "https://a.example", requestMethod: "DELETE", requestHeaders: nil)
        let header = policy.preflight(origin: "https://a.example", requestMethod: "GET", requestHeaders: "x-secret")
        for answer in [origin, method, header] {
            #expect(answer.status == 403)
            #expect(Self.field(answer, "Access-Control-Allow-Origin") == nil)
        }
        #expect(String(decoding: header.body, as: UTF8.self).contains("header x-secret is not allowed"))
        let allowed = policy.preflight(origin: "https://a.example", requestMethod: "POST", requestHeaders: nil)
        #expect(Self.field(allowed, "Access-Control-Allow-Methods") == "GET, POST")
    }

    @Test func anyOriginAnswersWithAStarAndNoVary() {
        var policy = CORSPolicy(origins: .any)
        policy.anyHeader = true
        let answer = policy.preflight(origin: "https://z.example", requestMethod: "GET", requestHeaders: "x-anything")
        #expect(answer.status == 204)
        #expect(Self.field(answer, "Access-Control-Allow-Origin") == "*")
        #expect(Self.field(answer, "Access-Control-Allow-Headers") == "x-anything")
        let actual = policy.actualHeaders(origin: "https://z.example")
        #expect(actual == [HeaderField(name: "Access-Control-Allow-Origin", value: "*")])
        #expect(policy.actualHeaders(origin: nil).isEmpty)
    }

    @Test func actualAnswersCarryTheOriginOnlyForAllowedOriginsAndVaryAlways() {
        let policy = Self.policy(.list(["https://a.example"]), credentials: true)
        #expect(
            policy.actualHeaders(origin: "https://a.example") == [
                HeaderField(name: "Access-Control-Allow-Origin", value: "https://a.example"),
                HeaderField(name: "Access-Control-Allow-Credentials", value: "true"),
                HeaderField(name: "Access-Control-Expose-Headers", value: "ETag, Link"),
                HeaderField(name: "Vary", value: "Origin"),
            ])
        #expect(policy.actualHeaders(origin: "https://c.example") == [HeaderField(name: "Vary", value: "Origin")])
        #expect(policy.actualHeaders(origin: nil) == [HeaderField(name: "Vary", value: "Origin")])
    }
}
