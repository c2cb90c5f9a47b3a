import FanoutTestSupport
import Foundation
import Testing

/// A proxy route's time limits mean what they say: `timeout` cuts an upstream silent for exactly that long after
/// its last byte. Time bounds are generous (the machine is shared); each is chosen so the behaviour before the
/// fix falls outside it.
@Suite struct ProxyTimeLimitTests {
    /// The last access-log line's entry and its one call.
    static func loggedRequest(_ server: TestServer) throws -> (entry: [String: Any], call: [String: Any]) {
        #expect(waitUntil { !server.accessLog.all.isEmpty })
        let line = try #require(server.accessLog.all.last)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let calls = try #require(entry["calls"] as? [[String: Any]])
        return (entry, try #require(calls.first))
    }

    @Test func anUpstreamSilentAfterFiveBodyBytesIsCutOneTimeoutAfterItsLastByte() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try TestServer(
            """
            upstream up { url {{up}} }
            route GET /download {
                proxy up
                timeout 500ms
            }
            """, substitutions: ["up": upstream.baseURL])
        let client = try StreamingClient(port: server.port)
        let requestStart = ContinuousClock.now
        try client.send("GET /download?bytes=1000000&stallAfter=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readHead().status == 200)
        var body: [UInt8] = []
        try client.read(5) { body.append(contentsOf: $0) }
        #expect(body == StreamingUpstream.pattern(from: 0, count: 5))
        // The head promised 1,000,000 bytes: the cut shows as a close short of them, 500 ms after the 5th byte
        // (it was 1 s after the request, ~900 ms after the byte: the idle timer re-armed a whole period when its
        // first look saw the bytes).
        let (closed, silentMs) = measureMs { client.isClosedByPeer(waitMs: 3_000) }
        let totalMs = Double((ContinuousClock.now - requestStart) / .milliseconds(1))
        #expect(closed)
        #expect(silentMs >= 420 && silentMs <= 800, "cut \(silentMs) ms after the last byte")
        // The access log has the time the call really took, not the configured 500 ms.
        let (entry, call) = try Self.loggedRequest(server)
        #expect(entry["status"] as? Int == 200)
        #expect(call["failure"] as? String == "timeout")
        let loggedMs = try #require(call["duration_ms"] as? Double)
        #expect(abs(loggedMs - totalMs) < 100, "logged \(loggedMs) ms for a call the client saw take \(totalMs) ms")
    }
}
