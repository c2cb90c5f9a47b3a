import Testing

@testable import FanoutRuntime

/// `ProxyExchange.isDroppedResponseHeader`: the hop-by-hop and framing fields a plain proxy route never passes
/// back, in any ASCII case, and nothing else.
@Suite struct ProxyDroppedHeadersTests {
    @Test func everyListedNameIsDroppedInAnyCase() {
        for name in ProxyExchange.droppedResponseHeaders {
            #expect(ProxyExchange.isDroppedResponseHeader(name), "\(name)")
            #expect(ProxyExchange.isDroppedResponseHeader(name.uppercased()), "\(name.uppercased())")
            let titled = name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }
                .joined(separator: "-")
            #expect(ProxyExchange.isDroppedResponseHeader(titled), "\(titled)")
        }
    }

    @Test func contentFieldsAndNearMissesPass() {
        let passed = [
            "Content-Type", "Cache-Control", "ETag", "Server", "Set-Cookie", "Vary", "Dates", "dat", "Connections",
            "Keep_Alive", "X-Request-Ids", "Content-Lengt", "Transfer-Encodinh", "Proxy-Connectio", "Upgrades",
            "trailor", "T", "", "X-Request-Id2", "Content-Encoding", "é-request-id",
        ]
        for name in passed {
            #expect(!ProxyExchange.isDroppedResponseHeader(name), "\(name)")
        }
    }
}
