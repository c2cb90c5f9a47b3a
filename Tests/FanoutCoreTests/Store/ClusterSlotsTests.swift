import FanoutCore
import Testing

/// Redis Cluster's key distribution (CRC16 of the hash tag, 16384 slots), redirections and the slot map.
@Suite struct ClusterSlotsTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func crc16IsTheXmodemVariantOfTheClusterSpecification() {
        // The specification's reference value, and others from the XMODEM tables.
        #expect(ClusterSlot.crc16(bytes("123456789")) == 0x31C3)
        #expect(ClusterSlot.crc16(bytes("")) == 0)
        #expect(ClusterSlot.crc16(bytes("A")) == 0x58E5)
    }

    @Test func slotsMatchWhatRedisAnswersToClusterKeyslot() {
        // `CLUSTER KEYSLOT` of Redis 7 for these keys.
        #expect(ClusterSlot.of(key: "foo") == 12182)
        #expect(ClusterSlot.of(key: "bar") == 5061)
        #expect(ClusterSlot.of(key: "hello") == 866)
        #expect(ClusterSlot.of(key: "123456789") == 0x31C3 % 16384)
    }

    @Test func theHashTagAloneDecidesTheSlot() {
        #expect(ClusterSlot.of(key: "{user1000}.following") == ClusterSlot.of(key: "user1000"))
        #expect(ClusterSlot.of(key: "{user1000}.followers") == ClusterSlot.of(key: "{user1000}.following"))
        // Only the first `{…}` counts; an empty one means no tag (the whole key is hashed).
        #expect(ClusterSlot.of(key: "foo{bar}{zap}") == ClusterSlot.of(key: "bar"))
        #expect(ClusterSlot.of(key: "foo{}{bar}") == ClusterSlot.of(key: "foo{}{bar}"))
        #expect(ClusterSlot.hashedPart(of: bytes("foo{}{bar}")) == bytes("foo{}{bar}")[...])
        #expect(ClusterSlot.hashedPart(of: bytes("foo{{bar}}zap")) == bytes("{bar")[...])
        #expect(ClusterSlot.hashedPart(of: bytes("foo{bar")) == bytes("foo{bar")[...])
    }

    @Test func commandKeysFollowTheirKeyPositions() {
        func routing(_ command: [String]) -> StoreCommandKeys.Routing {
            StoreCommandKeys.routing(of: command.map { Array($0.utf8) })
        }
        #expect(routing(["GET", "foo"]) == .slot(12182))
        #expect(routing(["SET", "{foo}x", "1", "NX", "PX", "10"]) == .slot(12182))
        #expect(routing(["EVALSHA", "abc", "1", "foo", "7", "8"]) == .slot(12182))
        #expect(routing(["EVAL", "return 1", "0"]) == .anyNode)
        #expect(routing(["SCRIPT", "LOAD", "return 1"]) == .anyNode)
        #expect(routing(["INFO", "cluster"]) == .anyNode)
        #expect(routing(["DEL", "{a}1", "{a}2"]) == .slot(ClusterSlot.of(key: "a")))
        #expect(routing(["DEL", "foo", "bar"]) == .crossSlot(first: 12182))
    }

    /// Every command fanout sends for one call or one upstream names keys of a single slot: the cache entry and
    /// its refresh lock, and a shared quota's and breaker's keys (the quota script's one key among them).
    @Test func fanoutsKeysOfOneCallOrUpstreamShareASlot() {
        for callKey in ["GET partner /rates/1", "POST other /x?y=1", ""] {
            let keys = SharedCacheKeys(prefix: "fanout:", callKey: callKey)
            #expect(ClusterSlot.of(key: keys.entry) == ClusterSlot.of(key: keys.lock))
            let command = ["DEL", keys.entry, keys.lock].map { Array($0.utf8) }
            #expect(StoreCommandKeys.routing(of: command) == .slot(ClusterSlot.of(key: keys.entry)))
        }
        for name in ["partner", "billing-api", "a.b"] {
            let keys = FleetKeys(prefix: "fanout:", upstream: name)
            let slot = ClusterSlot.of(key: keys.quota)
            #expect(slot == ClusterSlot.of(key: name))
            #expect(ClusterSlot.of(key: keys.breakerOpen) == slot)
            #expect(ClusterSlot.of(key: keys.breakerProbe) == slot)
            let renewal = ["EVALSHA", "sha", "1", keys.quota] + ["10000", "10000", "5"]
            #expect(StoreCommandKeys.routing(of: renewal.map { Array($0.utf8) }) == .slot(slot))
        }
    }

    @Test func parsesRedirections() {
        #expect(
            ClusterRedirect(errorReply: "MOVED 3999 127.0.0.1:6381", replyingHost: "10.0.0.1")
                == .moved(slot: 3999, node: ListenAddress(host: "127.0.0.1", port: 6381)))
        #expect(
            ClusterRedirect(errorReply: "ASK 12182 ::1:7002", replyingHost: "10.0.0.1")
                == .ask(slot: 12182, node: ListenAddress(host: "::1", port: 7002)))
        #expect(
            ClusterRedirect(errorReply: "MOVED 1 :7000", replyingHost: "10.0.0.1")
                == .moved(slot: 1, node: ListenAddress(host: "10.0.0.1", port: 7000)))
        #expect(ClusterRedirect(errorReply: "ERR unknown command", replyingHost: "h") == nil)
        #expect(ClusterRedirect(errorReply: "MOVED 16384 127.0.0.1:1", replyingHost: "h") == nil)
        #expect(ClusterRedirect(errorReply: "MOVED 1 127.0.0.1", replyingHost: "h") == nil)
    }

    @Test func buildsTheMapFromClusterSlotsAndMovedReplies() throws {
        func node(_ host: String, _ port: Int) -> RESPValue {
            .array([.bulkString(Array(host.utf8)), .integer(port), .bulkString(Array("id".utf8))])
        }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7100)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        var map = try #require(ClusterSlotMap(clusterSlots: reply, replyingHost: "127.0.0.9"))
        #expect(map.assignedSlots == 16384)
        #expect(map.nodes.count == 3)
        #expect(map.node(forSlot: 0) == ListenAddress(host: "127.0.0.1", port: 7000))
        #expect(map.node(forSlot: 5461) == ListenAddress(host: "127.0.0.9", port: 7001))
        #expect(map.node(forSlot: 16383) == ListenAddress(host: "127.0.0.1", port: 7002))
        map.assign(slot: 0, to: ListenAddress(host: "127.0.0.1", port: 7002))
        #expect(map.node(forSlot: 0) == ListenAddress(host: "127.0.0.1", port: 7002))
        #expect(map.node(forSlot: 1) == ListenAddress(host: "127.0.0.1", port: 7000))

        #expect(ClusterSlotMap(clusterSlots: .error("ERR cluster support disabled"), replyingHost: "h") == nil)
        #expect(ClusterSlotMap(clusterSlots: .array([.array([.integer(5), .integer(1)])]), replyingHost: "h") == nil)
        #expect(ClusterSlotMap().node(forSlot: 7) == nil)
    }
}
