import Foundation

/// A real three-node Redis Cluster (no replicas) on free loopback ports: three `redis-server
/// --cluster-enabled yes` in a temporary directory, joined by `redis-cli --cluster create`, ready once every
/// node says `cluster_state:ok`. ``stop()`` (or deinit) kills them and removes the directory.
public final class StoreCluster: @unchecked Sendable {
    public let nodes: [StoreServer]
    private let directory: URL

    /// Whether `redis-server` and `redis-cli` are installed.
    public static var isInstalled: Bool {
        StoreServer.isInstalled("redis-server") && StoreServer.isInstalled("redis-cli")
    }

    /// - Throws: ``TestSupportError`` when a node does not start or the cluster is not ok within 10 s.
    public init(size: Int = 3) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var nodes: [StoreServer] = []
        for index in 0..<size {
            let file = directory.appendingPathComponent("node\(index).conf").path
            nodes.append(
                try StoreServer(extraArguments: [
                    "--cluster-enabled", "yes", "--cluster-config-file", file, "--cluster-node-timeout", "2000",
                ]))
        }
        self.nodes = nodes
        let create = Process()
        create.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        create.arguments =
            ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
                "--cluster-replicas", "0", "--cluster-yes",
            ]
        create.standardOutput = FileHandle.nullDevice
        create.standardError = FileHandle.nullDevice
        try create.run()
        create.waitUntilExit()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if nodes.allSatisfy({ ((try? $0.command(["CLUSTER", "INFO"])) ?? "").contains("cluster_state:ok") }) {
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

    /// The slots each node serves (in the order of ``nodes``), by `CLUSTER NODES` asked of the first node.
    public func slotRanges() -> [[ClosedRange<Int>]] {
        let reply = (try? nodes[0].command(["CLUSTER", "NODES"])) ?? ""
        let lines = reply.utf8.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        return nodes.map { node in
            let id = (try? node.command(["CLUSTER", "MYID"]))?.split(separator: "\r\n").last.map(String.init) ?? "?"
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
        let raw = try target.command(["CLUSTER", "MYID"])
        let id = raw.split(separator: "\r\n").last.map(String.init) ?? ""
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
