import Foundation

/// A real Redis Cluster on free loopback ports: `redis-server --cluster-enabled yes` nodes in a temporary
/// directory, joined by `redis-cli --cluster create` (three primaries by default, and `replicas` replicas of
/// each), ready once every node says `cluster_state:ok` and every replica's link to its primary is up.
/// ``stop()`` (or deinit) kills them and removes the directory.
public final class StoreCluster: @unchecked Sendable {
    /// Every node, primaries and replicas (`redis-cli` decides which is which: see ``primary(_:)``).
    public let nodes: [StoreServer]
    private let directory: URL

    /// Whether `redis-server` and `redis-cli` are installed.
    public static var isInstalled: Bool {
        StoreServer.isInstalled("redis-server") && StoreServer.isInstalled("redis-cli")
    }

    /// - Parameters:
    ///   - size: the number of primaries.
    ///   - replicas: replicas per primary (`--cluster-replicas`).
    ///   - nodeTimeoutMs: `cluster-node-timeout`: how long a primary may be unreachable before its replica
    ///     takes over.
    /// - Throws: ``TestSupportError`` when a node does not start or the cluster is not ok within 15 s.
    public init(size: Int = 3, replicas: Int = 0, nodeTimeoutMs: Int = 2_000) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var nodes: [StoreServer] = []
        for index in 0..<(size * (1 + replicas)) {
            let file = directory.appendingPathComponent("node\(index).conf").path
            nodes.append(
                try StoreServer(extraArguments: [
                    // A replica's full sync goes through an RDB file: in the directory, one per node.
                    "--cluster-enabled", "yes", "--cluster-config-file", file, "--dir", directory.path,
                    "--dbfilename", "node\(index).rdb", "--cluster-node-timeout", String(nodeTimeoutMs),
                ]))
        }
        self.nodes = nodes
        let create = Process()
        create.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        create.arguments =
            ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
                "--cluster-replicas", String(replicas), "--cluster-yes",
            ]
        create.standardOutput = FileHandle.nullDevice
        create.standardError = FileHandle.nullDevice
        try create.run()
        create.waitUntilExit()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if nodes.allSatisfy({ ((try? $0.command(["CLUSTER", "INFO"])) ?? "").contains("cluster_state:ok") }),
                nodes.allSatisfy({ node in
                    let info = (try? node.command(["INFO", "replication"])) ?? ""
                    return info.contains("role:master") || info.contains("master_link_status:up")
                })
            {
                return
            }
            usleep(50_000)
        }
        throw TestSupportError(kind: .malformed, call: "redis-cli --cluster create", detail: "no cluster_state:ok")
    }

    deinit {
        stop()
    }

    /// Kills the nodes and removes their directory.
    public func stop() {
        for node in nodes { node.stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// `node`'s cluster id (`CLUSTER MYID`).
    public func id(of node: StoreServer) throws -> String {
        let raw = try node.command(["CLUSTER", "MYID"])
        return raw.split(separator: "\r\n").last.map(String.init) ?? ""
    }

    /// Whether `node` is a primary now (`ROLE`).
    public func isPrimary(_ node: StoreServer) -> Bool {
        ((try? node.command(["ROLE"])) ?? "").contains("master")
    }

    /// A replica of `primary` (by `CLUSTER REPLICAS` asked of it), if it has one.
    public func replica(of primary: StoreServer) -> StoreServer? {
        guard let id = try? id(of: primary), let reply = try? primary.command(["CLUSTER", "REPLICAS", id]) else {
            return nil
        }
        return nodes.first { node in node !== primary && reply.contains("127.0.0.1:\(node.port)@") }
    }

    /// The slots each node serves (in the order of ``nodes``), by `CLUSTER NODES` asked of the first node that
    /// answers (a stopped node serves none).
    public func slotRanges() -> [[ClosedRange<Int>]] {
        let reply = nodes.lazy.compactMap { try? $0.command(["CLUSTER", "NODES"]) }.first { !$0.isEmpty } ?? ""
        let lines = reply.utf8.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        return nodes.map { node in
            let id = (try? id(of: node)) ?? "?"
            guard let line = lines.first(where: { $0.hasPrefix(id + " ") }) else { return [] }
            return line.split(separator: " ").dropFirst(8).compactMap { range in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2 { return bounds[0]...bounds[1] }
                return bounds.count == 1 && !range.hasPrefix("[") ? bounds[0]...bounds[0] : nil
            }
        }
    }

    /// The node that serves `slot`.
    public func node(forSlot slot: Int) -> StoreServer? {
        let ranges = slotRanges()
        return nodes.indices.first { ranges[$0].contains { $0.contains(slot) } }.map { nodes[$0] }
    }

    /// Moves `slot` (empty) from the node serving it to `target`, as `redis-cli --cluster reshard` does for an
    /// empty slot: `CLUSTER SETSLOT slot NODE id` on both, then on the others.
    public func move(slot: Int, to target: StoreServer) throws {
        let id = try id(of: target)
        let source = node(forSlot: slot)
        let ordered = [target] + (source.map { [$0] } ?? []) + nodes.filter { $0 !== target && $0 !== source }
        for node in ordered {
            let reply = try node.command(["CLUSTER", "SETSLOT", String(slot), "NODE", id])
            guard reply.hasPrefix("+OK") else {
                throw TestSupportError(kind: .malformed, call: "CLUSTER SETSLOT", detail: reply)
            }
        }
    }
}
