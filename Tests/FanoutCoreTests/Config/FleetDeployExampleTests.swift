import Foundation
import Testing

@testable import FanoutCore

/// The fleet examples (deploy/kubernetes/fanout-fleet.yaml's ConfigMap, deploy/compose/fleet.conf) must pass
/// `fanout check`, with a store and a shared rate.
@Suite struct FleetDeployExampleTests {
    static let deploy = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    @Test func theKubernetesFleetConfigMapPassesCheck() throws {
        let yaml = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/fanout-fleet.yaml"), encoding: .utf8)
        let text = try #require(DeployExampleTests.embeddedConfig(yaml))
        let config = try ConfigParser.parse(
            text, file: "fanout-fleet.yaml",
            environment: ["FANOUT_STORE_SERVICE_HOST": "10.96.0.12", "STORE_PASSWORD": "secret"])
        #expect(config.store?.address.host == "10.96.0.12")
        #expect(config.upstreams.first { $0.name == "catalog" }?.sharedRate == SharedRate(replicas: 4))
    }

    /// deploy/compose/fleet.yaml builds every image from files of the repository on a Debian base (no image
    /// pulled from another registry), and the store keeps its address and MAC across restarts.
    @Test func theComposeFleetBuildsEveryImageFromTheRepository() throws {
        let compose = Self.deploy.appendingPathComponent("compose")
        let yaml = try String(contentsOf: compose.appendingPathComponent("fleet.yaml"), encoding: .utf8)
        let lines = yaml.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.filter { $0.hasPrefix("image:") }.allSatisfy { $0.hasPrefix("image: localhost/") })
        #expect(lines.contains { $0.hasPrefix("mac_address:") })
        let repository = Self.deploy.deletingLastPathComponent()
        for name in ["store.Containerfile", "partner.Containerfile"] {
            #expect(yaml.contains(name))
            let text = try String(contentsOf: compose.appendingPathComponent(name), encoding: .utf8)
            #expect(text.contains("FROM docker.io/library/debian:bookworm-slim"))
            for line in text.split(separator: "\n") where line.hasPrefix("COPY ") {
                let source = String(line.split(separator: " ")[1])
                #expect(FileManager.default.fileExists(atPath: repository.appendingPathComponent(source).path))
            }
        }
    }

    @Test func theComposeFleetConfigPassesCheck() throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("compose/fleet.conf"), encoding: .utf8)
        let config = try ConfigParser.parse(text, file: "fleet.conf", environment: [:])
        #expect(config.store != nil)
        #expect(config.upstreams.first { $0.name == "quota" }?.ratePerSecond == 200)
        #expect(config.upstreams.first { $0.name == "quota" }?.sharedRate == SharedRate(replicas: 4))
    }
}
