import FanoutCore
import Testing

@Suite struct StoreConfigTests {
    @Test func parsesTheStoreBlockWithItsDefaults() throws {
        let config = try ConfigParser.parse(
            """
            store {
                address 10.0.0.5
                command_timeout 3ms
                password ${REDIS_PASSWORD}
                user fanout
                db 2
                max_entry 1m
            }
            """, file: "t.conf", environment: ["REDIS_PASSWORD": "s3cret"])
        let store = try #require(config.store)
        #expect(store.address == ListenAddress(host: "10.0.0.5", port: 6379))
        #expect(store.commandTimeoutMs == 3)
        #expect(store.connectTimeoutMs == 200)
        #expect(store.prefix == "fanout:")
        #expect(store.password == "s3cret")
        #expect(store.user == "fanout")
        #expect(store.database == 2)
        #expect(store.maxEntryBytes == 1024 * 1024)
        #expect(
            try ConfigParser.parse("store { address localhost:6380; }", file: "t.conf", environment: [:]).store?.address
                == ListenAddress(host: "127.0.0.1", port: 6380))
        #expect(try ConfigParser.parse("workers 1", file: "t.conf", environment: [:]).store == nil)
    }

    @Test func parsesTLSToTheStore() throws {
        let text = """
            store {
                address 10.0.0.5:6380
                tls on
                tls_ca /etc/fanout/redis-ca.pem
                tls_server_name redis.internal
                tls_cert /etc/fanout/client.pem
                tls_key /etc/fanout/client.key
            }
            """
        let store = try #require(try ConfigParser.parse(text, file: "t.conf", environment: [:]).store)
        #expect(store.tls)
        #expect(store.tlsCA == "/etc/fanout/redis-ca.pem")
        #expect(store.tlsServerName == "redis.internal")
        #expect(store.tlsCertificate == "/etc/fanout/client.pem")
        #expect(store.tlsKey == "/etc/fanout/client.key")
        let plain = try #require(
            try ConfigParser.parse("store { address 127.0.0.1; tls on; }", file: "t.conf", environment: [:]).store)
        #expect(plain.tls && plain.tlsCA == nil && plain.tlsServerName == nil && plain.tlsCertificate == nil)
    }

    @Test(arguments: [
        ("store { address 127.0.0.1:6379; tls yes; }", "invalid store 'tls yes'; expected 'on' or 'off'"),
        ("store { address 127.0.0.1:6379; tls_ca /ca.pem; }", "store 'tls_ca' without 'tls on'"),
        ("store { address 127.0.0.1:6379; tls off; tls_server_name r; }", "store 'tls_server_name' without 'tls on'"),
        ("store { address 127.0.0.1:6379; tls on; tls_cert /c.pem; }", "store 'tls_cert' without 'tls_key'"),
        ("store { address 127.0.0.1:6379; tls on; tls_key /c.key; }", "store 'tls_key' without 'tls_cert'"),
        ("store { connect_timeout 1s; }", "store block without 'address'"),
        ("store { address redis.internal:6379; }", "invalid listen address"),
        ("store { address 127.0.0.1:6379; prefix a{b}:; }", "invalid store prefix"),
        ("store { address 127.0.0.1:6379; user u; }", "store 'user' without 'password'"),
        ("store { address 127.0.0.1:6379; }\nstore { address 127.0.0.1:6379; }", "duplicate 'store'"),
    ])
    func refusesWhatItCannotHonour(text: String, message: String) {
        #expect {
            try ConfigParser.parse(text, file: "t.conf", environment: [:])
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func sharedCacheEntriesRoundTripAndKeysCarryAHashTag() {
        let entry = SharedCacheEntry(
            callKey: "GET http://p/rates\npartner 1000\n", storedAtMs: 1_764_000_000_123, status: 200,
            contentType: "application/json", headers: [HeaderField(name: "ETag", value: "\"x\"")],
            body: Array(#"{"eur":1.1}"#.utf8), httpVersion: "1.1", declaredLength: nil,
            freshness: CacheFreshness(explicitFreshMs: 60_000, staleWhileRevalidateMs: 30_000, staleForbidden: true))
        let bytes = entry.encoded()
        #expect(SharedCacheEntry(decoding: bytes) == entry)
        #expect(SharedCacheEntry(decoding: Array(bytes.dropLast())) == nil)
        #expect(SharedCacheEntry(decoding: Array("garbage".utf8)) == nil)
        let keys = SharedCacheKeys(prefix: "fanout:", callKey: entry.callKey)
        #expect(keys.entry.hasPrefix("fanout:cache:{") && keys.entry.hasSuffix("}"))
        #expect(keys.lock == "fanout:lock:" + keys.entry.dropFirst("fanout:cache:".count))
        #expect(keys.entry.count == "fanout:cache:{}".count + 32)
        #expect(SharedCacheKeys(prefix: "fanout:", callKey: entry.callKey + " ") != keys)
    }
}
