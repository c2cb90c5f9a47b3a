import Foundation
import Testing

@testable import FanoutCore

/// The Kubernetes example's proxy.conf (the ConfigMap in deploy/kubernetes/fanout-sidecar.yaml) must pass
/// `fanout check`, and its probes must point at what the configuration serves.
@Suite struct DeployExampleTests {
    static let manifest = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/kubernetes/fanout-sidecar.yaml")

    /// The block scalar under `proxy.conf: |`, de-indented.
    static func embeddedConfig(_ yaml: String) -> String? {
        var lines: [Substring] = []
        var indent: Int?
        var inside = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if !inside {
                if line.trimmingCharacters(in: .whitespaces) == "proxy.conf: |" { inside = true }
                continue
            }
            let leading = line.prefix { $0 == " " }.count
            if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                if indent == nil { indent = leading }
                if leading < indent! { break }
            }
            lines.append(line.dropFirst(min(leading, indent ?? 0)))
        }
        return inside ? lines.joined(separator: "\n") : nil
    }

    @Test func theConfigMapsProxyConfPassesCheck() throws {
        let yaml = try String(contentsOf: Self.manifest, encoding: .utf8)
        let text = try #require(Self.embeddedConfig(yaml))
        let config = try ConfigParser.parse(text, file: "fanout-sidecar.yaml", environment: ["PARTNER_API_KEY": "k"])
        #expect(config.routes.count == 1)
        #expect(config.upstreams.contains { $0.name == "catalog" })
        // The admin listener comes from FANOUT_ADMIN, as in the image; the probes and the Prometheus annotation
        // use its port.
        #expect(config.adminListen == nil)
        #expect(yaml.contains(#"- { name: FANOUT_ADMIN, value: "*:9901" }"#))
        var served = config
        _ = try #require(try AdminListenOverride.from(environment: ["FANOUT_ADMIN": "*:9901"])).apply(
            to: &served, file: "fanout-sidecar.yaml")
        #expect(served.adminListen == ListenAddress(host: "*", port: 9901))
        #expect(yaml.contains("path: /healthz, port: admin"))
        #expect(yaml.contains("path: /readyz, port: admin"))
        #expect(yaml.contains("containerPort: 9901"))
    }
}
