import FanoutRuntime
import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// Configuration reload while serving: `FanoutServer.reload` in process, and SIGHUP on the real executable.
@Suite struct ReloadTests {
    // MARK: - Under load

    /// Two configurations that differ in everything a request touches: the upstream order (so upstream
    /// indices mean different partners), the limits, the calls, the paths and a static field. The second
    /// call depends on the first, so it is launched after the first answer, possibly after a reload.
    private static func loadConfig(_ generation: Int) -> String {
        if generation.isMultiple(of: 2) {
            return """
                workers 2
                upstream one {
                    url {{one}}
                    max_connections 2
                }
                upstream two {
                    url {{two}}
                }
                route GET /c {
                    call a GET one /a
                    call z GET two /z/{a.n}
                    field gen `"A"`
                }
                """
        }
        return """
            workers 2
            upstream two {
                url {{two}}
                max_connections 8
            }
            upstream one {
                url {{one}}
                max_connections 4
            }
            route GET /c {
                call b GET one /b
                call z GET two /z/{b.n}
                field gen `"B"`
            }
            """
    }

    private static func loadBody(_ generation: Int) -> String {
        generation.isMultiple(of: 2)
            ? #"{"a":{"n":1},"z":{"zz":"one"},"gen":"A"}"# : #"{"b":{"n":2},"z":{"zz":"two"},"gen":"B"}"#
    }

    /// What the client threads and the reloading test thread share.
    private final class LoadState: Sendable {
        /// Reloads begun, and reloads `FanoutServer.reload` has returned from (every worker has the new one).
        let started = Atomic<Int>(0)
        let installed = Atomic<Int>(0)
        let requests = Atomic<Int>(0)
        /// Responses to requests sent after the last reload returned.
        let afterLastReload = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])

        func fail(_ message: String) {
            failures.withLock { $0.append(message) }
        }
    }

    @Test func twentyReloadsUnderKeepAliveLoadFailNoRequest() throws {
        let one = try UpstreamStub(routes: [
            "/a": .json(#"{"n":1}"#, delayMs: 3), "/b": .json(#"{"n":2}"#, delayMs: 3),
        ])
        let two = try UpstreamStub(routes: [
            "/z/1": .json(#"{"zz":"one"}"#, delayMs: 2), "/z/2": .json(#"{"zz":"two"}"#, delayMs: 2),
        ])
        let stubs = ["one": one.baseURL, "two": two.baseURL]
        let server = try TestServer(Self.loadConfig(0), substitutions: stubs)
        let port = server.port
        let state = LoadState()
        let reloads = 20
        let clients = ClientThreads()
        for _ in 0..<6 {
            clients.start {
                Self.runClient(port: port, state: state, lastGeneration: reloads)
            }
        }
        defer {
            state.stop.store(true, ordering: .releasing)
            _ = clients.wait(seconds: 10)
        }

        #expect(waitUntil(timeoutMs: 5_000) { state.requests.load(ordering: .acquiring) >= 20 })
        let begin = ContinuousClock.now
        for generation in 1...reloads {
            state.started.store(generation, ordering: .releasing)
            let summary = try server.reload(Self.loadConfig(generation), substitutions: stubs)
            #expect(summary.routeCount == 1 && summary.needRestart.isEmpty)
            state.installed.store(generation, ordering: .releasing)
            // Each configuration serves a share of the load before the next reload.
            let mark = state.requests.load(ordering: .acquiring)
            #expect(waitUntil(timeoutMs: 3_000) { state.requests.load(ordering: .acquiring) >= mark + 25 })
        }
        let elapsed = (ContinuousClock.now - begin) / .milliseconds(1)
        state.stop.store(true, ordering: .releasing)
        #expect(clients.wait(seconds: 10))

        let total = state.requests.load(ordering: .acquiring)
        let failures = state.failures.withLock { $0 }
        let figures = "\(reloads) reloads under load, \(Int(elapsed)) ms: \(total) requests, \(failures.count) failed"
        print("ReloadTests: \(figures)")
        #expect(failures.count == 0, "first failures: \(failures.prefix(5))")
        #expect(total >= 20 + reloads * 25)
        #expect(state.afterLastReload.load(ordering: .acquiring) > 0)
        // A new connection after the last reload sees the last configuration.
        #expect(try server.get("/c").bodyText == Self.loadBody(reloads))
    }

    /// Sends keep-alive `GET /c` until told to stop (at most 30 s). A response is a failure unless it is 200
    /// with one of the two bodies, and the body of the configuration installed when the request was sent,
    /// unless a later reload had begun by the time the answer arrived.
    private static func runClient(port: UInt16, state: LoadState, lastGeneration: Int) {
        let deadline = ContinuousClock.now + .seconds(30)
        var client: RawHTTPClient?
        while !state.stop.load(ordering: .acquiring) && ContinuousClock.now < deadline {
            do {
                let connection = try client ?? RawHTTPClient(port: port, timeoutMs: 5_000)
                client = connection
                let installed = state.installed.load(ordering: .acquiring)
                try connection.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try connection.readResponse()
                let startedSince = state.started.load(ordering: .acquiring)
                state.requests.wrappingAdd(1, ordering: .relaxed)
                let body = response.bodyText
                if response.status != 200 || (body != loadBody(0) && body != loadBody(1)) {
                    state.fail("status \(response.status): \(body)")
                } else if body != loadBody(installed) && startedSince == installed {
                    state.fail("sent after reload \(installed) returned, answered with the other config: \(body)")
                } else if installed == lastGeneration {
                    state.afterLastReload.wrappingAdd(1, ordering: .relaxed)
                }
                if response.header("Connection")?.lowercased() == "close" { client = nil }
            } catch {
                state.fail("\(error)")
                client = nil
            }
        }
    }

    // MARK: - Requests in flight

    @Test func aRequestInFlightFinishesOnTheConfigurationItStartedWith() throws {
        let one = try UpstreamStub(routes: [
            "/slow": .json(#"{"n":1}"#, delayMs: 300), "/next/1": .json(#"{"ok":"A"}"#),
        ])
        let other = try UpstreamStub(routes: [
            "/next/1": .json(#"{"ok":"wrong upstream"}"#), "/b": .json(#"{"config":"B"}"#),
        ])
        let stubs = ["one": one.baseURL, "other": other.baseURL]
        let server = try TestServer(
            """
            upstream one {
                url {{one}}
            }
            route GET /x {
                call first GET one /slow
                call second GET one /next/{first.n}
            }
            """, substitutions: stubs)
        let client = try RawHTTPClient(port: server.port)
        try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { one.requests(forPath: "/slow") == 1 })

        // B removes upstream `one`; its first upstream (index 0, the index `second` uses in A) is another
        // partner, and /x is a different route.
        let summary = try server.reload(
            """
            upstream other {
                url {{other}}
            }
            route GET /x {
                call b GET other /b
            }
            """, substitutions: stubs)
        #expect(summary.routeCount == 1)
        // The reload landed before the dependent call was launched.
        #expect(one.requests(forPath: "/next/1") == 0)

        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"first":{"n":1},"second":{"ok":"A"}}"#)
        #expect(other.requestCount == 0)
        // The next request on the same connection is B's.
        try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().bodyText == #"{"b":{"config":"B"}}"#)
    }

    // MARK: - Upstream admission across reloads

    // Identical calls in these tests would share one transfer; `coalesce off` makes each one a transfer.
    @Test func anUpstreamKeepsItsConnectionLimitAndQueueWhenAReloadReordersUpstreams() throws {
        let partner = try UpstreamStub(routes: ["/s": .json(#"{"s":1}"#, delayMs: 300)])
        let newcomer = try UpstreamStub(routes: ["/o": .json(#"{"o":1}"#)])
        let stubs = ["partner": partner.baseURL, "newcomer": newcomer.baseURL]
        let server = try TestServer(
            """
            upstream p {
                url {{partner}}
                max_connections 1
                coalesce off
            }
            route GET /x {
                call s GET p /s
            }
            """, substitutions: stubs)
        let (responses, elapsed) = try measureMs {
            let first = try RawHTTPClient(port: server.port)
            let second = try RawHTTPClient(port: server.port)
            try first.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            try second.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(waitUntil(timeoutMs: 3_000) { partner.requestCount == 1 })
            // `p` moves from index 0 to index 1; a new upstream takes index 0.
            try server.reload(
                """
                upstream q {
                    url {{newcomer}}
                }
                upstream p {
                    url {{partner}}
                    max_connections 1
                    coalesce off
                }
                route GET /x {
                    call s GET p /s
                }
                route GET /q {
                    call o GET q /o
                }
                """, substitutions: stubs)
            let third = try RawHTTPClient(port: server.port)
            try third.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try server.get("/q").bodyText == #"{"o":{"o":1}}"#)
            return try [first, second, third].map { try $0.readResponse() }
        }
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(partner.requestCount == 3)
        // One call at a time across the reload: three 300 ms calls in sequence, not the third alongside.
        #expect(elapsed >= 850, "took \(elapsed) ms")
    }

    @Test func aRaisedConnectionLimitAdmitsQueuedCallsAtOnce() throws {
        let partner = try UpstreamStub(routes: ["/s": .json(#"{"s":1}"#, delayMs: 1_000)])
        let config = """
            upstream p {
                url {{partner}}
                max_connections {{limit}}
                coalesce off
            }
            route GET /x {
                call s GET p /s
            }
            """
        let server = try TestServer(config, substitutions: ["partner": partner.baseURL, "limit": "1"])
        let clients = try (0..<3).map { _ in try RawHTTPClient(port: server.port) }
        for client in clients { try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(waitUntil(timeoutMs: 3_000) { partner.requestCount == 1 })
        try server.reload(config, substitutions: ["partner": partner.baseURL, "limit": "3"])
        // The two queued calls start now, not one after the other as the running call finishes (1 s each).
        #expect(waitUntil(timeoutMs: 500) { partner.requestCount == 3 })
        for client in clients { #expect(try client.readResponse().status == 200) }
    }

    // MARK: - SIGHUP on the executable

    @Test func sighupRefusesABadFileKeepsServingThenAppliesTheFixedFile() throws {
        let port = try freeTCPPort()
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("fanout-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        let path = file.path
        func write(_ body: String) throws {
            try "listen 127.0.0.1:\(port)\n\(body)".write(to: file, atomically: true, encoding: .utf8)
        }
        try write(
            """
            workers 2
            access_log off
            route GET /v {
                respond 200 `{"v":"A"}`
            }
            """)
        let fanout = try FanoutProcess(["serve", "-c", path])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/v"), "\(fanout.stderr)")

        try write(
            """
            workers 2
            access_log off
            route GET /v {
                rout 200 `{"v":"broken"}`
            }
            """)
        fanout.send(SIGHUP)
        let refused = "fanout: reload of \(path) refused: \(path):5:5: unknown directive 'rout'"
        #expect(fanout.waitForStderr(containing: refused), "\(fanout.stderr)")
        let refusal = try #require(fanout.stderr.split(separator: "\n").first { $0.contains("refused") })
        #expect(refusal.hasSuffix("; still serving the previous configuration"), "\(refusal)")
        #expect(try httpGet(port: port, path: "/v").bodyText == #"{"v":"A"}"#)

        try write(
            """
            workers 1
            access_log off
            route GET /v {
                respond 200 `{"v":"B"}`
            }
            route GET /w {
                respond 200 `{"w":true}`
            }
            """)
        fanout.send(SIGHUP)
        let reloaded = "fanout: reloaded \(path) (2 routes); workers changed: needs a restart, running value kept"
        #expect(fanout.waitForStderr(containing: reloaded), "\(fanout.stderr)")
        #expect(try httpGet(port: port, path: "/v").bodyText == #"{"v":"B"}"#)
        #expect(try httpGet(port: port, path: "/w").status == 200)

        fanout.send(SIGTERM)
        #expect(fanout.waitForExit() == 0, "\(fanout.stderr)")
    }
}
