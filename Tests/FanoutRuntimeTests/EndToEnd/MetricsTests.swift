import FanoutTestSupport
import Foundation
import Testing

/// The admin listener: `/metrics` counts what the main listeners served (exact values, scraped over HTTP),
/// `/healthz` and `/readyz` answer probes, and neither listener serves the other's paths.
@Suite struct MetricsTests {
    /// `series{labels}` → value, from one scrape (comments skipped).
    static func scrape(_ server: TestServer) throws -> [String: Double] {
        let response = try httpGet(port: server.adminPort, path: "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        var samples: [String: Double] = [:]
        for line in response.bodyText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                Issue.record("unparsable exposition line: \(line)")
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static let config = """
        admin_listen 127.0.0.1:0
        upstream partner { url {{stub}} }
        route GET /overview {
            call user GET partner /user
            call broken GET partner /broken
        }
        route GET /files/{rest...} {
            proxy partner
        }
        """

    /// A call's failure is counted under its own upstream, whatever the order of the route's calls and of the
    /// configuration's upstreams (each call reports its call and upstream index); a call never made (skipped)
    /// is not counted. With an access log the calls reach the metrics as log entries, without one as counts only
    /// (`CallReport`): both count the same.
    @Test(arguments: ["stdout", "off"])
    func aFailureIsCountedUnderTheUpstreamOfTheCallThatFailed(accessLog: String) throws {
        let stub = try UpstreamStub(routes: [
            "/user": .json(#"{"id":7}"#),
            "/broken": .respond(status: 500, body: Array(#"{"error":"down"}"#.utf8)),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            workers 1
            admin_listen 127.0.0.1:0
            access_log {{log}}
            upstream first { url {{stub}} }
            upstream second { url {{stub}} }
            route GET /overview {
                call user GET second /user
                call broken GET first /broken
                call again GET second /broken
                call after GET second /after/{broken.id}
            }
            """, substitutions: ["stub": stub.baseURL, "log": accessLog])
        #expect(try server.get("/overview").header("X-Fanout-Complete") == "false")
        #expect(try server.get("/overview").header("X-Fanout-Complete") == "false")
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_upstream_failures_total{upstream="first",kind="status"}"#] == 2)
        #expect(samples[#"fanout_upstream_failures_total{upstream="second",kind="status"}"#] == 2)
        #expect(samples.keys.filter { $0.hasPrefix("fanout_upstream_failures_total{") }.count == 2)
        let overview = #"route="GET /overview""#
        for call in ["user", "broken", "again"] {
            #expect(samples["fanout_call_duration_seconds_count{\(overview),call=\"\(call)\"}"] == 2)
        }
        #expect(samples["fanout_call_duration_seconds_count{\(overview),call=\"after\"}"] ?? 0 == 0)
        #expect(samples.keys.filter { $0.contains(#"kind="skipped""#) }.isEmpty)
    }

    @Test func countsRequestsCallsFailuresAndConnectionsOfACompositeAndAProxyRoute() throws {
        let stub = try UpstreamStub(routes: [
            "/user": .json(#"{"id":7}"#),
            "/broken": .respond(status: 500, body: Array(#"{"error":"down"}"#.utf8)),
            "/files/a": .json(#"{"file":"a"}"#),
        ])
        defer { stub.stop() }
        // One worker, so one libcurl connection pool: opened versus reused is then exact.
        let server = try TestServer("workers 1\n" + Self.config, substitutions: ["stub": stub.baseURL])

        let first = try server.get("/overview")
        let proxied = try server.get("/files/a")
        let second = try server.get("/overview")
        let unknown = try server.get("/nowhere")
        #expect(proxied.status == 200)
        #expect(first.status == second.status)
        #expect(first.header("X-Fanout-Complete") == "false")
        #expect(unknown.status == 404)

        let samples = try Self.scrape(server)
        let overview = #"route="GET /overview""#
        let files = #"route="GET /files/{rest...}""#
        #expect(samples["fanout_requests_total{\(overview),status=\"\(first.status)\"}"] == 2)
        #expect(samples[#"fanout_requests_total{\#(files),status="200"}"#] == 1)
        #expect(samples[#"fanout_requests_total{route="",status="404"}"#] == 1)
        #expect(samples.keys.filter { $0.hasPrefix("fanout_requests_total{") }.count == 3)
        #expect(samples["fanout_request_duration_seconds_count{\(overview)}"] == 2)
        #expect(samples["fanout_request_duration_seconds_bucket{\(overview),le=\"+Inf\"}"] == 2)
        #expect(samples["fanout_request_duration_seconds_count{\(files)}"] == 1)
        #expect(samples["fanout_call_duration_seconds_count{\(overview),call=\"user\"}"] == 2)
        #expect(samples["fanout_call_duration_seconds_count{\(overview),call=\"broken\"}"] == 2)
        #expect(samples["fanout_call_duration_seconds_count{\(files),call=\"proxy\"}"] == 1)
        #expect(samples[#"fanout_upstream_failures_total{upstream="partner",kind="status"}"#] == 2)
        #expect(samples.keys.filter { $0.hasPrefix("fanout_upstream_failures_total{") }.count == 1)
        // The first composite request opens two connections (its calls run at once); the proxy request and the
        // second composite's two calls find them idle in the pool.
        let opened = samples[#"fanout_upstream_connections_opened_total{upstream="partner"}"#]
        #expect(opened == 2)
        #expect(opened == Double(stub.connectionsAccepted))
        #expect(samples[#"fanout_upstream_connections_reused_total{upstream="partner"}"#] == 3)
        #expect(samples["fanout_requests_in_flight"] == 0)
        // The scrape itself is not counted anywhere.
        #expect(samples.keys.allSatisfy { !$0.contains("metrics") })
    }

    /// docs/reference/metrics.md, "What is counted per call and per transfer": a `for_each` call is one
    /// observation of `fanout_call_duration_seconds` and at most one failure (its first failed item's kind),
    /// whatever its number of items, while the partner gets one request per item.
    @Test func countsAForEachCallOncePerRequestNotOncePerItem() throws {
        let failing: UpstreamStub.Behavior = .respond(status: 503, body: Array(#"{"error":"busy"}"#.utf8))
        let stub = try UpstreamStub(routes: [
            "/price/1": .json(#"{"p":1}"#), "/price/2": failing, "/price/3": failing, "/price/4": .json(#"{"p":4}"#),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            workers 1
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /prices {
                call price GET partner /price/{item} optional {
                    for_each query.ids
                }
            }
            """, substitutions: ["stub": stub.baseURL])

        let response = try server.get("/prices?ids=1,2,3,4")
        #expect(response.status == 200)
        #expect(stub.requestCount == 4)
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_call_duration_seconds_count{route="GET /prices",call="price"}"#] == 1)
        #expect(samples[#"fanout_upstream_failures_total{upstream="partner",kind="status"}"#] == 1)
    }

    @Test func aScrapeSumsEveryWorker() throws {
        let stub = try UpstreamStub(routes: ["/user": .json("{}"), "/broken": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer("workers 2\n" + Self.config, substitutions: ["stub": stub.baseURL])
        // Fresh connections each: the kernel spreads them over both workers' sockets.
        for _ in 0..<20 { #expect(try server.get("/overview").status == 200) }
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_requests_total{route="GET /overview",status="200"}"#] == 20)
        #expect(samples[#"fanout_call_duration_seconds_count{route="GET /overview",call="user"}"#] == 20)
        let opened = samples[#"fanout_upstream_connections_opened_total{upstream="partner"}"#] ?? -1
        let reused = samples[#"fanout_upstream_connections_reused_total{upstream="partner"}"#] ?? -1
        #expect(opened == Double(stub.connectionsAccepted))
        #expect(opened + reused == 40)
    }

    /// `fanout_busy_polls_total` is there only with `busy_poll` on, and counts the worker's polls: a gap between
    /// a request's events within 1 ms (the partner on loopback answers in well under that) opens the window.
    @Test func busyPollsAreCountedOnlyWhenPollingIsOn() throws {
        let stub = try UpstreamStub(routes: ["/user": .json("{}"), "/broken": .json("{}")])
        defer { stub.stop() }
        let off = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        #expect(try off.get("/overview").status == 200)
        #expect(try Self.scrape(off).keys.filter { $0.hasPrefix("fanout_busy_polls_total") }.isEmpty)

        let on = try TestServer("busy_poll 1000us\n" + Self.config, substitutions: ["stub": stub.baseURL])
        for _ in 0..<20 { #expect(try on.get("/overview").status == 200) }
        let samples = try Self.scrape(on)
        let hits = try #require(samples[#"fanout_busy_polls_total{result="hit"}"#])
        let misses = try #require(samples[#"fanout_busy_polls_total{result="miss"}"#])
        #expect(hits + misses > 0)
    }

    @Test func theAdminListenerAndTheMainListenersServeOnlyTheirOwnPaths() throws {
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            route GET /hello {
                respond 200 `{"hi":true}`
            }
            """)
        #expect(server.adminPort != 0)
        #expect(server.adminPort != server.port)
        // Admin paths are not routes on the main listener…
        for path in ["/metrics", "/healthz", "/readyz"] {
            #expect(try server.get(path).status == 404)
        }
        // …and routes are not served on the admin listener.
        let routeOnAdmin = try httpGet(port: server.adminPort, path: "/hello")
        #expect(routeOnAdmin.status == 404)
        #expect(try httpGet(port: server.adminPort, path: "/healthz").bodyText == "ok\n")
        #expect(try httpRequest(port: server.adminPort, method: "POST", path: "/metrics").status == 405)
        let samples = try Self.scrape(server)
        #expect(samples[#"fanout_requests_total{route="",status="404"}"#] == 3)
        #expect(samples[#"fanout_requests_total{route="GET /hello",status="200"}"#] == nil)
    }

    @Test func countersSurviveAReloadAndAdminListenNeedsARestart() throws {
        let config = "admin_listen 127.0.0.1:0\nroute GET /hello {\n    respond 200 `{}`\n}\n"
        let server = try TestServer(config)
        let adminPort = server.adminPort
        #expect(try server.get("/hello").status == 200)
        let summary = try server.reload(config.replacingOccurrences(of: ":0", with: ":1"))
        #expect(summary.needRestart == ["admin_listen"])
        #expect(server.adminPort == adminPort)
        #expect(try server.get("/hello").status == 200)
        #expect(try Self.scrape(server)[#"fanout_requests_total{route="GET /hello",status="200"}"#] == 2)
    }

    /// A request dispatched before a reload is counted under its own configuration's route and call names
    /// (its series are kept by index, per configuration), even when a scrape comes while it is in flight and
    /// the new configuration moves and renames them.
    @Test func aRequestInFlightAcrossAReloadIsCountedUnderItsOwnConfiguration() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"n":1}"#, delayMs: 400), "/b": .json("{}")])
        defer { stub.stop() }
        let server = try TestServer(
            """
            workers 1
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /x {
                call first GET partner /slow
            }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requests(forPath: "/slow") == 1 })
        _ = try server.reload(
            """
            workers 1
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /new {
                respond 200 `{}`
            }
            route GET /x {
                call b GET partner /b
            }
            """, substitutions: ["stub": stub.baseURL])
        let during = try Self.scrape(server)
        #expect(during[#"fanout_requests_total{route="GET /x",status="200"}"#] == nil)

        #expect(try client.readResponse().status == 200)
        #expect(try server.get("/x").status == 200)
        #expect(try server.get("/new").status == 200)
        let after = try Self.scrape(server)
        #expect(after[#"fanout_requests_total{route="GET /x",status="200"}"#] == 2)
        #expect(after[#"fanout_request_duration_seconds_count{route="GET /x"}"#] == 2)
        #expect(after[#"fanout_requests_total{route="GET /new",status="200"}"#] == 1)
        #expect(after[#"fanout_call_duration_seconds_count{route="GET /x",call="first"}"#] == 1)
        #expect(after[#"fanout_call_duration_seconds_count{route="GET /x",call="b"}"#] == 1)
        // At least 0.4 s: the upstream's delay.
        #expect((after[#"fanout_call_duration_seconds_sum{route="GET /x",call="first"}"#] ?? 0) >= 0.39)
    }

    @Test func noAdminListenerUnlessConfigured() throws {
        let server = try TestServer("route GET /hello {\n    respond 200 `{}`\n}\n")
        #expect(server.server.adminPort == nil)
    }

    @Test func readyzTurns503WhileDrainingAndInFlightRequestsAreCounted() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"n":1}"#, delayMs: 1_500)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            workers 2
            admin_listen 127.0.0.1:0
            route GET /slow {
                call slow GET {{stub}}/slow
            }
            """, substitutions: ["stub": stub.baseURL])
        #expect(try httpGet(port: server.adminPort, path: "/readyz").status == 200)

        let client = try RawHTTPClient(port: server.port, timeoutMs: 5_000)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        let during = try Self.scrape(server)
        #expect(during["fanout_requests_in_flight"] == 1)
        #expect(during["fanout_client_connections"] == 1)

        // shutdown blocks until the slow request is answered: run it beside the probes.
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            server.server.shutdown(graceMs: 5_000)
            drained.signal()
        }
        let sawDraining = waitUntil(timeoutMs: 1_000) {
            (try? httpGet(port: server.adminPort, path: "/readyz", timeoutMs: 500).status) == 503
        }
        #expect(sawDraining)
        #expect(try httpGet(port: server.adminPort, path: "/healthz").status == 200)
        let answer = try client.readResponse()
        #expect(answer.status == 200)
        #expect(drained.wait(timeout: .now() + 5) == .success)
    }
}
