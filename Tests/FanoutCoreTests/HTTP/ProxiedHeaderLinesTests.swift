import FanoutCore
import Testing

/// `ProxiedHeaderLines`: the partner's fields a plain proxy route passes back, as line bytes. The hop-by-hop and
/// framing fields are left out in any ASCII case, and nothing else is.
@Suite struct ProxiedHeaderLinesTests {
    /// `ProxiedHeaderLines.isDropped` on a name's bytes, as libcurl's header callback hands them over.
    private static func isDropped(_ name: String) -> Bool {
        Array(name.utf8).withUnsafeBytes { ProxiedHeaderLines.isDropped($0) }
    }

    @Test func everyListedNameIsDroppedInAnyCase() {
        for name in ProxiedHeaderLines.droppedNames {
            #expect(Self.isDropped(name), "\(name)")
            #expect(Self.isDropped(name.uppercased()), "\(name.uppercased())")
            let titled = name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }
                .joined(separator: "-")
            #expect(Self.isDropped(titled), "\(titled)")
        }
    }

    @Test func contentFieldsAndNearMissesPass() {
        let passed = [
            "Content-Type", "Cache-Control", "ETag", "Server", "Set-Cookie", "Vary", "Dates", "dat", "Connections",
            "Keep_Alive", "X-Request-Ids", "Content-Lengt", "Transfer-Encodinh", "Proxy-Connectio", "Upgrades",
            "trailor", "T", "", "X-Request-Id2", "Content-Encoding", "é-request-id",
        ]
        for name in passed {
            #expect(!Self.isDropped(name), "\(name)")
        }
    }

    /// The fields of a partner's head, appended as libcurl's callback cuts them.
    private func lines(_ fields: [(String, String)]) -> ProxiedHeaderLines {
        var lines = ProxiedHeaderLines()
        for (name, value) in fields {
            Array(name.utf8).withUnsafeBytes { name in
                Array(value.utf8).withUnsafeBytes { value in lines.append(name: name, value: value) }
            }
        }
        return lines
    }

    @Test func passedFieldsKeepTheirBytesAndOrderAndDroppedOnesLeaveNoTrace() {
        let kept = lines([
            ("Server", "nginx/1.22.1"), ("Date", "Thu, 03 Dec 2026 21:12:56 GMT"), ("Content-Type", "application/json"),
            ("CONTENT-LENGTH", "39"), ("Set-Cookie", "a=b; Path=/"), ("Connection", "keep-alive"), ("X-Empty", ""),
            ("Transfer-Encoding", "chunked"),
        ])
        #expect(
            String(decoding: kept.bytes, as: UTF8.self)
                == "Server: nginx/1.22.1\r\nContent-Type: application/json\r\nSet-Cookie: a=b; Path=/\r\nX-Empty: \r\n")
    }

    @Test func fieldsReadBackWhatWasAppended() {
        let kept = lines([
            ("Location", "http://example.test:8080/a?b=c"), ("X-Empty", ""), ("Date", "x"), ("ETag", "\"1\""),
        ])
        let fields = kept.fields
        #expect(fields.map(\.name) == ["Location", "X-Empty", "ETag"])
        #expect(fields.map(\.value) == ["http://example.test:8080/a?b=c", "", "\"1\""])
    }

    @Test func removeAllForgetsAnEarlierAnswer() {
        var kept = lines([("X-Interim", "1")])
        #expect(!kept.isEmpty)
        kept.removeAll()
        #expect(kept.isEmpty)
        #expect(kept.fields.isEmpty)
    }
}
