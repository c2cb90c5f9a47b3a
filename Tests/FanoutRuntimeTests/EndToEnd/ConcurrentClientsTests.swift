import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// Several client threads against a server with two workers, so the paths that cross threads (the shared
/// configuration, the access-log sink, libcurl in two loops at once) run concurrently. ThreadSanitizer
/// (scripts/sanitizers.sh thread) only reports races that actually happen during a run; this test makes
/// them happen in-process, where the rest of the suite runs a single worker.
@Suite struct ConcurrentClientsTests {
    static let clients = 6
    static let requestsPerClient = 8

    @Test func twoWorkersServeConcurrentClientsOfCompositeAndProxyRoutes() throws {
        let stub = try UpstreamStub(routes: [
            "/a": .json(#"{"n":1}"#, delayMs: 5),
            "/b": .json(#"[1,2]"#, delayMs: 5),
            "/plain": .json(#"{"proxied":true}"#),
        ])
        let server = try TestServer(
            """
            workers 2
            upstream stub {
                url {{stub}}
                coalesce off
            }
            route GET /both {
                call a GET stub /a
                call b GET stub /b
            }
            route GET /plain {
                proxy {{stub}}
            }
            """, substitutions: ["stub": stub.baseURL])

        // One entry per request: status, body, X-Request-Id (or the error).
        let results = Mutex<[(path: String, outcome: Result<RawHTTPResponse, any Error>)]>([])
        let finished = DispatchSemaphore(value: 0)
        for client in 0..<Self.clients {
            let thread = Thread {
                for request in 0..<Self.requestsPerClient {
                    let path = (client + request) % 2 == 0 ? "/both" : "/plain"
                    let outcome = Result { try httpGet(port: server.port, path: path, timeoutMs: 10_000) }
                    results.withLock { $0.append((path, outcome)) }
                }
                finished.signal()
            }
            thread.start()
        }
        for _ in 0..<Self.clients {
            // Bounded: 48 requests of a few ms each, with a margin for a sanitizer's slowdown.
            try #require(finished.wait(timeout: .now() + 60) == .success, "client threads did not finish")
        }

        let all = results.withLock { $0 }
        #expect(all.count == Self.clients * Self.requestsPerClient)
        var requestIDs: Set<String> = []
        var workerIndexes: Set<String> = []
        for (path, outcome) in all {
            let response = try outcome.get()
            #expect(response.status == 200, "\(path): \(response.bodyText)")
            let expected = path == "/both" ? #"{"a":{"n":1},"b":[1,2]}"# : #"{"proxied":true}"#
            #expect(response.bodyText == expected)
            let id = try #require(response.header("X-Request-Id"))
            requestIDs.insert(id)
            // "<prefix>-<worker index>-<counter>"
            let parts = id.split(separator: "-")
            if parts.count == 3 { workerIndexes.insert(String(parts[1])) }
        }
        #expect(requestIDs.count == all.count, "request ids repeat")
        // SO_REUSEPORT spreads the 48 connections over both workers by their source port.
        #expect(workerIndexes == ["0", "1"])
        #expect(waitUntil(timeoutMs: 2_000) { server.accessLog.all.count == all.count })
        // Every call reaches the stub (`coalesce off`: concurrent identical calls would otherwise share one).
        #expect(stub.requestCount == all.count / 2 * 3)
    }
}
