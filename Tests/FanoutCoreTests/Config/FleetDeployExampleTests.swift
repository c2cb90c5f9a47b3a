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

    @Test func theComposeFleetConfigPassesCheck() throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("compose/fleet.conf"), encoding: .utf8)
        let config = try ConfigParser.parse(text, file: "fleet.conf", environment: [:])
        #expect(config.store != nil)
        #expect(config.upstreams.first { $0.name == "quota" }?.ratePerSecond == 200)
        #expect(config.upstreams.first { $0.name == "quota" }?.sharedRate == SharedRate(replicas: 4))
    }
}
