import FanoutTestSupport
import Foundation
import Testing

/// Issue 12, point 5: libcurl keeps a finished transfer's connection in its pool and stops asking for its
/// events; a partner that closes it while idle must not leave it in CLOSE_WAIT until the worker's next call.
@Suite struct IdlePooledConnectionTests {
    /// The partner's keep-alive timeout.
    static let partnerIdleMs = 200

    @Test(arguments: ["/composite", "/proxy"])
    func anIdleConnectionThePartnerClosesIsClosedPromptly(path: String) throws {
        let stub = try UpstreamStub(routes: ["/json": .json(#"{"a":1}"#)], idleTimeoutMs: Self.partnerIdleMs)
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream stub { url {{stub}}; }
            route GET /composite { call a GET stub /json; }
            route GET /proxy { proxy stub /json; }
            """, substitutions: ["stub": stub.baseURL])
        let fanoutSide = { (state: ProcessSockets.TCPState?) in
            ProcessSockets.connections(toPort: stub.port, inState: state)
        }

        let first = try server.get(path)
        #expect(first.status == 200, "\(first.bodyText)")
        #expect(stub.connectionsAccepted == 1)
        // The partner closes the idle connection after 200 ms (generous: the machine is loaded).
        #expect(waitUntil(timeoutMs: 5_000) { stub.activeConnections == 0 }, "the stub kept its connection")

        // Fanout notices at once, with no request to make it look: within a second nothing of its is left
        // toward the partner, in CLOSE_WAIT or any other state.
        let closed = waitUntil(timeoutMs: 1_000) { fanoutSide(nil) == 0 }
        #expect(closed, "fanout holds \(fanoutSide(nil)) connection(s), \(fanoutSide(.closeWait)) in CLOSE_WAIT")
        #expect(fanoutSide(.closeWait) == 0)

        // The next request still succeeds, on a new connection (libcurl finds the old one dead).
        let next = try server.get(path)
        #expect(next.status == 200, "\(next.bodyText)")
        #expect(stub.connectionsAccepted == 2)
    }

    /// A connection the partner keeps open stays pooled and is reused: watching idle connections drops only
    /// the ones that stir.
    @Test func anIdleConnectionThePartnerKeepsIsReused() throws {
        let stub = try UpstreamStub(routes: ["/json": .json(#"{"a":1}"#)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream stub { url {{stub}}; }
            route GET /composite { call a GET stub /json; }
            """, substitutions: ["stub": stub.baseURL])
        for _ in 0..<3 {
            let answer = try server.get("/composite")
            #expect(answer.status == 200, "\(answer.bodyText)")
            usleep(300_000)
        }
        #expect(stub.connectionsAccepted == 1)
        #expect(ProcessSockets.connections(toPort: stub.port, inState: .established) == 1)
    }
}
