import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// A reload that changes the `store` while calls wait in a `rate … shared` queue for leased tokens
/// (docs/operations/fleet.md, "Reload"): every waiting call ends with 200 within its timeout, none is left in
/// the queue, the old store's connection is closed, and the new store (or the local rate, without one) decides
/// from then on. Real `redis-server`s on free loopback ports, a real stub counting calls.
@Suite(.serialized) struct FleetReloadTests {
    static func config(store: StoreServer?) -> String {
        let block = store.map { "store {\n    address 127.0.0.1:\($0.port)\n    command_timeout 50ms\n}\n" } ?? ""
        return block + """
            admin_listen 127.0.0.1:0
            upstream partner {
                url {{stub}}
                timeout 10s
                max_queue 100
                rate 10/s shared
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            """
    }

    /// Sends `count` requests at once; returns their statuses (0: no answer) and the longest wait, in seconds,
    /// once every one ended (or after 20 s).
    private static func burst(
        _ server: TestServer, count: Int, whileWaiting: () throws -> Void
    ) rethrows -> (statuses: [Int], longest: Double) {
        let results = Mutex<[(Int, Double)]>([])
        let clients = ClientThreads()
        for _ in 0..<count {
            clients.start {
                let (status, ms) = measureMs { (try? server.get("/p/ok", timeoutMs: 15_000).status) ?? 0 }
                results.withLock { $0.append((status, ms / 1000)) }
            }
        }
        try whileWaiting()
        _ = clients.wait(seconds: 20)
        let all = results.withLock { $0 }
        return (all.map(\.0) + Array(repeating: 0, count: count - all.count), all.map(\.1).max() ?? 0)
    }

    private static func queued(_ server: TestServer) -> Double {
        (try? MetricsTests.scrape(server)[#"fanout_upstream_calls_queued{upstream="partner"}"#]) ?? -1
    }

    /// The store's clients other than the one asking.
    private static func clients(_ store: StoreServer) -> Int {
        let info = (try? store.command(["INFO", "clients"])) ?? ""
        let line = info.split(separator: "\r\n").first { $0.hasPrefix("connected_clients:") }
        return (line.flatMap { Int($0.dropFirst("connected_clients:".count)) } ?? 0) - 1
    }

    @Test(arguments: [true, false])
    func callsWaitingOnALeaseEndWhenTheStoreChanges(toAnotherStore: Bool) throws {
        let old = try StoreServer()
        let new = try StoreServer()
        let stub = try UpstreamStub(routes: ["/ok": .json(#"{"ok":true}"#)])
        defer { stub.stop() }
        let server = try TestServer(Self.config(store: old), substitutions: ["stub": stub.baseURL])
        usleep(300_000)
        #expect(try server.get("/p/ok").status == 200)
        let quotaKey = "fanout:{partner}:quota"
        #expect(waitUntil { (try? old.command(["EXISTS", quotaKey])) == ":1\r\n" })
        #expect(Self.clients(old) == 1)

        // 40 calls at 10/s: most wait for leased tokens when the store changes.
        let (statuses, longest) = try Self.burst(server, count: 40) {
            #expect(waitUntil(timeoutMs: 3_000) { Self.queued(server) >= 20 })
            try server.reload(Self.config(store: toAnotherStore ? new : nil), substitutions: ["stub": stub.baseURL])
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses.filter { $0 != 200 })")
        #expect(longest < 10)
        #expect(Self.queued(server) == 0)
        #expect(stub.requests(forPath: "/ok") == 41)
        // The old store's connection is gone; the new one (if any) holds the quota now.
        #expect(waitUntil { Self.clients(old) == 0 })
        if toAnotherStore {
            #expect(Self.clients(new) == 1)
            #expect((try? new.command(["EXISTS", quotaKey])) == ":1\r\n")
            let leased = try MetricsTests.scrape(server)[#"fanout_quota_tokens_leased_total{upstream="partner"}"#]
            #expect((leased ?? 0) > 0)
        } else {
            #expect(Self.clients(new) == 0)
        }
        // Still serving, and still limited: of 15 more calls at 10/s, at least 5 wait for tokens (0.5 s).
        let (more, ms) = measureMs { Self.burst(server, count: 15) {}.statuses }
        #expect(more.allSatisfy { $0 == 200 })
        #expect(ms > 300)
    }
}
