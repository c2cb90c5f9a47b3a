import FanoutCore
import FanoutTestSupport
import Foundation
import Glibc
import Testing

/// The shared store on a real Redis Cluster with a replica per primary (docs/operations/shared-store.md,
/// "Failover"): a primary replaced by its replica, by hand (`CLUSTER FAILOVER`) or because it died, costs no
/// request, and the cache's entries of that primary's slots are read from the promoted replica within a few
/// seconds. Each test starts its own six-node cluster (a failover changes it for good).
@Suite(.serialized, .enabled(if: StoreCluster.isInstalled)) struct StoreClusterFailoverTests {
    /// What one failover looked like from a fanout asking for cached entries every 50 ms meanwhile.
    struct Outcome {
        /// Statuses other than 200.
        var failed: [Int]
        /// Seconds from the failure (or the `CLUSTER FAILOVER` command) to the last lookup that did not find
        /// its entry in the store; 0 when every lookup found it.
        var secondsToStore: Double
        /// Lookups that found their entry in the store at the end (the last 20 must all have).
        var lastAnswers: [Bool]
        /// The ports of the primaries at the end.
        var primaries: [UInt16]
    }

    /// Caches `paths` through one server, waits until the replicas hold them, breaks a primary with `act`, and
    /// asks a second server (which never saw these paths: each is a worker-cache miss, looked up in the store)
    /// for one path every 50 ms for up to 10 s, then 20 more once the entries are read from the store again.
    private func failover(
        named prefix: String, nodeTimeoutMs: Int, act: (_ cluster: StoreCluster, _ primary: StoreServer) throws -> Void
    ) throws -> Outcome {
        let cluster = try StoreCluster(replicas: 1, nodeTimeoutMs: nodeTimeoutMs)
        defer { cluster.stop() }
        let paths = (0..<400).map { String(format: "/rates/k%03d", $0) }
        let partner = try UpstreamStub(
            routes: Dictionary(uniqueKeysWithValues: paths.map { ($0, CallCacheTests.json(#"{"n":1}"#)) }))
        defer { partner.stop() }
        let first = try TestServer(StoreClusterTests.config(cluster, prefix: prefix, stub: partner))
        let second = try TestServer(StoreClusterTests.config(cluster, prefix: prefix, stub: partner))
        #expect(StoreClusterTests.waitForCluster(first) && StoreClusterTests.waitForCluster(second))
        for path in paths { #expect(try StoreClusterTests.get(first, path).status == 200) }

        // Every entry written, and copied to the replica of the primary about to go.
        let primary = try #require(cluster.nodes.first { cluster.isPrimary($0) })
        let replica = try #require(cluster.replica(of: primary))
        func count(_ node: StoreServer) -> Int {
            let reply = (try? node.command(["DBSIZE"])) ?? ""
            return Int(reply.dropFirst().prefix { $0.isNumber }) ?? -1
        }
        #expect(
            waitUntil(timeoutMs: 5_000) {
                cluster.nodes.filter { cluster.isPrimary($0) }.map(count).reduce(0, +) == paths.count
                    && count(replica) == count(primary)
            })

        let started = ContinuousClock.now
        try act(cluster, primary)
        var asked: [(path: String, atSeconds: Double)] = []
        var failed: [Int] = []
        var pending = paths[...]
        var hitsInARow = 0
        while let path = pending.popFirst(), started.duration(to: .now) < .seconds(10) || hitsInARow < 20 {
            let status = try StoreClusterTests.get(second, path).status
            if status != 200 { failed.append(status) }
            let elapsed = started.duration(to: .now)
            asked.append((path, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            let hit = second.accessLog.all.last?.contains(#""cache":"store_hit""#) == true
            hitsInARow = hit ? hitsInARow + 1 : 0
            if hitsInARow >= 20, started.duration(to: .now) > .seconds(1) { break }
            usleep(50_000)
        }
        let hitPaths = Set(
            second.accessLog.all.filter { $0.contains(#""cache":"store_hit""#) }.compactMap { line in
                paths.first { line.contains("\"\($0)") }
            })
        let answers = asked.map { hitPaths.contains($0.path) }
        let lastMiss = asked.indices.last { !answers[$0] }.map { asked[$0].atSeconds } ?? 0
        return Outcome(
            failed: failed, secondsToStore: lastMiss, lastAnswers: Array(answers.suffix(20)),
            primaries: cluster.nodes.filter { cluster.isPrimary($0) }.map(\.port))
    }

    @Test func aManualFailoverCostsNoRequestAndTheNewPrimaryIsUsed() throws {
        var ports: (primary: UInt16, replica: UInt16)?
        let outcome = try failover(named: "manual:", nodeTimeoutMs: 2_000) { cluster, primary in
            let replica = try #require(cluster.replica(of: primary))
            #expect(try replica.command(["CLUSTER", "FAILOVER"]).hasPrefix("+OK"))
            ports = (primary.port, replica.port)
        }
        print("StoreClusterFailoverTests: CLUSTER FAILOVER: store used again after \(outcome.secondsToStore) s")
        #expect(outcome.failed.isEmpty)
        #expect(outcome.lastAnswers.count == 20 && outcome.lastAnswers.allSatisfy { $0 })
        #expect(outcome.secondsToStore < 5)
        // The roles swapped.
        let swapped = try #require(ports)
        #expect(outcome.primaries.contains(swapped.replica) && !outcome.primaries.contains(swapped.primary))
    }

    @Test func aKilledPrimaryCostsNoRequestAndItsReplicaIsUsed() throws {
        let outcome = try failover(named: "killed:", nodeTimeoutMs: 1_000) { _, primary in
            primary.stop()
        }
        print("StoreClusterFailoverTests: primary killed: store used again after \(outcome.secondsToStore) s")
        #expect(outcome.failed.isEmpty)
        #expect(outcome.lastAnswers.count == 20 && outcome.lastAnswers.allSatisfy { $0 })
        // cluster-node-timeout (1 s), the replicas' election (about 1 s more), fanout's check of its map (1 s).
        #expect(outcome.secondsToStore < 8)
    }
}
