import FanoutTestSupport
import Foundation
import Testing

/// `Upgrade` tunnels on proxy routes, end to end with a real WebSocket partner (RFC 6455 handshake, echoed
/// frames): the 101 and the bytes pass through fanout, a FIN passes both ways, a refusal reaches the client as a
/// plain answer, a silent tunnel is cut by `tunnel_idle_timeout`, a composite route refuses the upgrade, and a
/// drain closes open tunnels.
@Suite struct TunnelTests {
    static let config = """
        admin_listen 127.0.0.1:0
        upstream chat { url {{partner}} }
        route GET /ws/{rest...} { proxy chat /{rest...}; tunnel_idle_timeout 300ms }
        route GET /overview { call a GET chat /a }
        route GET /static { respond 200 "{}" }
        """

    /// The same with an idle limit no loaded test machine reaches between two steps of a test.
    static let relaxedConfig = config.replacingOccurrences(of: "300ms", with: "1m")

    @Test func aWebSocketIsTunnelledFramesEchoAndAHalfCloseEndsItCleanly() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(Self.relaxedConfig, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(port: server.port, path: "/ws/echo", extraHeaders: ["X-Trace-Me: 1"])
        #expect(client.status == 101, "answer: \(client.answerHead)")
        let small = WebSocketFrame.text("hello through fanout")
        let large = WebSocketFrame(opcode: 0x2, payload: (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        try client.send(small)
        #expect(try client.receive() == small)
        try client.send(large)
        #expect(try client.receive() == large)
        // The partner saw the upgrade request with the client's WebSocket fields and the usual forwarded ones.
        let head = try #require(partner.receivedHeads.first)
        #expect(head.hasPrefix("GET /echo HTTP/1.1"))
        for field in ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "X-Trace-Me: 1"] {
            #expect(head.contains(field), "missing \(field) in \(head)")
        }
        #expect(head.contains("Sec-WebSocket-Key: ") && head.contains("X-Forwarded-For: 127.0.0.1"))
        #expect(head.contains("Host: 127.0.0.1:\(partner.port)") && head.contains("traceparent: "))
        // Half-close: the client's FIN reaches the partner, which answers with its own.
        client.halfClose()
        #expect(try client.receive() == nil)
        #expect(partner.waitForClosedConnections(1))
        #expect(waitUntil(timeoutMs: 3_000) { server.accessLog.all.count == 1 })
        let line = try #require(server.accessLog.all.first)
        #expect(line.contains(#""status":101"#) && line.contains(#""end":"finished""#), "\(line)")
        #expect(line.contains(#""bytes_up":"#) && line.contains(#""bytes_down":"#))
        let metrics = try MetricsTests.scrape(server)
        #expect(metrics["fanout_tunnels_total"] == 1)
        #expect(metrics["fanout_tunnels_open"] == 0)
        #expect((metrics[#"fanout_tunnel_bytes_total{direction="up"}"#] ?? 0) > 200_000)
        #expect((metrics[#"fanout_tunnel_bytes_total{direction="down"}"#] ?? 0) > 200_000)
    }

    @Test func aPartnerRefusingTheUpgradeIsAnsweredAsAPlainResponse() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(Self.relaxedConfig, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(port: server.port, path: "/ws/refuse")
        #expect(client.status == 403, "answer: \(client.answerHead)")
        #expect(client.answerHead.contains("X-Partner: ws"))
        #expect(!client.answerHead.lowercased().contains("upgrade:"))
        // The connection is not reused for HTTP: the body, then the close.
        #expect(String(decoding: try client.readToEnd(), as: UTF8.self) == "forbidden")
        #expect(waitUntil(timeoutMs: 3_000) { server.accessLog.all.count == 1 })
        #expect(server.accessLog.all.first?.contains(#""status":403"#) == true)
    }

    @Test func aSilentTunnelIsCutByTheIdleTimeout() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(Self.config, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(port: server.port, path: "/ws/silent")
        #expect(client.status == 101)
        let (end, elapsed) = measureMs { try? client.receive() }
        #expect(end == .some(nil), "the tunnel was not closed")
        #expect(elapsed > 200 && elapsed < 2_000, "closed after \(elapsed) ms")
        #expect(partner.waitForClosedConnections(1))
        #expect(waitUntil(timeoutMs: 3_000) { server.accessLog.all.count == 1 })
        #expect(server.accessLog.all.first?.contains(#""end":"idle_timeout""#) == true)
    }

    @Test func compositeAndRespondRoutesRefuseTheUpgradeAndNeverForwardIt() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(Self.config, substitutions: ["partner": partner.baseURL])
        for path in ["/overview", "/static"] {
            let client = try WebSocketClient(port: server.port, path: path)
            #expect(client.status == 403, "\(path): \(client.answerHead)")
            #expect(String(decoding: try client.readToEnd(), as: UTF8.self).contains("only proxy routes do"))
        }
        #expect(partner.receivedHeads.isEmpty)
    }

    @Test func aDrainClosesOpenTunnels() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(Self.relaxedConfig, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(port: server.port, path: "/ws/echo")
        #expect(client.status == 101)
        try client.send(.text("before"))
        #expect(try client.receive() == .text("before"))
        let (_, elapsed) = measureMs { server.server.shutdown(graceMs: 10_000) }
        #expect(elapsed < 3_000, "the drain waited \(elapsed) ms for the tunnel")
        #expect(try client.receive() == nil)
        #expect(partner.waitForClosedConnections(1))
        #expect(server.accessLog.all.first?.contains(#""end":"draining""#) == true)
    }
}

/// A tunnel to an `https` partner: libcurl does the TLS handshake with the upstream's settings, fanout moves
/// the bytes with `curl_easy_send`/`curl_easy_recv`.
@Suite struct TLSTunnelTests {
    @Test func aWebSocketToAnHTTPSPartnerIsTunnelledThroughLibcurlsTLS() throws {
        let pki = try TestCertificates()
        let partner = try TLSWebSocketPartner(certificates: pki)
        let server = try TestServer(
            """
            upstream chat { url https://127.0.0.1:\(partner.port); tls_ca \(pki.caCertificate) }
            route GET /ws { proxy chat }
            """)
        let client = try WebSocketClient(port: server.port, path: "/ws")
        #expect(client.status == 101, "answer: \(client.answerHead)")
        let large = WebSocketFrame(opcode: 0x2, payload: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 253) })
        for frame in [WebSocketFrame.text("over tls"), large, .text("again")] {
            try client.send(frame)
            #expect(try client.receive() == frame)
        }
        client.halfClose()
        #expect(try client.receive() == nil)
        #expect(waitUntil(timeoutMs: 3_000) { server.accessLog.all.count == 1 })
        // The end is `partner_error` here: Python's ssl answers the TCP half-close with a TLS alert.
        let line = server.accessLog.all.first ?? ""
        #expect(line.contains(#""status":101"#) && line.contains(#""bytes_up":300"#), "\(line)")
    }

    @Test func aPartnerThatCannotBeReachedIsAnswered502() throws {
        let refused = try RefusedPort()
        defer { refused.close() }
        let port = refused.port
        let server = try TestServer(
            """
            upstream chat { url http://127.0.0.1:\(port) }
            route GET /ws { proxy chat }
            """)
        let client = try WebSocketClient(port: server.port, path: "/ws")
        #expect(client.status == 502, "answer: \(client.answerHead)")
        #expect(waitUntil(timeoutMs: 3_000) { server.accessLog.all.count == 1 })
        #expect(server.accessLog.all.first?.contains(#""status":502"#) == true)
    }
}

/// Back-pressure: a partner that reads nothing stops the client's sending; fanout holds one bounded window.
@Suite struct TunnelBackPressureTests {
    @Test func aPartnerThatReadsNothingStopsTheClientAfterBoundedBytes() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream chat { url {{partner}} }
            route GET /ws/{rest...} { proxy chat /{rest...} }
            """, substitutions: ["partner": partner.baseURL])
        let client = try WebSocketClient(port: server.port, path: "/ws/stall", timeoutMs: 1_000)
        #expect(client.status == 101)
        let chunk = WebSocketFrame(opcode: 0x2, payload: [UInt8](repeating: 7, count: 1 << 20)).encoded(
            mask: [1, 2, 3, 4])
        let limit = 256 << 20
        let (sent, blocked) = client.sendUntilBlocked(chunk, limit: limit)
        let metrics = try MetricsTests.scrape(server)
        let passedUp = Int(metrics[#"fanout_tunnel_bytes_total{direction="up"}"#] ?? -1)
        print("back-pressure: client blocked after \(sent) bytes; fanout read \(passedUp) of them")
        #expect(blocked, "the client sent \(sent) bytes without being stopped")
        #expect(sent < limit)
        #expect(passedUp <= sent && passedUp > 0)
        #expect(metrics["fanout_tunnels_open"] == 1)
    }
}

/// A tunnel's connection is its own: other transfers of the worker opening connections never close it. (Written
/// against libcurl's dead-connection sweep of a shared multi handle, which does not skip connect-only
/// connections; with 7.88.1 this test also passed when tunnels shared the worker's multi handle, so it guards
/// the behaviour rather than reproducing that sweep.)
@Suite struct TunnelIsolationTests {
    @Test func aTunnelHoldingUnreadBytesSurvivesOtherCallsOpeningConnections() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let stub = try UpstreamStub(routes: ["/x": .json(#"{"a":1}"#)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream chat { url {{partner}} }
            upstream other { url {{stub}} }
            route GET /ws/{rest...} { proxy chat /{rest...} }
            route GET /x { proxy other }
            """, substitutions: ["partner": partner.baseURL, "stub": stub.baseURL])
        // 60 s per receive: the echo partner unmasks the whole 4 MiB frame before it echoes a byte, which took
        // more than 10 s in a debug build under AddressSanitizer with the whole suite running beside it.
        let client = try WebSocketClient(port: server.port, path: "/ws/echo", timeoutMs: 60_000)
        #expect(client.status == 101)
        // 4 MiB echoed to a client that reads nothing yet: the echo backs up into fanout's partner socket.
        let big = WebSocketFrame(opcode: 0x2, payload: (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 % 241) })
        let sent = DispatchSemaphore(value: 0)
        let sender = SendBox(client: client, frame: big)
        Thread {
            sender.send()
            sent.signal()
        }.start()
        usleep(1_500_000)  // libcurl sweeps its cache at most once a second, when a transfer opens a connection
        for _ in 0..<3 { #expect(try server.get("/x").status == 200) }
        #expect(try client.receive() == big)
        #expect(sent.wait(timeout: .now() + 60) == .success)
        #expect(sender.failed == false)
    }

    final class SendBox: @unchecked Sendable {
        // @unchecked: `failed` is written by the sending thread before the semaphore is signalled.
        let client: WebSocketClient
        let frame: WebSocketFrame
        var failed = false
        init(client: WebSocketClient, frame: WebSocketFrame) {
            self.client = client
            self.frame = frame
        }
        func send() {
            do { try client.send(frame) } catch { failed = true }
        }
    }
}
