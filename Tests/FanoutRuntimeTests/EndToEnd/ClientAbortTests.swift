import FanoutCore
import FanoutTestSupport
import Foundation
import Testing

/// A client that goes away while its answer is pending: its partner calls are cancelled (at once with
/// `abort_grace off`; a composite call already sent runs on for up to its upstream's `abort_grace` first, so
/// that a quick answer keeps its connection), the access log says 499 and how the client left, and
/// `fanout_client_aborts_total` counts it. A FIN counts as leaving (`abort_on_close on`, the default), an RST
/// always does.
@Suite struct ClientAbortTests {
    static let config = """
        admin_listen 127.0.0.1:0
        upstream partner {
            url {{stub}}
            abort_grace off
        }
        route GET /composite {
            deadline 30s
            call never GET partner /never timeout=30s
        }
        route GET /stream {
            proxy partner /drip
            timeout 30s
        }
        route POST /upload {
            proxy partner /upload
            timeout 30s
        }
        """

    static func partner() throws -> UpstreamStub {
        try UpstreamStub(routes: [
            "/never": .neverRespond,
            // A 200 head, then a body byte every 100 ms for 20 s.
            "/drip": .drip(body: Array(repeating: 0x20, count: 200), everyMs: 100),
            "/upload": .json(#"{"stored":true}"#),
        ])
    }

    /// The partner, fanout in front of it (`abort_on_close off` unless `abortOnClose`), and a client that sent
    /// `request`, once the partner has the connection for it.
    static func start(_ request: String, abortOnClose: Bool = true) throws -> (UpstreamStub, TestServer, RawHTTPClient)
    {
        let stub = try partner()
        let config = (abortOnClose ? "" : "abort_on_close off\n") + Self.config
        let server = try TestServer(config, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        try client.send(request)
        #expect(waitUntil(timeoutMs: 3_000) { stub.activeConnections == 1 })
        return (stub, server, client)
    }

    /// How the test client leaves: an RST (`SO_LINGER` 0), or a FIN from a full close after which it never reads.
    static func leave(_ client: RawHTTPClient, _ departure: ClientDeparture) {
        switch departure {
        case .reset: client.reset()
        case .closed: client.close()
        }
    }

    /// The single access-log line, once written.
    static func onlyLogLine(_ server: TestServer) throws -> [String: Any] {
        #expect(waitUntil(timeoutMs: 10_000) { server.accessLog.all.count == 1 }, "\(server.accessLog.all)")
        let line = try #require(server.accessLog.all.first)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// The access log and the metrics agree that the request on `route` was abandoned by `departure`.
    static func expectAbortRecorded(_ server: TestServer, route: String, _ departure: ClientDeparture) throws
        -> [[String: Any]]
    {
        let line = try onlyLogLine(server)
        #expect(line["status"] as? Int == 499)
        #expect(line["client_abort"] as? String == departure.rawValue)
        #expect(line["route"] as? String == route)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_client_aborts_total{route="\#(route)",reason="\#(departure.rawValue)"}"#] == 1)
        #expect(samples[#"fanout_requests_total{route="\#(route)",status="499"}"#] == 1)
        #expect(samples["fanout_requests_in_flight"] == 0)
        return line["calls"] as? [[String: Any]] ?? []
    }

    @Test(arguments: ClientDeparture.allCases)
    func aCompositeClientThatLeavesCancelsItsPartnerCall(departure: ClientDeparture) throws {
        let (stub, server, client) = try Self.start("GET /composite HTTP/1.1\r\nHost: x\r\n\r\n")
        defer { stub.stop() }
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })

        let (_, elapsed) = measureMs {
            Self.leave(client, departure)
            return waitUntil(timeoutMs: 5_000) { stub.activeConnections == 0 }
        }
        // The call would have run for 30 s: the partner's connection closed right after the client left.
        print("client abort (\(departure)): the partner's connection closed \(elapsed) ms after the client left")
        #expect(elapsed < 2_000, "the partner's connection closed \(elapsed) ms after the client left")
        let calls = try Self.expectAbortRecorded(server, route: "GET /composite", departure)
        #expect(calls.count == 1)
        #expect(calls.first?["name"] as? String == "never")
        #expect(calls.first?["cancelled"] as? Bool == true)
        #expect(calls.first?["failure"] == nil)
        // A cancelled call is no failure of the partner.
        let samples = try MetricsTests.scrape(server)
        #expect(!samples.keys.contains { $0.hasPrefix("fanout_upstream_failures_total") })
    }

    /// `abort_grace`: the call already sent runs on, unseen; an answer within the grace (5 s here, room for a
    /// slow run under AddressSanitizer) keeps the partner's connection for the next request, and a partner still
    /// silent at the end of the default 1 s has it closed.
    @Test(arguments: ClientDeparture.allCases)
    func aCompositeCallAlreadySentRunsOnForTheGraceAndKeepsItsConnection(departure: ClientDeparture) throws {
        let stub = try UpstreamStub(routes: [
            "/quick": .json(#"{"n":1}"#, delayMs: 300), "/never": .neverRespond,
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                abort_grace 5s
            }
            upstream silent { url {{stub}} }
            route GET /quick { call q GET partner /quick }
            route GET /never {
                deadline 30s
                call never GET silent /never timeout=30s
            }
            """, substitutions: ["stub": stub.baseURL])
        let leaving = try RawHTTPClient(port: server.port)
        try leaving.send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 10_000) { stub.requestCount == 1 })
        Self.leave(leaving, departure)
        // The answer comes 300 ms later, within the grace: read, dropped, and the connection kept.
        #expect(waitUntil(timeoutMs: 10_000) { server.accessLog.all.count == 1 })
        usleep(600_000)
        #expect(stub.activeConnections == 1, "the partner's connection was closed")
        let answer = try server.get("/quick")
        #expect(answer.status == 200)
        #expect(stub.requestCount == 2)
        #expect(stub.connectionsAccepted == 1, "the next request needed a new connection")

        // A partner that stays silent has its connection closed at the grace's end, not at the call's 30 s.
        let waiting = try RawHTTPClient(port: server.port)
        try waiting.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 10_000) { stub.requestCount == 3 })
        let (closed, elapsed) = measureMs {
            Self.leave(waiting, departure)
            return waitUntil(timeoutMs: 15_000) { stub.activeConnections == 0 }
        }
        #expect(closed, "the silent partner's connection stayed open")
        print(
            "abort_grace 1s (\(departure)): the silent partner's connection closed \(elapsed) ms after the client left")
        #expect(elapsed >= 800, "closed \(elapsed) ms after the client left: before the grace ended")
    }

    @Test(arguments: ClientDeparture.allCases)
    func aProxyClientThatLeavesWhileTheAnswerStreamsCancelsTheTransfer(departure: ClientDeparture) throws {
        let (stub, server, client) = try Self.start("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        defer { stub.stop() }
        // The partner's head and its first body bytes go out; the body takes 20 s (the call's status 200 in the
        // log shows fanout had the head).
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        // Leave only once the head has reached the client: waiting a fixed time was not enough under
        // AddressSanitizer with the whole suite running beside it.
        let headArrived = waitUntil(timeoutMs: 10_000) {
            _ = client.isClosedByPeer(waitMs: 50)
            return client.unreadBytes.starts(with: Array("HTTP/1.1 200".utf8))
        }
        #expect(headArrived, "the partner's head never reached the client: \(client.unreadBytes.count) bytes")

        Self.leave(client, departure)
        // Without the cancel the partner would hold its connection for 20 s.
        #expect(waitUntil(timeoutMs: 10_000) { stub.activeConnections == 0 }, "the partner's connection stayed open")
        let calls = try Self.expectAbortRecorded(server, route: "GET /stream", departure)
        #expect(calls.first?["name"] as? String == "proxy")
        #expect(calls.first?["status"] as? Int == 200)
        #expect(calls.first?["cancelled"] as? Bool == true)
    }

    @Test(arguments: ClientDeparture.allCases)
    func aProxyClientThatLeavesDuringItsUploadCancelsTheUpload(departure: ClientDeparture) throws {
        // The upload is under way: the partner has the connection, not yet the whole request.
        let (stub, server, client) = try Self.start(
            "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                + String(repeating: "a", count: 10_000))
        defer { stub.stop() }
        usleep(100_000)

        Self.leave(client, departure)
        #expect(waitUntil(timeoutMs: 10_000) { stub.activeConnections == 0 }, "the partner's connection stayed open")
        #expect(stub.requestCount == 0)
        let calls = try Self.expectAbortRecorded(server, route: "POST /upload", departure)
        #expect(calls.first?["cancelled"] as? Bool == true)
    }

    @Test func aClientThatSendsItsRequestAndFINAtOnceIsAbortedToo() throws {
        let stub = try Self.partner()
        defer { stub.stop() }
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        // As `nc -q0` does: the FIN may arrive with the request, before it is dispatched.
        try client.send("GET /composite HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        #expect(client.isClosedByPeer(waitMs: 3_000))
        #expect(try client.readUntilClose().isEmpty, "an aborted request gets no answer")
        #expect(waitUntil(timeoutMs: 2_000) { stub.activeConnections == 0 })
        _ = try Self.expectAbortRecorded(server, route: "GET /composite", .closed)
    }

    @Test func withAbortOnCloseOffAHalfClosedClientIsStillAnswered() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"n":1}"#, delayMs: 300)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            abort_on_close off
            route GET /slow { call slow GET {{stub}}/slow }
            """, substitutions: ["stub": stub.baseURL])
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        client.shutdownWrite()
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"slow":{"n":1}}"#)
        #expect(client.isClosedByPeer())
        let line = try Self.onlyLogLine(server)
        #expect(line["status"] as? Int == 200)
        #expect(line["client_abort"] == nil)
    }

    @Test func withAbortOnCloseOffAResetStillCancels() throws {
        let (stub, server, client) = try Self.start(
            "GET /composite HTTP/1.1\r\nHost: x\r\n\r\n", abortOnClose: false)
        defer { stub.stop() }
        client.shutdownWrite()
        usleep(200_000)
        // A FIN alone was a half-close: the call goes on.
        #expect(stub.activeConnections == 1)
        client.reset()
        #expect(waitUntil(timeoutMs: 2_000) { stub.activeConnections == 0 })
        _ = try Self.expectAbortRecorded(server, route: "GET /composite", .reset)
    }
}
