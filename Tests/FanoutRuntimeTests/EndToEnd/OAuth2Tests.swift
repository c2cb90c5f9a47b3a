import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// `oauth2` on an upstream: calls carry a token from a real local token endpoint (``TokenEndpointStub``), fetched
/// through libcurl on the worker's loop, once for many calls, refreshed before it expires, replaced after a
/// 401, and an endpoint that fails gives `auth` failures with a back-off. The partner accepts only the
/// current token.
@Suite(.serialized) struct OAuth2Tests {
    static let clientID = "fanout-client"
    static let secret = "s3cr3t-Vx9+/q&z"

    static func config(refreshBefore: String = "30s", auth: String = "basic", extra: String = "") -> String {
        """
        admin_listen 127.0.0.1:0
        upstream partner {
            url {{partner}}
            timeout 3s
            oauth2 {
                token_url {{tokens}}
                client_id ${CLIENT_ID}
                client_secret ${CLIENT_SECRET}
                scope "orders:read stock:read"
                audience https://api.example.com
                auth \(auth)
                refresh_before \(refreshBefore)
            }
        }
        route GET /dash {
            call orders GET partner /orders
            call stock GET partner /stock
            call detail GET partner /detail/{item.id} {
                for_each orders.items
            }
        }
        route GET /pass/{rest...} { proxy partner /{rest...} }
        \(extra)
        """
    }

    static let environment = ["CLIENT_ID": clientID, "CLIENT_SECRET": secret]

    static func partner(_ tokens: TokenEndpointStub) throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/orders": tokens.protected(.json(#"{"items":[{"id":1},{"id":2}]}"#)),
            "/stock": tokens.protected(.json(#"{"n":5}"#)),
            "/detail/1": tokens.protected(.json(#"{"d":1}"#)),
            "/detail/2": tokens.protected(.json(#"{"d":2}"#)),
            "/always401": .respond(status: 401, body: Array(#"{"error":"nope"}"#.utf8)),
        ])
    }

    static func server(_ tokens: TokenEndpointStub, _ partner: UpstreamStub, _ config: String) throws -> TestServer {
        try TestServer(
            config, substitutions: ["partner": partner.baseURL, "tokens": tokens.tokenURL],
            environment: Self.environment)
    }

    static func scrape(_ server: TestServer) throws -> [String: Double] {
        let response = try httpGet(port: server.adminPort, path: "/metrics")
        var samples: [String: Double] = [:]
        for line in response.bodyText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func manyConcurrentCallsShareOneTokenRequest() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret, delayMs: 300)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(tokens, partner, Self.config())

        let statuses = Mutex<[Int]>([])
        ClientThreads.run(8) { index in
            let path = index % 2 == 0 ? "/dash" : "/pass/stock"
            let status = (try? server.get(path).status) ?? -1
            statuses.withLock { $0.append(status) }
        }
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 8))
        // 8 client requests, 4 × 4 composite calls and 4 proxy calls: one token request.
        #expect(tokens.requestCount == 1)
        #expect(tokens.rejectedCredentials == 0)
        #expect(tokens.lastForm["grant_type"] == "client_credentials")
        #expect(tokens.lastForm["scope"] == "orders:read stock:read")
        #expect(tokens.lastForm["audience"] == "https://api.example.com")
        #expect(tokens.lastForm["client_secret"] == nil, "basic auth keeps the secret out of the form")
        let current = try #require(tokens.currentToken)
        // 8 to 20 partner requests: the 4 proxy calls each reach it, and identical composite GETs in flight may
        // share one transfer (`coalesce`), down to one set of 4 when all 4 `/dash` requests run at once.
        #expect((8...20).contains(partner.receivedRequests.count))
        #expect(partner.receivedRequests.allSatisfy { $0.header("Authorization") == "Bearer \(current)" })
        // A client's own Authorization never reaches the partner.
        let mine = try server.get("/pass/stock", headers: [("Authorization", "Bearer client-own")])
        #expect(mine.status == 200)
        #expect(partner.receivedRequests.last?.header("Authorization") == "Bearer \(current)")
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_oauth_token_fetches_total{upstream="partner",result="ok"}"#] == 1)
    }

    @Test func formAuthenticationSendsTheCredentialsInTheBody() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(tokens, partner, Self.config(auth: "form"))
        #expect(try server.get("/pass/stock").status == 200)
        #expect(tokens.rejectedCredentials == 0)
        #expect(tokens.lastForm["client_id"] == Self.clientID)
        #expect(tokens.lastForm["client_secret"] == Self.secret)
    }

    @Test func refreshesTheTokenBeforeItExpires() throws {
        // expires_in 2 s: refreshed from 1 s on (refresh_before is capped at half the lifetime).
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret, expiresIn: 2)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(tokens, partner, Self.config())
        #expect(try server.get("/pass/stock").status == 200)
        #expect(try server.get("/pass/stock").status == 200)
        #expect(tokens.requestCount == 1)
        Thread.sleep(forTimeInterval: 1.2)
        // Still valid: this call goes with it and starts the refresh in the background.
        let (answer, elapsedMs) = try measureMs { try server.get("/pass/stock") }
        #expect(answer.status == 200)
        #expect(elapsedMs < 500)
        #expect(waitUntil { tokens.requestCount == 2 })
        for _ in 0..<3 { #expect(try server.get("/dash").status == 200) }
        #expect(tokens.requestCount == 2)
        #expect(partner.receivedRequests.last?.header("Authorization") == "Bearer \(tokens.currentToken ?? "?")")
    }

    @Test func a401RefreshesTheTokenOnceAndRetriesTheCall() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(
            tokens, partner,
            Self.config(
                extra: """
                    route GET /denied { call d GET partner /always401 }
                    route POST /post/{rest...} { proxy partner /{rest...} }
                    """))
        #expect(try server.get("/pass/stock").status == 200)
        #expect(tokens.requestCount == 1)

        // The partner stops accepting the token: one refresh, one retry, on a streamed proxy route…
        tokens.revoke()
        let proxied = try server.get("/pass/stock")
        #expect(proxied.status == 200, "\(proxied.bodyText)")
        #expect(proxied.bodyText == #"{"n":5}"#)
        #expect(tokens.requestCount == 2)
        #expect(partner.requests(forPath: "/stock") == 3)
        // …and on composite calls, for_each items included.
        tokens.revoke()
        let dash = try server.get("/dash")
        #expect(dash.status == 200, "\(dash.bodyText)")
        #expect(tokens.requestCount == 3)

        // A second 401 is the call's answer: passed on by a proxy route, a `status` failure in a composite one.
        let passed = try server.get("/pass/always401")
        #expect(passed.status == 401)
        #expect(passed.bodyText == #"{"error":"nope"}"#)
        #expect(partner.requests(forPath: "/always401") == 2)
        #expect(tokens.requestCount == 4)
        let denied = try server.get("/denied")
        #expect(denied.status == 502)
        #expect(denied.bodyText.contains(#""kind":"status""#), "\(denied.bodyText)")
        #expect(partner.requests(forPath: "/always401") == 4)

        // Not repeated: a POST's 401 is its answer at once.
        let post = try RawHTTPClient(port: server.port)
        try post.send("POST /post/always401 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        #expect(try post.readResponse().status == 401)
        #expect(partner.requests(forPath: "/always401") == 5)
    }

    @Test func aFailingTokenEndpointGivesAuthFailuresAndBacksOff() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(tokens, partner, Self.config())
        tokens.setFailure(.status(500))

        let dash = try server.get("/dash")
        #expect(dash.status == 502, "\(dash.bodyText)")
        #expect(dash.bodyText.contains(#""kind":"auth""#), "\(dash.bodyText)")
        #expect(dash.bodyText.contains("token endpoint answered with status 500"), "\(dash.bodyText)")
        let proxied = try server.get("/pass/stock")
        #expect(proxied.status == 502)
        #expect(proxied.bodyText.contains("upstream call failed: auth: not called"), "\(proxied.bodyText)")
        // Within the back-off, no new request: every call fails at once.
        for _ in 0..<5 { #expect(try server.get("/pass/stock").status == 502) }
        #expect(tokens.requestCount == 1)
        #expect(partner.requestCount == 0)

        // Bad answers count as failures too.
        tokens.setFailure(.notJSON)
        Thread.sleep(forTimeInterval: 1.1)
        let notJSON = try server.get("/pass/stock")
        #expect(notJSON.status == 502)
        #expect(notJSON.bodyText.contains("token answer is not a JSON object"), "\(notJSON.bodyText)")
        #expect(tokens.requestCount == 2)
        tokens.setFailure(.missingAccessToken)
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try server.get("/pass/stock").bodyText.contains("token answer has no access_token"))
        #expect(tokens.requestCount == 3)

        tokens.setFailure(nil)
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try server.get("/dash").status == 200)
        #expect(tokens.requestCount == 4)
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_oauth_token_fetches_total{upstream="partner",result="failed"}"#] == 3)
        #expect(samples[#"fanout_oauth_token_fetches_total{upstream="partner",result="ok"}"#] == 1)
        #expect(samples[#"fanout_upstream_failures_total{upstream="partner",kind="auth"}"#] ?? 0 >= 7)
    }

    @Test func aCallWaitsForTheTokenNoLongerThanItsOwnTimeout() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret, delayMs: 1_000)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let server = try Self.server(
            tokens, partner, Self.config(extra: "route GET /quick { call stock GET partner /stock timeout=300ms }"))
        let (answer, elapsedMs) = try measureMs { try server.get("/quick") }
        #expect(answer.status == 502)
        #expect(answer.bodyText.contains("no token within the call's timeout"), "\(answer.bodyText)")
        #expect(elapsedMs >= 250 && elapsedMs < 900, "\(elapsedMs)")
        // The request went on: once it is in, calls use its token without another one.
        Thread.sleep(forTimeInterval: 1.0)  // the token's answer comes 1 s after the request
        #expect(tokens.issuedCount == 1)
        #expect(try server.get("/quick").status == 200)
        #expect(tokens.requestCount == 1)
    }

    @Test func aReloadThatKeepsTheBlockKeepsTheToken() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let substitutions = ["partner": partner.baseURL, "tokens": tokens.tokenURL]
        let server = try Self.server(tokens, partner, Self.config())
        #expect(try server.get("/pass/stock").status == 200)
        try server.reload(
            Self.config(extra: "route GET /other { respond 204 }"), substitutions: substitutions,
            environment: Self.environment)
        #expect(try server.get("/pass/stock").status == 200)
        #expect(tokens.requestCount == 1)
        // A changed block starts over with a new token.
        try server.reload(
            Self.config(refreshBefore: "10s"), substitutions: substitutions, environment: Self.environment)
        #expect(try server.get("/pass/stock").status == 200)
        #expect(tokens.requestCount == 2)
    }

    @Test func anUnreachableTokenEndpointIsAnAuthFailure() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try Self.partner(tokens)
        defer { partner.stop() }
        let refused = try RefusedPort()
        defer { refused.close() }
        let closed = refused.port
        let server = try TestServer(
            Self.config(), substitutions: ["partner": partner.baseURL, "tokens": "http://127.0.0.1:\(closed)/token"],
            environment: Self.environment)
        let answer = try server.get("/pass/stock")
        #expect(answer.status == 502)
        #expect(
            answer.bodyText.contains("auth: not called: no access token (token endpoint: refused"), "\(answer.bodyText)"
        )
        #expect(partner.requestCount == 0)
    }
}
