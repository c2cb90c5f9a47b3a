import FanoutCore
import FanoutTestSupport
import Foundation
import Glibc
import Testing

/// The shared store on a real three-node Redis Cluster (docs/operations/shared-store.md): fanout is given one
/// node and finds the others; the shared cache and a shared quota hold on keys of every node, and a slot moved
/// to another node (`MOVED`) is followed. The cluster starts once for the suite.
@Suite(.serialized, .enabled(if: StoreCluster.isInstalled)) struct StoreClusterTests {
    /// Started on first use; its nodes are killed when the test process exits.
    static let cluster: StoreCluster? = {
        let cluster = try? StoreCluster()
        atexit { StoreClusterTests.cluster?.stop() }
        return cluster
    }()

    private func startCluster() throws -> StoreCluster {
        try #require(Self.cluster, "a three-node redis cluster")
    }

    /// One server with the cluster's first node as seed, and a cached call on every `/rates/{n}`.
    static func config(_ cluster: StoreCluster, prefix: String, stub: UpstreamStub) -> String {
        """
        admin_listen 127.0.0.1:0
        store { address 127.0.0.1:\(cluster.nodes[0].port); command_timeout 50ms; prefix \(prefix); }
        upstream partner { url \(stub.baseURL) }
        route GET /rates/{n} { call rates GET partner /rates/{n} cache=1m }
        """
    }

    /// The fanout keys (under `prefix`) each node holds.
    static func keys(_ cluster: StoreCluster, prefix: String) -> [[String]] {
        cluster.nodes.map { node in
            let reply = (try? node.command(["KEYS", prefix + "*"])) ?? ""
            return reply.utf8.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
                .filter { $0.hasPrefix(prefix) }.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        }
    }

    /// Waits until `server`'s worker found the cluster's three primaries (connected to more than the seed).
    static func waitForCluster(_ server: TestServer) -> Bool {
        waitUntil(timeoutMs: 3_000) {
            (try? MetricsTests.scrape(server)[#"fanout_store_state_changes_total{change="connected"}"#]) == 3
        }
    }

    /// A GET with the one `Host` of every test (part of the call cache's key).
    static func get(_ server: TestServer, _ path: String) throws -> RawHTTPResponse {
        try server.get(path, headers: [("Host", "api.example")])
    }

    @Test func twoServersShareTheCacheOnKeysOfEveryNode() throws {
        let cluster = try startCluster()
        // A key holds the partner's URL, whose port is the stub's (a new one each run), so the keys' slots differ
        // from run to run: with 12 keys a node held none about once in 40 runs (3 × (2/3)^12, CI saw it); with 48
        // about once in 90 million.
        let paths = (1...48).map { "/rates/\($0)" }
        let partner = try UpstreamStub(
            routes: Dictionary(uniqueKeysWithValues: paths.map { ($0, CallCacheTests.json(#"{"n":1}"#)) }))
        defer { partner.stop() }
        let first = try TestServer(Self.config(cluster, prefix: "share:", stub: partner))
        let second = try TestServer(Self.config(cluster, prefix: "share:", stub: partner))
        #expect(Self.waitForCluster(first) && Self.waitForCluster(second))

        for path in paths { #expect(try Self.get(first, path).status == 200) }
        #expect(waitUntil { Self.keys(cluster, prefix: "share:").joined().count == paths.count })
        for path in paths { #expect(try Self.get(second, path).status == 200) }
        for path in paths { #expect(partner.requests(forPath: path) == 1) }
        #expect(second.accessLog.all.allSatisfy { $0.contains(#""cache":"store_hit""#) })
        // The entries are spread over the three nodes: every node's slots were read and written.
        let perNode = Self.keys(cluster, prefix: "share:")
        #expect(perNode.allSatisfy { !$0.isEmpty })
        for (ranges, keys) in zip(cluster.slotRanges(), perNode) {
            for key in keys { #expect(ranges.contains { $0.contains(ClusterSlot.of(key: key)) }) }
        }
        for server in [first, second] {
            let samples = try MetricsTests.scrape(server)
            #expect(samples[#"fanout_store_errors_total{kind="error_reply"}"#] == nil)
            #expect(samples[#"fanout_store_redirects_total{kind="moved"}"#] == nil)
            #expect(samples[#"fanout_cache_store_fallbacks_total{upstream="partner"}"#] == nil)
        }
    }

    /// `command_timeout 1s`: on a loaded sanitizer run a command can take longer than 50 ms, and the calls would
    /// then rightly fall back to the local share (FleetTests.config).
    @Test func aSharedQuotaHoldsOnACluster() throws {
        let cluster = try startCluster()
        let stub = try UpstreamStub(routes: ["/ok": .json(#"{"ok":true}"#)])
        let text = """
            workers 2
            admin_listen 127.0.0.1:0
            store { address 127.0.0.1:\(cluster.nodes[1].port); command_timeout 1s; prefix quota:; }
            upstream partner {
                url {{stub}}
                rate 20/s shared
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            """
        let first = try TestServer(text, substitutions: ["stub": stub.baseURL])
        let second = try TestServer(text, substitutions: ["stub": stub.baseURL])
        for server in [first, second] {
            #expect(
                waitUntil(timeoutMs: 3_000) {
                    (try? MetricsTests.scrape(server)[#"fanout_store_state_changes_total{change="connected"}"#]) == 6
                })
        }
        let statuses = FleetTests.load([first, second], path: "/p/ok", threads: 8, seconds: 2)
        let calls = stub.requests(forPath: "/ok")
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(calls >= 30)
        #expect(calls <= 50)
        // The quota's key lives on the node of its hash tag, and no script or command was refused.
        let key = FleetKeys(prefix: "quota:", upstream: "partner").quota
        let owner = try #require(cluster.node(forSlot: ClusterSlot.of(key: key)))
        #expect(try owner.command(["EXISTS", key]) == ":1\r\n")
        for server in [first, second] {
            let samples = try MetricsTests.scrape(server)
            #expect(samples[#"fanout_store_errors_total{kind="error_reply"}"#] == nil)
            #expect((samples[#"fanout_quota_tokens_leased_total{upstream="partner"}"#] ?? 0) > 0)
            #expect(samples[#"fanout_quota_fallbacks_total{upstream="partner"}"#] == nil)
        }
    }

    @Test func aSlotMovedToAnotherNodeIsFollowed() throws {
        let cluster = try startCluster()
        let partner = try UpstreamStub(routes: ["/rates/7": CallCacheTests.json(#"{"n":7}"#)])
        defer { partner.stop() }
        let first = try TestServer(Self.config(cluster, prefix: "moved:", stub: partner))
        let second = try TestServer(Self.config(cluster, prefix: "moved:", stub: partner))
        #expect(Self.waitForCluster(first) && Self.waitForCluster(second))
        #expect(try Self.get(first, "/rates/7").status == 200)
        #expect(waitUntil { Self.keys(cluster, prefix: "moved:").joined().count == 1 })
        let key = try #require(Self.keys(cluster, prefix: "moved:").joined().first)
        let slot = ClusterSlot.of(key: key)
        let source = try #require(cluster.node(forSlot: slot))
        let target = try #require(cluster.nodes.first { $0 !== source })

        // Resharding, by hand: the entry goes with its slot (MIGRATE), and the slot is assigned to the target.
        let (sourceID, targetID) = (try cluster.id(of: source), try cluster.id(of: target))
        #expect(try target.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID]).hasPrefix("+OK"))
        #expect(try source.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID]).hasPrefix("+OK"))
        #expect(
            try source.command(["MIGRATE", "127.0.0.1", String(target.port), key, "0", "1000"]).hasPrefix("+OK"))
        try cluster.move(slot: slot, to: target)
        #expect(cluster.node(forSlot: slot) === target)

        // The second server still maps the slot to the source: it gets MOVED, follows it, and hits.
        let response = try Self.get(second, "/rates/7")
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"rates":{"n":7}}"#)
        #expect(partner.requests(forPath: "/rates/7") == 1)
        #expect(second.accessLog.all.last?.contains(#""cache":"store_hit""#) == true)
        let samples = try MetricsTests.scrape(second)
        #expect(samples[#"fanout_store_redirects_total{kind="moved"}"#] == 1)
        #expect(samples[#"fanout_store_errors_total{kind="error_reply"}"#] == nil)
    }

    @Test func aSlotBeingMigratedIsAskedOfItsNewNode() throws {
        let cluster = try startCluster()
        let partner = try UpstreamStub(routes: ["/rates/9": CallCacheTests.json(#"{"n":9}"#)])
        defer { partner.stop() }
        let first = try TestServer(Self.config(cluster, prefix: "ask:", stub: partner))
        let second = try TestServer(Self.config(cluster, prefix: "ask:", stub: partner))
        #expect(Self.waitForCluster(first) && Self.waitForCluster(second))
        #expect(try Self.get(first, "/rates/9").status == 200)
        #expect(waitUntil { Self.keys(cluster, prefix: "ask:").joined().count == 1 })
        let key = try #require(Self.keys(cluster, prefix: "ask:").joined().first)
        let slot = ClusterSlot.of(key: key)
        let source = try #require(cluster.node(forSlot: slot))
        let target = try #require(cluster.nodes.first { $0 !== source })

        // Half way through a reshard: the entry went to the target, the slot still belongs to the source.
        let (sourceID, targetID) = (try cluster.id(of: source), try cluster.id(of: target))
        #expect(try target.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID]).hasPrefix("+OK"))
        #expect(try source.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID]).hasPrefix("+OK"))
        #expect(
            try source.command(["MIGRATE", "127.0.0.1", String(target.port), key, "0", "1000"]).hasPrefix("+OK"))

        // ASK: the second server sends ASKING and the lookup to the target once, and hits; its map is unchanged.
        #expect(try Self.get(second, "/rates/9").status == 200)
        #expect(partner.requests(forPath: "/rates/9") == 1)
        #expect(second.accessLog.all.last?.contains(#""cache":"store_hit""#) == true)
        let samples = try MetricsTests.scrape(second)
        #expect(samples[#"fanout_store_redirects_total{kind="ask"}"#] == 1)
        #expect(samples[#"fanout_store_redirects_total{kind="moved"}"#] == nil)
        #expect(samples[#"fanout_store_errors_total{kind="error_reply"}"#] == nil)
        try cluster.move(slot: slot, to: target)
    }
}
