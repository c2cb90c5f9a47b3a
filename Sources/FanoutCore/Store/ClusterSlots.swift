/// Redis Cluster's key space (the cluster specification, "Keys distribution model"): 16384 slots; a key's slot
/// is the CRC16 (XMODEM: polynomial 0x1021, initial value 0) of its hash tag, or of the whole key when it has
/// none, modulo 16384. The hash tag is what lies between the first `{` and the first `}` after it, when that
/// is not empty.
public enum ClusterSlot {
    public static let count = 16384

    /// CRC16-XMODEM of `bytes` (`123456789` → 0x31C3).
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    /// The part of `key` that decides its slot: the hash tag, or the whole key.
    public static func hashedPart(of key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }

    public static func of(key: [UInt8]) -> Int {
        Int(crc16(hashedPart(of: key))) % count
    }

    public static func of(key: String) -> Int {
        of(key: Array(key.utf8))
    }
}

/// The keys of a command fanout sends to the store, by the command's key positions (`COMMAND INFO`): the first
/// argument for single-key commands, every argument for `DEL`/`EXISTS`/`MGET`, the `numkeys` keys of
/// `EVAL`/`EVALSHA`, none for commands about the server (`SCRIPT`, `PING`, `INFO`, `CLUSTER`, …).
public enum StoreCommandKeys {
    public static func keys(of command: [[UInt8]]) -> [[UInt8]] {
        guard let name = command.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }) else { return [] }
        switch name {
        case "SCRIPT", "PING", "INFO", "CLUSTER", "ASKING", "AUTH", "SELECT", "SUBSCRIBE", "UNSUBSCRIBE", "PUBLISH",
            "DBSIZE", "FLUSHALL", "FLUSHDB", "KEYS":
            return []
        case "DEL", "EXISTS", "MGET", "UNLINK", "TOUCH":
            return Array(command.dropFirst())
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard command.count >= 3, let count = Int(String(decoding: command[2], as: UTF8.self)), count >= 0,
                command.count >= 3 + count
            else { return [] }
            return Array(command[3..<(3 + count)])
        default:
            return command.count >= 2 ? [command[1]] : []
        }
    }

    /// Where a command goes on a cluster.
    public enum Routing: Sendable, Equatable {
        /// No key: any node answers it.
        case anyNode
        case slot(Int)
        /// Keys in different slots: a cluster refuses it (`CROSSSLOT`). Fanout never sends one (its keys of one
        /// call share a hash tag); the router sends it to the first key's node, which says so.
        case crossSlot(first: Int)
    }

    public static func routing(of command: [[UInt8]]) -> Routing {
        let slots = keys(of: command).map(ClusterSlot.of(key:))
        guard let first = slots.first else { return .anyNode }
        return slots.allSatisfy { $0 == first } ? .slot(first) : .crossSlot(first: first)
    }
}

/// A cluster node's answer that the key lives elsewhere (`-MOVED 3999 127.0.0.1:6381`: for good, the slot map
/// is out of date; `-ASK 3999 127.0.0.1:6381`: while the slot migrates, ask that node once, after `ASKING`).
public enum ClusterRedirect: Sendable, Equatable {
    case moved(slot: Int, node: ListenAddress)
    case ask(slot: Int, node: ListenAddress)

    /// Parses an error reply; nil when it is no redirection. An empty host (`MOVED 3999 :6381`, a node whose
    /// address is unknown) means the host of the node that answered: `replyingHost`.
    public init?(errorReply text: String, replyingHost: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, let slot = Int(parts[1]), slot >= 0, slot < ClusterSlot.count,
            let node = Self.endpoint(String(parts[2]), defaultHost: replyingHost)
        else { return nil }
        switch parts[0] {
        case "MOVED": self = .moved(slot: slot, node: node)
        case "ASK": self = .ask(slot: slot, node: node)
        default: return nil
        }
    }

    /// `HOST:PORT`, split at the last colon (Redis writes IPv6 addresses without brackets).
    static func endpoint(_ text: String, defaultHost: String) -> ListenAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return ListenAddress(host: host.isEmpty ? defaultHost : host, port: port)
    }
}

/// Which node serves each of the 16384 slots, as `CLUSTER SLOTS` last said (and `MOVED` replies since).
public struct ClusterSlotMap: Sendable, Equatable {
    /// The primaries, in the order they were first seen.
    public private(set) var nodes: [ListenAddress] = []
    /// Per slot, an index into `nodes`; `unassigned` for a slot no node serves.
    private var owners: [UInt16]
    private static let unassigned = UInt16.max

    public init() {
        owners = Array(repeating: Self.unassigned, count: ClusterSlot.count)
    }

    /// The map of a `CLUSTER SLOTS` reply (`[[start, end, [host, port, id, …], replicas…], …]`); nil when the
    /// reply is not one. A primary with an empty or `?` host (address unknown) gets `replyingHost`.
    public init?(clusterSlots reply: RESPValue, replyingHost: String) {
        guard case .array(let ranges) = reply else { return nil }
        self.init()
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3, case .integer(let start) = parts[0],
                case .integer(let end) = parts[1], start >= 0, start <= end, end < ClusterSlot.count,
                case .array(let primary) = parts[2], primary.count >= 2, let host = primary[0].text,
                case .integer(let port) = primary[1], port > 0, port <= Int(UInt16.max)
            else { return nil }
            let node = ListenAddress(
                host: host.isEmpty || host == "?" ? replyingHost : host, port: UInt16(port))
            for slot in start...end { assign(slot: slot, to: node) }
        }
    }

    public func node(forSlot slot: Int) -> ListenAddress? {
        guard slot >= 0, slot < owners.count, owners[slot] != Self.unassigned else { return nil }
        return nodes[Int(owners[slot])]
    }

    /// How many slots have a node.
    public var assignedSlots: Int { owners.count { $0 != Self.unassigned } }

    /// `MOVED`: the slot is served by `node` from now on.
    public mutating func assign(slot: Int, to node: ListenAddress) {
        guard slot >= 0, slot < owners.count else { return }
        let index: Int
        if let known = nodes.firstIndex(of: node) {
            index = known
        } else {
            nodes.append(node)
            index = nodes.count - 1
        }
        owners[slot] = UInt16(index)
    }
}
