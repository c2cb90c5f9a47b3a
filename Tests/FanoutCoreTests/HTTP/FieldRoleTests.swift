import FanoutCore
import Testing

/// `FieldRole`: the one list of the fields fanout does not pass from hop to hop, on a name's bytes (as libcurl's
/// header callback hands them over) and on a String (the serializer, the configuration's checks), in any case.
@Suite struct FieldRoleTests {
    private static func role(ofBytes name: String) -> FieldRole {
        Array(name.utf8).withUnsafeBytes { FieldRole.of($0) }
    }

    /// `name` as written, in capitals and title case.
    private static func spellings(_ name: String) -> [String] {
        let titled = name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }
            .joined(separator: "-")
        return [name, name.uppercased(), titled]
    }

    @Test func everyListedNameHasItsRoleInAnyCase() {
        for (names, role) in [(FieldRole.hopNames, FieldRole.hop), (FieldRole.setByFanoutNames, .setByFanout)] {
            for name in names {
                for spelling in Self.spellings(name) {
                    #expect(FieldRole.of(spelling) == role, "\(spelling)")
                    #expect(Self.role(ofBytes: spelling) == role, "\(spelling)")
                }
            }
        }
        #expect(Set(FieldRole.hopNames).isDisjoint(with: FieldRole.setByFanoutNames))
    }

    @Test func contentFieldsAndNearMissesAreEndToEnd() {
        let passed = [
            "Content-Type", "Cache-Control", "ETag", "Server", "Set-Cookie", "Vary", "Dates", "dat", "Connections",
            "Keep_Alive", "X-Request-Ids", "Content-Lengt", "Transfer-Encodinh", "Proxy-Connection2",
            "Proxy-Connectio", "Upgrades", "trailor", "T", "TF", "", "X-Request-Id2", "Content-Encoding",
            "é-request-id", "Trailers", "X-Connection",
        ]
        for name in passed {
            #expect(FieldRole.of(name) == .endToEnd, "\(name)")
            #expect(Self.role(ofBytes: name) == .endToEnd, "\(name)")
        }
    }

    @Test func theSerializerLeavesOutHopFieldsOnly() {
        for name in FieldRole.hopNames { #expect(HTTPResponse.isFramingField(name.uppercased()), "\(name)") }
        for name in FieldRole.setByFanoutNames + ["Content-Type"] {
            #expect(!HTTPResponse.isFramingField(name), "\(name)")
        }
    }
}
