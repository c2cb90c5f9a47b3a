import FanoutTestSupport
import Foundation
import Testing

/// Redirects are not followed unless the upstream sets `follow_redirects N`.
@Suite struct RedirectTests {
    @Test func aRedirectIsTheAnswerUnlessTheUpstreamFollowsIt() throws {
        let stub = try UpstreamStub(routes: [
            "/moved": .redirect(to: "/final"),
            "/final": .json(#"{"final":true}"#),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream following {
                url {{stub}}
                follow_redirects 2
            }
            upstream plain {
                url {{stub}}
            }
            route GET /composite/following { call a GET following /moved; }
            route GET /composite/plain { call a GET plain /moved; }
            route GET /proxy/following/{rest...} { proxy following /{rest...}; }
            route GET /proxy/plain/{rest...} { proxy plain /{rest...}; }
            """, substitutions: ["stub": stub.baseURL])

        let followed = try server.get("/composite/following")
        #expect(followed.status == 200)
        #expect(followed.bodyText == #"{"a":{"final":true}}"#)

        let notFollowed = try server.get("/composite/plain")
        #expect(notFollowed.status == 502)
        let errors = try #require(try jsonObject(notFollowed)["errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "status")
        #expect(errors.first?["status"] as? Int == 302)

        let proxiedFollowed = try server.get("/proxy/following/moved")
        #expect(proxiedFollowed.status == 200)
        #expect(proxiedFollowed.bodyText == #"{"final":true}"#)

        let proxiedPlain = try server.get("/proxy/plain/moved")
        #expect(proxiedPlain.status == 302)
        #expect(proxiedPlain.header("Location") == "/final")
        #expect(proxiedPlain.bodyText == #"{"moved":true}"#)

        // Two answers followed, two not: the final path was asked for only by the followers.
        #expect(stub.requests(forPath: "/moved") == 4)
        #expect(stub.requests(forPath: "/final") == 2)
    }

    @Test func followingStopsAtTheLimitAndAtOtherProtocols() throws {
        let stub = try UpstreamStub(routes: [
            "/loop": .redirect(to: "/loop"),
            "/to-file": .redirect(to: "file:///etc/passwd"),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream following {
                url {{stub}}
                follow_redirects 2
            }
            route GET /loop { call a GET following /loop; }
            route GET /to-file { call a GET following /to-file; }
            """, substitutions: ["stub": stub.baseURL])

        let loop = try server.get("/loop")
        #expect(loop.status == 502)
        let loopError = try #require((try jsonObject(loop)["errors"] as? [[String: Any]])?.first)
        #expect(loopError["kind"] as? String == "connection")
        #expect((loopError["message"] as? String)?.contains("redirects") == true, "\(loopError)")
        // The first request and two redirects followed, then libcurl stops.
        #expect(stub.requests(forPath: "/loop") == 3)

        let file = try server.get("/to-file")
        #expect(file.status == 502)
        let fileError = try #require((try jsonObject(file)["errors"] as? [[String: Any]])?.first)
        #expect(fileError["kind"] as? String == "connection", "\(fileError)")
    }

    /// A POST becomes a GET after 301, 302 and 303 (libcurl's rules); 307 and 308 repeat it with its body.
    /// Other methods with a body are not followed: after a 302, libcurl 7.88.1 sent a PUT on without its body.
    @Test(arguments: [
        ("POST", 301, "GET"), ("POST", 302, "GET"), ("POST", 303, "GET"), ("POST", 307, "POST"), ("POST", 308, "POST"),
        ("PUT", 302, nil), ("PUT", 308, nil),
    ])
    func theMethodAfterARedirectFollowsLibcurlsRules(method: String, status: Int, expected: String?) throws {
        let stub = try UpstreamStub(routes: [
            "/moved": .redirect(to: "/final", status: status),
            "/final": .json(#"{"final":true}"#),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream following {
                url {{stub}}
                follow_redirects 1
            }
            route POST /send {
                call a \(method) following /moved {
                    body forward
                }
            }
            """, substitutions: ["stub": stub.baseURL])

        let response = try httpRequest(
            port: server.port, method: "POST", path: "/send", headers: [("Content-Type", "application/json")],
            body: Array(#"{"n":1}"#.utf8))

        guard let expected else {
            #expect(response.status == 502)
            #expect(stub.requests(forPath: "/final") == 0)
            let error = try #require((try jsonObject(response)["errors"] as? [[String: Any]])?.first)
            #expect(error["status"] as? Int == status)
            return
        }
        #expect(response.status == 200, "\(response.bodyText)")
        let final = try #require(stub.receivedRequests.last)
        #expect(final.path == "/final")
        #expect(final.method == expected)
        #expect(final.bodyText == (expected == "GET" ? "" : #"{"n":1}"#))
    }

    @Test func aRedirectToAnotherOriginKeepsConfiguredHeadersButNotAuthorization() throws {
        let other = try UpstreamStub(routes: ["/landing": .json(#"{"landed":true}"#)])
        defer { other.stop() }
        let stub = try UpstreamStub(routes: ["/away": .redirect(to: "\(other.baseURL)/landing")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream following {
                url {{stub}}
                follow_redirects 1
                header X-Api-Key secret-key
                header Authorization "Bearer secret-token"
            }
            route GET /away { call a GET following /away; }
            """, substitutions: ["stub": stub.baseURL])

        let response = try server.get("/away")

        #expect(response.status == 200)
        #expect(response.bodyText == #"{"a":{"landed":true}}"#)
        let first = try #require(stub.receivedRequests.first)
        #expect(first.header("X-Api-Key") == "secret-key")
        #expect(first.header("Authorization") == "Bearer secret-token")
        // libcurl drops Authorization when a redirect changes the host or port, but sends every other header on.
        let landed = try #require(other.receivedRequests.first)
        #expect(landed.header("X-Api-Key") == "secret-key")
        #expect(landed.header("Authorization") == nil)
    }
}
