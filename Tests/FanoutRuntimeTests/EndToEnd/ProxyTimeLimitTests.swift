import FanoutTestSupport
import Foundation
import Testing

/// A proxy route's time limits mean what they say: `timeout` cuts an upstream silent for exactly that long after
/// its last byte, and `min_rate` ends a body dripped just fast enough never to be idle, in either direction,
/// while back-pressure from the other side never counts against it. Time bounds are generous (the machine is
/// shared); each is chosen so the behaviour before the fix falls outside it.
@Suite struct ProxyTimeLimitTests {
    /// A fanout (with its admin listener) whose one route `route` proxies to the `StreamingUpstream` at
    /// `upstream`, with `settings` (`;`-separated) after its `proxy` line.
    static func server(_ route: String, _ settings: String, upstream: StreamingUpstream) throws -> TestServer {
        try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream up { url {{up}} }
            route \(route) {
                proxy up; \(settings)
            }
            """, substitutions: ["up": upstream.baseURL])
    }

    /// The last access-log line's entry and its one call.
    static func loggedRequest(_ server: TestServer) throws -> (entry: [String: Any], call: [String: Any]) {
        #expect(waitUntil { !server.accessLog.all.isEmpty })
        let line = try #require(server.accessLog.all.last)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let calls = try #require(entry["calls"] as? [[String: Any]])
        return (entry, try #require(calls.first))
    }

    /// A request for `/download` cut after its streamed answer began has exactly one access-log line, now and 300 ms later: the
    /// status the client got (200), `route`, and its proxy call given up (`cancelled`), counted once.
    static func expectOneCancelledLine(
        _ server: TestServer, route: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let lines = { server.accessLog.all.filter { $0.contains("/download") } }
        #expect(
            waitUntil { !lines().isEmpty }, "no access-log line for the cut request", sourceLocation: sourceLocation)
        usleep(300_000)
        #expect(lines().count == 1, "\(lines())", sourceLocation: sourceLocation)
        let (entry, call) = try Self.loggedRequest(server)
        #expect(entry["status"] as? Int == 200, sourceLocation: sourceLocation)
        #expect(entry["route"] as? String == route, sourceLocation: sourceLocation)
        #expect(call["status"] as? Int == 200, sourceLocation: sourceLocation)
        #expect(call["cancelled"] as? Bool == true, "\(call)", sourceLocation: sourceLocation)
        let samples = try MetricsTests.scrape(server)
        #expect(
            samples[#"fanout_requests_total{route="\#(route)",status="200"}"#] == 1, sourceLocation: sourceLocation)
    }

    @Test func anUpstreamSilentAfterFiveBodyBytesIsCutOneTimeoutAfterItsLastByte() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try Self.server("GET /download", "timeout 500ms; min_rate off", upstream: upstream)
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

    @Test func aPartnerDrippingItsAnswerBelowMinRateIsCutAndCounted() throws {
        // 100 bytes, one every 50 ms: never idle for the 1 s timeout, 5 s in all at 20 bytes/s.
        let partner = try UpstreamStub(routes: [
            "/drip": .drip(body: Array(repeating: UInt8(ascii: " "), count: 99) + [0x30], everyMs: 50)
        ])
        defer { partner.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{partner}} }
            route GET /drip {
                proxy partner
                timeout 1s
                min_rate 1k/s 500ms
            }
            """, substitutions: ["partner": partner.baseURL])
        let client = try StreamingClient(port: server.port)
        try client.send("GET /drip HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readHead().status == 200)
        // 500 ms of grace, each byte buying 1 ms more: the connection closes short of the body after ~0.55 s.
        var received = 0
        let (cut, elapsedMs) = measureMs {
            do {
                try client.read(100) { received += $0.count }
                return false
            } catch {
                return true
            }
        }
        #expect(cut, "the whole dripped body came through")
        #expect(received < 100)
        #expect(elapsedMs >= 300 && elapsedMs < 2_500, "cut after \(elapsedMs) ms")
        let (entry, call) = try Self.loggedRequest(server)
        #expect(entry["status"] as? Int == 200)
        #expect(call["failure"] as? String == "timeout")
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_min_rate_cuts_total{route="GET /drip",side="upstream"}"#] == 1)
        #expect(samples[#"fanout_upstream_failures_total{upstream="partner",kind="timeout"}"#] == 1)
    }

    @Test func aClientDrippingItsBodyBelowMinRateGets408AndIsCounted() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try Self.server("POST /upload", "min_rate 1k/s 500ms", upstream: upstream)
        let client = try RawHTTPClient(port: server.port)
        try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        // One byte every 50 ms: never idle for client_timeout (10 s), 20 bytes/s.
        let (closed, elapsedMs) = measureMs {
            for _ in 0..<60 {
                try? client.send([UInt8(ascii: "a")])
                if client.isClosedByPeer(waitMs: 50) { return true }
            }
            return false
        }
        #expect(closed, "the dripping client was not cut within 3 s")
        #expect(elapsedMs >= 300 && elapsedMs < 2_500, "cut after \(elapsedMs) ms")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.bodyText.contains("slower than min_rate 1k/s 500ms"), "\(response.bodyText)")
        #expect(waitUntil { server.accessLog.all.contains { $0.contains(#""status":408"#) } })
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_min_rate_cuts_total{route="POST /upload",side="client"}"#] == 1)
        #expect(upstream.bytesReceived < 1000)
    }

    @Test func aClientDrippingItsBodyBelowMinRateAfterTheAnswerBeganIsCutAndLoggedOnce() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try Self.server("POST /download", "min_rate 1k/s 500ms", upstream: upstream)
        let client = try RawHTTPClient(port: server.port)
        // The partner answers at once, without reading the body; the client reads nothing, so the answer is held
        // back (its budget paused) and only the client's body, 20 bytes/s, can be too slow.
        try client.limitReceiveBuffer(bytes: 4096)
        try client.send(
            "POST /download?bytes=1000000000 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        // A send fails once fanout closed the connection (the byte after the close is answered by a reset).
        let (closed, elapsedMs) = sendUntilClosed { try client.send([UInt8(ascii: "a")]) }
        #expect(closed, "the dripping client was not cut within 3 s")
        #expect(elapsedMs >= 300 && elapsedMs < 2_500, "cut after \(elapsedMs) ms")
        try Self.expectOneCancelledLine(server, route: "POST /download")
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_min_rate_cuts_total{route="POST /download",side="client"}"#] == 1)
        #expect(samples[#"fanout_min_rate_cuts_total{route="POST /download",side="upstream"}"#] == nil)
    }

    @Test func aClientThatStopsReadingAStreamedAnswerIsCutAfterSendTimeoutAndLoggedOnce() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            send_timeout 300ms
            upstream up { url {{up}} }
            route GET /download {
                proxy up; min_rate off
            }
            """, substitutions: ["up": upstream.baseURL])
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        // The client never reads: the answer piles up, the transfer pauses, and only send_timeout can cut.
        try client.limitReceiveBuffer(bytes: 4096)
        try client.send("GET /download?bytes=1000000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        // Probe every 50 ms with an empty line (fanout reads nothing while it answers): once fanout has closed
        // its socket, the probe draws a reset and the next send fails.
        let (closed, elapsedMs) = sendUntilClosed { try client.send("\r\n") }
        #expect(closed, "fanout kept a connection whose client never reads")
        #expect(elapsedMs >= 250 && elapsedMs < 2_500, "cut after \(elapsedMs) ms")
        try Self.expectOneCancelledLine(server, route: "GET /download")
    }

    @Test func aClientThatStopsReadingDoesNotMakeThePartnerTooSlow() throws {
        let upstream = try StreamingUpstream()
        defer { upstream.stop() }
        let server = try Self.server("GET /download", "min_rate 64k/s 1s", upstream: upstream)
        let total = 16 * 1024 * 1024
        let client = try StreamingClient(port: server.port)
        try client.send("GET /download?bytes=\(total) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readHead().status == 200)
        // The transfer pauses while the client reads nothing: 2.5 s, far past the 1 s of grace, do not count.
        usleep(2_500_000)
        var offset = 0
        var intact = true
        do {
            try client.read(total) { bytes in
                intact = intact && StreamingTests.matchesPattern(bytes, at: offset)
                offset += bytes.count
            }
        } catch {
            Issue.record("read stopped at \(offset) of \(total): \(error); access log: \(server.accessLog.all)")
        }
        #expect(offset == total)
        #expect(intact)
    }

    @Test func anUpstreamThatStopsReadingDoesNotMakeTheClientTooSlow() throws {
        let upstream = try StreamingUpstream(gateClosed: true)
        defer { upstream.stop() }
        let server = try Self.server("POST /upload", "max_body 64m; min_rate 64k/s 1s", upstream: upstream)
        let total = 16 * 1024 * 1024
        let client = try StreamingClient(port: server.port)
        try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(total)\r\n\r\n")
        client.startUpload(total: total)
        // fanout stops reading the client while the upstream takes nothing: 2.5 s that are not the client's.
        usleep(2_500_000)
        upstream.openGate()
        #expect(client.waitForUpload(timeoutMs: 30_000) == nil)
        let head = try client.readHead()
        #expect(head.status == 200)
        var body: [UInt8] = []
        try client.read(Int(head.headers["content-length"] ?? "0") ?? 0) { body.append(contentsOf: $0) }
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"bytes":\#(total),"#))
    }
}
