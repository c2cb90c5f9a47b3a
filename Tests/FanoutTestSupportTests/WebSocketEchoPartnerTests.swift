import FanoutTestSupport
import Testing

/// The WebSocket partner's handshake value and frames, on their own.
@Suite struct WebSocketEchoPartnerTests {
    @Test func acceptValueIsRFC6455sExample() {
        // RFC 6455 §1.3.
        #expect(WebSocketEchoPartner.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func aDirectClientIsEchoed() throws {
        let partner = try WebSocketEchoPartner()
        defer { partner.stop() }
        let client = try WebSocketClient(port: partner.port, path: "/echo")
        #expect(client.status == 101)
        try client.send(.text("hello"))
        #expect(try client.receive() == .text("hello"))
        client.halfClose()
        #expect(try client.receive() == nil)
    }
}
