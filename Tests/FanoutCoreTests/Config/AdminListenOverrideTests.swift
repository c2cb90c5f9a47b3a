import Testing

@testable import FanoutCore

@Suite struct AdminListenOverrideTests {
    @Test(
        arguments: [
            ("off", nil),
            ("9901", ListenAddress(host: "127.0.0.1", port: 9901)),
            ("*:9901", ListenAddress(host: "*", port: 9901)),
            ("0.0.0.0:9901", ListenAddress(host: "0.0.0.0", port: 9901)),
            ("[::1]:9901", ListenAddress(host: "::1", port: 9901)),
        ] as [(String, ListenAddress?)])
    func readsTheValuesAdminListenTakes(_ value: String, _ address: ListenAddress?) throws {
        #expect(
            try AdminListenOverride.from(environment: ["FANOUT_ADMIN": value]) == AdminListenOverride(address: address))
    }

    @Test func unsetOrEmptyLeavesTheFileInCharge() throws {
        #expect(try AdminListenOverride.from(environment: [:]) == nil)
        #expect(try AdminListenOverride.from(environment: ["FANOUT_ADMIN": ""]) == nil)
    }

    @Test(arguments: ["localhost:9901", "99999", "*:", "on"])
    func refusesWhatAdminListenRefuses(_ value: String) {
        #expect {
            try AdminListenOverride.from(environment: ["FANOUT_ADMIN": value])
        } throws: { error in
            "\(error)".hasPrefix("FANOUT_ADMIN='\(value)': ") && "\(error)".hasSuffix("an address like *:9901")
        }
    }

    @Test func suppliesAMissingAdminListenSilently() {
        var config = FanoutConfig()
        let note = AdminListenOverride(address: ListenAddress(host: "*", port: 9901)).apply(to: &config, file: "p.conf")
        #expect(config.adminListen == ListenAddress(host: "*", port: 9901))
        #expect(note == nil)
    }

    @Test func replacesADifferentAdminListenAndSaysSo() {
        var config = FanoutConfig(adminListen: ListenAddress(host: "127.0.0.1", port: 9000))
        let note = AdminListenOverride(address: ListenAddress(host: "::", port: 9901)).apply(
            to: &config, file: "p.conf")
        #expect(config.adminListen == ListenAddress(host: "::", port: 9901))
        #expect(note == "FANOUT_ADMIN overrides p.conf: admin_listen [::]:9901, not 127.0.0.1:9000")

        let off = AdminListenOverride(address: nil).apply(to: &config, file: "p.conf")
        #expect(config.adminListen == nil)
        #expect(off == "FANOUT_ADMIN overrides p.conf: no admin listener, not [::]:9901")
    }

    @Test func agreeingWithTheFileIsSilent() {
        var config = FanoutConfig(adminListen: ListenAddress(host: "*", port: 9901))
        #expect(AdminListenOverride(address: ListenAddress(host: "*", port: 9901)).apply(to: &config, file: "p") == nil)
    }
}
