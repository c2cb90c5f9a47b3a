import Testing

@testable import FanoutCore

/// The heads fanout writes and reads around an `Upgrade` tunnel.
@Suite struct TunnelHeadsTests {
    @Test func theRequestHeadTargetsTheUpstreamPathWithItsHostAndTheUpgradeFields() throws {
        let head = try #require(
            TunnelHeads.requestHead(
                method: "GET", url: "https://chat.internal:8443/v1/socket?room=7",
                headerLines: ["Sec-WebSocket-Key: k"],
                upgrade: "websocket"))
        #expect(
            String(decoding: head, as: UTF8.self)
                == "GET /v1/socket?room=7 HTTP/1.1\r\nHost: chat.internal:8443\r\nSec-WebSocket-Key: k\r\n"
                + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let bare = try #require(TunnelHeads.requestHead(method: "GET", url: "http://h", headerLines: [], upgrade: "x"))
        #expect(String(decoding: bare, as: UTF8.self).hasPrefix("GET / HTTP/1.1\r\nHost: h\r\n"))
        #expect(TunnelHeads.requestHead(method: "GET", url: "nourl", headerLines: [], upgrade: "x") == nil)
    }

    @Test func a101HeadIsParsedAndWhatFollowsItIsLeftForTheTunnel() throws {
        let bytes = Array(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\nabc"
                .utf8)
        guard case .complete(let head) = TunnelHeads.parseAnswer(bytes) else {
            Issue.record("not parsed")
            return
        }
        #expect(head.status == 101)
        #expect(bytes.count - head.length == 3)
        let forClient = String(decoding: head.switchingProtocolsHead(), as: UTF8.self)
        #expect(
            forClient
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n"
                + "Connection: Upgrade\r\n\r\n")
    }

    @Test func aRefusalKeepsItsLengthAndLosesItsHopByHopFields() throws {
        let bytes = Array(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\nUpgrade: websocket\r\nX-A: 1\r\n\r\n"
                .utf8)
        guard case .complete(let head) = TunnelHeads.parseAnswer(bytes) else {
            Issue.record("not parsed")
            return
        }
        #expect(head.status == 403)
        #expect(head.contentLength == 9)
        #expect(head.fieldsForClient().map(\.name) == ["X-A"])
    }

    @Test func incompleteMalformedAndOversizedHeads() {
        #expect(TunnelHeads.parseAnswer(Array("HTTP/1.1 101 Switching".utf8)) == .needMoreData)
        #expect(TunnelHeads.parseAnswer(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) != .needMoreData)
        if case .malformed = TunnelHeads.parseAnswer(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) {
        } else {
            Issue.record("an interim 100 was accepted")
        }
        let huge = Array("HTTP/1.1 101 OK\r\nX: ".utf8) + [UInt8](repeating: 97, count: TunnelHeads.maxAnswerHeadBytes)
        if case .malformed = TunnelHeads.parseAnswer(huge) {
        } else {
            Issue.record("an oversized head was accepted")
        }
    }
}
