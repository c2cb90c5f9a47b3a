import FanoutTestSupport
import Foundation
import Glibc
import Testing

/// The store's level of the call cache (`store` block): fanout servers sharing one real `redis-server` (or
/// `valkey-server`) ask the partner once for a cacheable call, and a store that dies never fails a request.
@Suite(.serialized) struct SharedStoreCacheTests {
    static let stores = ["redis-server", "valkey-server"].filter(StoreServer.isInstalled)

    private func config(_ store: StoreServer, stub: UpstreamStub, extra: String = "") -> String {
        """
        admin_listen 127.0.0.1:0
        store { address 127.0.0.1:\(store.port); command_timeout 50ms; connect_timeout 200ms; prefix test:; \(extra) }
        upstream partner { url \(stub.baseURL) }
        route GET /rates/{n} { call rates GET partner /rates/{n} cache=1m }
        """
    }

    /// A GET with the same Host on every server: `X-Forwarded-Host` goes to the partner, so it is part of the key.
    private func get(_ server: TestServer, _ path: String) throws -> RawHTTPResponse {
        try server.get(path, headers: [("Host", "api.example")])
    }

    /// Waits until every worker of `server` has its store connection ready.
    private func waitForStore(_ server: TestServer) -> Bool {
        waitUntil(timeoutMs: 3_000) {
            (try? MetricsTests.scrape(server)["fanout_store_connections_available"]) == 1
        }
    }

    private func stub() throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/rates/1": CallCacheTests.json(#"{"eur":1.1}"#), "/rates/2": CallCacheTests.json(#"{"eur":1.2}"#),
            "/rates/3": CallCacheTests.json(#"{"eur":1.3}"#),
        ])
    }

    @Test(arguments: stores)
    func twoServersSharingAStoreAskThePartnerOnce(executable: String) throws {
        let store = try StoreServer(executable: executable)
        let partner = try stub()
        defer { partner.stop() }
        let first = try TestServer(config(store, stub: partner))
        let second = try TestServer(config(store, stub: partner))
        #expect(waitForStore(first) && waitForStore(second))

        #expect(try get(first, "/rates/1").bodyText == #"{"rates":{"eur":1.1}}"#)
        #expect(waitUntil { (try? store.command(["DBSIZE"])) == ":1\r\n" })
        let fromStore = try get(second, "/rates/1")
        #expect(fromStore.status == 200)
        #expect(fromStore.bodyText == #"{"rates":{"eur":1.1}}"#)
        #expect(try get(second, "/rates/1").status == 200)
        #expect(partner.requests(forPath: "/rates/1") == 1)

        // The access log says which level answered: the store first, then the worker's own cache.
        let lines = second.accessLog.all
        #expect(lines.count == 2)
        #expect(lines.first?.contains(#""cache":"store_hit""#) == true)
        #expect(lines.last?.contains(#""cache":"hit""#) == true)
        let samples = try MetricsTests.scrape(second)
        #expect(samples[#"fanout_cache_store_hits_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_cache_hits_total{upstream="partner"}"#] == 1)
        #expect(try MetricsTests.scrape(first)[#"fanout_cache_store_writes_total{upstream="partner"}"#] == 1)
        // One key, under the prefix, with a hash tag.
        let keys = try store.command(["KEYS", "*"])
        #expect(keys.contains("test:cache:{"))
        #expect(keys.hasPrefix("*1\r\n"))
    }

    @Test func aStoreKilledAndRestartedNeverFailsARequestAndIsUsedAgain() throws {
        let store = try StoreServer()
        let partner = try stub()
        defer { partner.stop() }
        let first = try TestServer(config(store, stub: partner))
        let second = try TestServer(config(store, stub: partner))
        #expect(waitForStore(first) && waitForStore(second))
        #expect(try get(first, "/rates/1").status == 200)

        store.stop()
        // Down: every request is still answered, from the partner or the worker's cache.
        for path in ["/rates/1", "/rates/2", "/rates/2"] {
            #expect(try get(second, path).status == 200)
        }
        #expect(partner.requests(forPath: "/rates/2") == 1)

        try store.start()
        var reconnectedWithin: Double = 0
        let (ready, ms) = measureMs { waitForStore(first) && waitForStore(second) }
        reconnectedWithin = ms
        #expect(ready)
        #expect(reconnectedWithin < 1_000)
        #expect(try get(first, "/rates/3").status == 200)
        #expect(waitUntil { (try? store.command(["DBSIZE"])) == ":1\r\n" })
        #expect(try get(second, "/rates/3").status == 200)
        #expect(partner.requests(forPath: "/rates/3") == 1)
        #expect(second.accessLog.all.last?.contains(#""cache":"store_hit""#) == true)
        let samples = try MetricsTests.scrape(second)
        #expect(samples[#"fanout_store_state_changes_total{change="reconnected"}"#] == 1)
        #expect(samples[#"fanout_store_state_changes_total{change="unavailable"}"#] == 1)
    }

    @Test func aFrozenStoreCostsACallItsBudgetOnly() throws {
        let store = try StoreServer()
        defer { store.resume() }
        let partner = try stub()
        defer { partner.stop() }
        let server = try TestServer(config(store, stub: partner))
        #expect(waitForStore(server))
        store.pause()
        let (response, ms) = try measureMs { try get(server, "/rates/1") }
        #expect(response.status == 200)
        #expect(ms < 500)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_cache_store_fallbacks_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_store_errors_total{kind="timed_out"}"#] == 1)
    }

    @Test func aStaleEntryIsRefreshedOnceAcrossTheFleet() throws {
        let store = try StoreServer()
        let partner = try UpstreamStub(routes: ["/rates/1": CallCacheTests.json(#"{"eur":1.1}"#)])
        defer { partner.stop() }
        let text = """
            admin_listen 127.0.0.1:0
            store { address 127.0.0.1:\(store.port); command_timeout 50ms; }
            upstream partner { url \(partner.baseURL) }
            route GET /rates/{n} { call rates GET partner /rates/{n} cache=1s stale_while_revalidate=1m }
            """
        let first = try TestServer(text)
        let second = try TestServer(text)
        #expect(waitForStore(first) && waitForStore(second))
        #expect(try get(first, "/rates/1").status == 200)
        #expect(waitUntil { (try? store.command(["DBSIZE"])) == ":1\r\n" })
        #expect(try get(second, "/rates/1").status == 200)
        #expect(partner.requests(forPath: "/rates/1") == 1)
        usleep(1_100_000)
        // Both find their entry stale: both answer at once, and one of them refreshes it.
        #expect(try get(first, "/rates/1").status == 200)
        #expect(try get(second, "/rates/1").status == 200)
        #expect(waitUntil { partner.requests(forPath: "/rates/1") == 2 })
        // A replica still holding the stale entry serves it once more and takes the newer one from the store.
        for _ in 0..<2 {
            usleep(200_000)
            for server in [first, second] { #expect(try get(server, "/rates/1").status == 200) }
        }
        #expect(partner.requests(forPath: "/rates/1") == 2)
        // The replica that did not refresh took the newer answer from the store: its last call was fresh.
        #expect(first.accessLog.all.last?.contains(#""cache":"stale_revalidate""#) == false)
        #expect(second.accessLog.all.last?.contains(#""cache":"stale_revalidate""#) == false)
    }

    /// `tls on` with a client certificate (Redis' `tls-auth-clients yes`): the shared cache works as without TLS.
    @Test func twoServersShareAStoreOverMutualTLS() throws {
        signal(SIGPIPE, SIG_IGN)
        let pki = try TestCertificates()
        let store = try StoreServer(tls: .init(certificates: pki, authClients: true))
        let partner = try stub()
        defer { partner.stop() }
        let tls = """
            tls on; tls_ca \(pki.caCertificate); tls_server_name \(TestCertificates.serverName); \
            tls_cert \(pki.clientCertificate); tls_key \(pki.clientKey);
            """
        let first = try TestServer(config(store, stub: partner, extra: tls))
        let second = try TestServer(config(store, stub: partner, extra: tls))
        #expect(waitForStore(first) && waitForStore(second))
        #expect(try get(first, "/rates/1").bodyText == #"{"rates":{"eur":1.1}}"#)
        #expect(waitUntil { (try? store.command(["DBSIZE"]))?.hasPrefix("1") == true })
        let fromStore = try get(second, "/rates/1")
        #expect(fromStore.status == 200)
        #expect(fromStore.bodyText == #"{"rates":{"eur":1.1}}"#)
        #expect(partner.requests(forPath: "/rates/1") == 1)
        #expect(second.accessLog.all.last?.contains(#""cache":"store_hit""#) == true)
    }

    /// A store whose certificate does not verify is not used: requests are answered by the partner, the state
    /// change is counted and logged once per worker, however many attempts follow.
    @Test func aStoreThatFailsVerificationIsSkippedAndLoggedOnce() throws {
        signal(SIGPIPE, SIG_IGN)
        let pki = try TestCertificates()
        let other = try TestCertificates()
        let store = try StoreServer(tls: .init(certificates: pki, authClients: false))
        let partner = try stub()
        defer { partner.stop() }
        let port = try freeTCPPort()
        let adminPort = try freeTCPPort()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-storetls-\(UUID()).conf")
        try """
        listen 127.0.0.1:\(port)
        admin_listen 127.0.0.1:\(adminPort)
        workers 1
        access_log off
        store { address 127.0.0.1:\(store.port); tls on; tls_ca \(other.caCertificate); command_timeout 50ms; }
        upstream partner { url \(partner.baseURL) }
        route GET /rates/{n} { call rates GET partner /rates/{n} cache=1m }
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(["serve", "-c", file.path])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/rates/1"), "\(fanout.stderr)")
        for path in ["/rates/2", "/rates/3"] { #expect(try httpGet(port: port, path: path).status == 200) }
        #expect(fanout.waitForStderr(containing: "certificate verify failed"), "\(fanout.stderr)")
        // More attempts (backoff 50 ms, then up to 500 ms) are made meanwhile: still one line.
        usleep(800_000)
        let lines = fanout.stderr.components(separatedBy: "\n").filter { $0.contains("store 127.0.0.1") }
        #expect(lines.count == 1, "\(fanout.stderr)")
        #expect(lines.first?.contains("unavailable (TLS handshake: certificate verify failed") == true)
        let metrics = try httpGet(port: adminPort, path: "/metrics").bodyText
        #expect(metrics.contains(#"fanout_store_state_changes_total{change="unavailable"} 1"#))
        #expect(metrics.contains("fanout_store_connections_available 0"))
        #expect(partner.requests(forPath: "/rates/2") == 1)
    }
}
