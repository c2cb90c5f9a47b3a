import FanoutTestSupport
import Foundation
import Testing

/// A partner whose name server never answers. A test cannot give its own process such a resolver, so this
/// suite only runs under `scripts/blackhole-dns-test.sh`, which starts the tests in a private mount and network
/// namespace whose `/etc/resolv.conf` names a UDP socket that reads queries and never answers. (In this
/// repository's sandbox, and on most machines, a `.invalid` name fails at once instead.)
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FANOUT_TEST_BLACKHOLE_DNS"] == "1"))
struct BlackholeDNSTests {
    /// libcurl 7.88.1 resolves in a thread; removing a transfer whose lookup is still running joined that
    /// thread (Curl_resolver_kill), stalling the worker's loop until getaddrinfo gave up: 10 s here.
    /// CURLOPT_QUICK_EXIT leaves the thread to finish on its own.
    @Test func anUnansweredLookupEndsAtItsLimitWithoutStallingTheWorker() throws {
        let server = try TestServer(
            """
            workers 1
            upstream silent-dns {
                url http://partner.invalid
                connect_timeout 500ms
            }
            upstream slow-dns {
                url http://partner.invalid
                connect_timeout 10s
            }
            route GET /connect-timeout {
                call a GET silent-dns /a optional
                deadline 5s
            }
            route GET /deadline {
                call a GET slow-dns /a optional
                deadline 300ms
            }
            route GET /proxy {
                proxy silent-dns /a
                timeout 5s
            }
            route GET /ping {
                respond 200 pong
                content_type text/plain
            }
            """)

        for (path, limitMs) in [("/connect-timeout", 500.0), ("/deadline", 300.0)] {
            let (response, elapsedMs) = try measureMs { try server.get(path, timeoutMs: 30_000) }
            #expect(response.status == 200)
            let error = try #require((try jsonObject(response)["_errors"] as? [[String: Any]])?.first)
            #expect(error["kind"] as? String == "timeout", "\(error)")
            #expect(elapsedMs < limitMs + 1_500, "\(path) took \(elapsedMs) ms")
            // The one worker answers at once: its loop is not stuck in the resolver.
            let (ping, pingMs) = try measureMs { try server.get("/ping") }
            #expect(ping.bodyText == "pong")
            #expect(pingMs < 500, "ping after \(path) took \(pingMs) ms")
        }
        let (proxied, proxyMs) = try measureMs { try server.get("/proxy", timeoutMs: 30_000) }
        #expect(proxied.status == 504)
        #expect(proxyMs < 500 + 1_500, "the proxy route took \(proxyMs) ms")
    }
}
