import FanoutTestSupport
import Foundation
import Testing

/// Draining ends with the last answer: a connection whose answer was framed for keep-alive before the drain
/// began (a streamed head, a whole answer still being written to a slow reader) closes once that answer is
/// written, and the server stops then, long before `shutdown_timeout`.
@Suite struct DrainTests {
    /// `server.shutdown(graceMs: 10_000)` running on its own thread.
    final class Shutdown: @unchecked Sendable {
        // @unchecked: `elapsedMs` is written by the shutdown thread before `done` is signalled, read after.
        private let done = DispatchSemaphore(value: 0)
        private var elapsedMs: Double?
        private var finished = false

        init(_ server: TestServer) {
            Thread { [self] in
                let (_, elapsed) = measureMs { server.server.shutdown(graceMs: 10_000) }
                elapsedMs = elapsed
                done.signal()
            }.start()
        }

        /// The milliseconds the shutdown took, or nil when it has not returned within `timeoutMs`.
        func wait(timeoutMs: Int) -> Double? {
            if !finished { finished = done.wait(timeout: .now() + .milliseconds(timeoutMs)) == .success }
            return finished ? elapsedMs : nil
        }
    }

    @Test func aStreamedAnswerWhoseHeadWentOutBeforeTheDrainEndsTheConnectionAndTheDrain() throws {
        // 20 body bytes, one every 50 ms: the body takes about a second.
        let body = Array(#"{"n":"0123456789ab"}"#.utf8)
        let stub = try UpstreamStub(routes: ["/drip": .drip(body: body, everyMs: 50)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /drip { proxy partner }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /drip HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        usleep(200_000)  // the head (keep-alive, Content-Length) is out, the body is dripping

        let shutdown = Shutdown(server)
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == body)
        #expect(client.isClosedByPeer(waitMs: 2_000), "the connection stayed open after its answer")
        client.close()
        let elapsed = shutdown.wait(timeoutMs: 5_000)
        print("drain, \(#function): stopped \(elapsed.map { "\($0) ms" } ?? "more than 5 s") after it began")
        #expect(elapsed != nil && elapsed! < 3_000, "stopped after \(elapsed.map { "\($0) ms" } ?? "more than 5 s")")
        _ = shutdown.wait(timeoutMs: 10_000)  // the server must not go away under a running shutdown
    }

    @Test func aCompositeAnswerToASlowReaderEndsTheConnectionAndTheDrain() throws {
        // 6 MB: more than the kernel buffers hold between fanout and a client that reads nothing (fanout's send
        // buffer grows to 4 MiB at most, tcp_wmem; an unread receive buffer stays near its initial 128 KiB).
        let big = #"{"data":""# + String(repeating: "x", count: 6_000_000) + #""}"#
        let stub = try UpstreamStub(routes: ["/big": .json(big)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            route GET /big { call big GET {{stub}}/big }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port, timeoutMs: 10_000)
        defer { client.close() }
        try client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        // The answer (keep-alive) is queued before the drain begins; the client has not read it yet.
        #expect(waitUntil(timeoutMs: 5_000) { server.accessLog.all.count == 1 })

        let shutdown = Shutdown(server)
        usleep(200_000)
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body.count == big.utf8.count + #"{"big":}"#.utf8.count)
        #expect(response.header("Connection") == nil, "the answer was framed for keep-alive before the drain")
        #expect(client.isClosedByPeer(waitMs: 2_000), "the connection stayed open after its answer")
        client.close()
        let elapsed = shutdown.wait(timeoutMs: 5_000)
        print("drain, \(#function): stopped \(elapsed.map { "\($0) ms" } ?? "more than 5 s") after it began")
        #expect(elapsed != nil && elapsed! < 3_000, "stopped after \(elapsed.map { "\($0) ms" } ?? "more than 5 s")")
        _ = shutdown.wait(timeoutMs: 10_000)
    }
}
