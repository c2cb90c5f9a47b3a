import FanoutTestSupport
import Foundation
import Testing

/// The client secret, the client id and the tokens never appear in what the `fanout` process writes (access log
/// on stdout, stderr), in answers, in `fanout check` output, on the admin status page or in `/metrics`: the
/// real executable, a real token endpoint, a partner that forces a 401 retry, and a token endpoint failure.
@Suite struct OAuth2SecretsTests {
    static let clientID = "client-id-7Q2Wd"
    static let secret = "secret-Zr8k!pX3"

    @Test func secretsAndTokensAppearInNoOutput() throws {
        let tokens = try TokenEndpointStub(clientID: Self.clientID, clientSecret: Self.secret)
        defer { tokens.stop() }
        let partner = try UpstreamStub(routes: ["/stock": tokens.protected(.json(#"{"n":5}"#))])
        defer { partner.stop() }
        let port = try freeTCPPort()
        let adminPort = try freeTCPPort()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("oauth2-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
        listen 127.0.0.1:\(port)
        admin_listen 127.0.0.1:\(adminPort)
        workers 1
        access_log stdout
        upstream partner {
            url \(partner.baseURL)
            oauth2 {
                token_url \(tokens.tokenURL)
                client_id ${PARTNER_CLIENT_ID}
                client_secret ${PARTNER_CLIENT_SECRET}
            }
        }
        route GET /dash { call stock GET partner /stock }
        route GET /pass/{rest...} { proxy partner /{rest...} }
        """.write(to: file, atomically: true, encoding: .utf8)
        let environment = ["PARTNER_CLIENT_ID": Self.clientID, "PARTNER_CLIENT_SECRET": Self.secret]

        let check = try FanoutProcess(["check", file.path], environment: environment)
        #expect(check.waitForExit() == 0, "\(check.stderr)")
        // A wrong block: the error names the directive, not the value.
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("oauth2-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: broken) }
        try "upstream p {\n url http://p.test\n oauth2 { token_url http://a.test; client_id ${PARTNER_CLIENT_ID}\n"
            .appending(" client_secret ${PARTNER_CLIENT_SECRET} ${PARTNER_CLIENT_ID} }\n}\n")
            .write(to: broken, atomically: true, encoding: .utf8)
        let refused = try FanoutProcess(["check", broken.path], environment: environment)
        #expect(refused.waitForExit() == 1)
        #expect(refused.stderr.contains("client_secret"), "\(refused.stderr)")

        let fanout = try FanoutProcess(["serve", "-c", file.path], environment: environment)
        #expect(FanoutProcess.waitUntilServing(port: adminPort, path: "/healthz"), "\(fanout.stderr)")
        var answers: [String] = []
        let first = try httpGet(port: port, path: "/dash")
        #expect(first.status == 200, "\(first.bodyText)")
        answers.append(first.bodyText)
        tokens.revoke()  // the next call gets a 401, a new token and a retry
        let own = [("Authorization", "Bearer client-own-credential")]
        let retried = try httpGet(port: port, path: "/pass/stock", headers: own)
        #expect(retried.status == 200, "\(retried.bodyText)")
        answers.append(retried.bodyText)
        tokens.revoke()
        tokens.setFailure(.status(503))  // a 401 whose refresh fails: an auth failure
        let failed = try httpGet(port: port, path: "/dash")
        #expect(failed.status == 502)
        #expect(failed.bodyText.contains(#""kind":"auth""#), "\(failed.bodyText)")
        answers.append(failed.bodyText)
        #expect(tokens.issuedCount == 2)
        for path in ["/", "/status.json", "/metrics"] {
            answers.append(try httpGet(port: adminPort, path: path).bodyText)
        }
        #expect(answers.last?.contains(#"fanout_oauth_token_fetches_total{upstream="partner",result="ok"} 2"#) == true)
        fanout.send(SIGTERM)
        #expect(fanout.waitForExit() == 0)

        #expect(fanout.stdout.contains("/pass/stock"), "the access log was captured: \(fanout.stdout)")
        let outputs =
            [check.stdout, check.stderr, refused.stdout, refused.stderr, fanout.stdout, fanout.stderr] + answers
        let secrets = [Self.secret, Self.clientID, tokens.tokenPrefix, "client-own-credential"]
        for output in outputs {
            for secret in secrets { #expect(!output.contains(secret), "'\(secret)' in: \(output)") }
        }
    }
}
