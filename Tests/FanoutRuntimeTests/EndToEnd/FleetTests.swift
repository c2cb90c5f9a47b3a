import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// Fleet-wide quotas and breakers (docs/operations/fleet.md): two fanout servers sharing a real `redis-server`
/// on a free loopback port, against a real stub that counts what reaches it.
@Suite(.serialized) struct FleetTests {
    /// `commandTimeout`: 50 ms by default, so a store that stops answering is given up on quickly; a test that
    /// counts calls against a shared quota takes 1 s, since on a loaded sanitizer run a command can take longer
    /// than 50 ms and the calls would then rightly fall back to the local share.
    static func config(store: StoreServer, commandTimeout: String = "50ms", _ body: String) -> String {
        """
        store {
            address 127.0.0.1:\(store.port)
            command_timeout \(commandTimeout)
        }
        \(body)
        """
    }

    /// Runs `threads` closed-loop clients for `seconds`, spread over `servers`; returns the statuses.
    static func load(_ servers: [TestServer], path: String, threads: Int, seconds: Double) -> [Int] {
        let statuses = Mutex<[Int]>([])
        let deadline = Date().addingTimeInterval(seconds)
        ClientThreads.run(threads) { index in
            let server = servers[index % servers.count]
            while Date() < deadline {
                let status = (try? server.get(path, timeoutMs: 10_000).status) ?? 0
                statuses.withLock { $0.append(status) }
            }
        }
        return statuses.withLock { $0 }
    }

    /// valkey-server only when installed: the README installs redis-server alone; .ci/run installs both.
    @Test(arguments: ["redis-server", "valkey-server"].filter { StoreServer.isInstalled($0) })
    func aSharedQuotaHoldsAcrossTwoServers(server executable: String) throws {
        let store = try StoreServer(executable: executable)
        let stub = try UpstreamStub(routes: ["/ok": .json(#"{"ok":true}"#)])
        let text = Self.config(
            store: store, commandTimeout: "1s",
            """
            workers 2
            admin_listen 127.0.0.1:0
            upstream partner {
                url {{stub}}
                rate 20/s shared
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            """)
        let first = try TestServer(text, substitutions: ["stub": stub.baseURL])
        let second = try TestServer(text, substitutions: ["stub": stub.baseURL])
        // Let both connect to the store (a worker that has not yet would use its local share meanwhile).
        #expect(waitUntil(timeoutMs: 3_000) { (try? store.command(["PING"])) == "+PONG\r\n" })
        usleep(300_000)

        // Two seconds of 8 clients over both: the fleet gets 20/s (40 in 2 s, plus the store's burst of 1 and
        // the tokens still leased at the end). Without the store each server would keep the whole 20/s
        // (replicas=1): 80 and the buckets' first bursts.
        let statuses = Self.load([first, second], path: "/p/ok", threads: 8, seconds: 2)
        let calls = stub.requests(forPath: "/ok")
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(calls >= 30)
        #expect(calls <= 50)
        #expect(try store.command(["EXISTS", "fanout:{partner}:quota"]) == ":1\r\n")
        let metrics = try httpGet(port: first.adminPort, path: "/metrics").bodyText
        #expect(metrics.contains("fanout_quota_tokens_leased_total{upstream=\"partner\"} "))
        #expect(metrics.contains("fanout_quota_waits_total{upstream=\"partner\"} "))
    }

    @Test func anOpenedBreakerIsSeenByTheOtherServerAndOneProbeServesTheFleet() throws {
        let store = try StoreServer()
        let stub = try UpstreamStub(routes: [
            "/fail": .respond(status: 500, body: Array(#"{"error":"down"}"#.utf8)),
            "/ok": .json(#"{"ok":true}"#), "/slow": .json(#"{"slow":true}"#, delayMs: 300),
        ])
        let text = Self.config(
            store: store,
            """
            admin_listen 127.0.0.1:0
            upstream partner {
                url {{stub}}
                breaker 2 2s
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            """)
        let first = try TestServer(text, substitutions: ["stub": stub.baseURL])
        let second = try TestServer(text, substitutions: ["stub": stub.baseURL])
        usleep(300_000)
        #expect(try second.get("/p/ok").status == 200)

        #expect(try first.get("/p/fail").status == 500)
        #expect(try first.get("/p/fail").status == 500)
        let opened = Date()
        #expect(try first.get("/p/ok").status == 503)
        // The other server learns it by its next poll (every 500 ms).
        #expect(waitUntil(timeoutMs: 1_500) { (try? second.get("/p/ok").status) == 503 })
        let learnedMs = Date().timeIntervalSince(opened) * 1000
        #expect(learnedMs < 1_200)
        #expect(
            try httpGet(port: second.adminPort, path: "/metrics").bodyText.contains(
                "fanout_breaker_opens_learned_total{upstream=\"partner\"} 1"))
        #expect(try store.command(["PTTL", "fanout:{partner}:breaker:open"]).hasPrefix(":"))

        // After the cool-down, calls on both servers every 20 ms: one replica probes (300 ms) while the other's
        // calls still fail fast; when the probe's answer comes, it is the only call the partner saw.
        usleep(UInt32(max(0, 2_100 - Date().timeIntervalSince(opened) * 1000)) * 1_000)
        let seenAtFirstSuccess = Mutex<[Int]>([])
        ClientThreads.run(2) { index in
            let server = index == 0 ? first : second
            let deadline = Date().addingTimeInterval(4)
            while Date() < deadline {
                if (try? server.get("/p/slow").status) == 200 {
                    let seen = stub.requests(forPath: "/slow")
                    seenAtFirstSuccess.withLock { $0.append(seen) }
                    return
                }
                usleep(20_000)
            }
        }
        let seen = seenAtFirstSuccess.withLock { $0 }.sorted()
        // Both servers closed again; the first success was the fleet's only probe.
        #expect(seen.count == 2)
        #expect(seen.first == 1)
        #expect(stub.requests(forPath: "/slow") == 2)
    }

    @Test func aKilledStoreLeavesLocalLimitsAndIsUsedAgainWhenBack() throws {
        let store = try StoreServer()
        let stub = try UpstreamStub(routes: ["/ok": .json(#"{"ok":true}"#)])
        let text = Self.config(
            store: store,
            """
            upstream partner {
                url {{stub}}
                rate 50/s shared replicas=2
                breaker 5 1s
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            """)
        let first = try TestServer(text, substitutions: ["stub": stub.baseURL])
        let second = try TestServer(text, substitutions: ["stub": stub.baseURL])
        usleep(300_000)
        #expect(try first.get("/p/ok").status == 200)
        #expect(waitUntil { (try? store.command(["EXISTS", "fanout:{partner}:quota"])) == ":1\r\n" })

        store.stop()
        let statuses = Self.load([first, second], path: "/p/ok", threads: 4, seconds: 1)
        #expect(!statuses.isEmpty)
        #expect(statuses.allSatisfy { $0 == 200 })

        try store.start()
        let back = Date()
        let used = waitUntil(timeoutMs: 3_000) {
            _ = try? first.get("/p/ok")
            return (try? store.command(["EXISTS", "fanout:{partner}:quota"])) == ":1\r\n"
        }
        #expect(used)
        #expect(Date().timeIntervalSince(back) < 1.5)
    }
}
