import Testing

@testable import FanoutCore

/// `tunnel_idle_timeout` on proxy routes.
@Suite struct TunnelConfigTests {
    private func parse(_ text: String) throws -> FanoutConfig {
        try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
    }

    @Test func proxyRoutesTakeATunnelIdleTimeoutDefaulting60Seconds() throws {
        let config = try parse(
            """
            listen 127.0.0.1:8080
            upstream chat { url http://127.0.0.1:9000 }
            route GET /ws { proxy chat; tunnel_idle_timeout 5m }
            route GET /other { proxy chat }
            """)
        guard case .proxy(let ws) = config.routes[0].action, case .proxy(let other) = config.routes[1].action else {
            Issue.record("expected proxy routes")
            return
        }
        #expect(ws.tunnelIdleTimeoutMs == 300_000)
        #expect(other.tunnelIdleTimeoutMs == 60_000)
    }

    @Test func otherRoutesRefuseIt() {
        #expect(throws: ConfigError.self) {
            try parse(
                """
                listen 127.0.0.1:8080
                route GET /x { respond 200 "{}"; tunnel_idle_timeout 5s }
                """)
        }
    }
}
