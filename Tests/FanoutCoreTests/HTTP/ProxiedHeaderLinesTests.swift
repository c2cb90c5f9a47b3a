import FanoutCore
import Testing

/// `ProxiedHeaderLines`: the partner's fields a plain proxy route passes back, as line bytes. The hop-by-hop and
/// framing fields, and those fanout writes itself, are left out (which names, in any case: `FieldRoleTests`).
@Suite struct ProxiedHeaderLinesTests {
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

    @Test func everyHopFieldAndEveryFieldFanoutWritesIsLeftOut() {
        let names = FieldRole.hopNames + FieldRole.setByFanoutNames
        let kept = lines(names.map { ($0.uppercased(), "x") } + [("Vary", "Accept")])
        #expect(String(decoding: kept.bytes, as: UTF8.self) == "Vary: Accept\r\n")
    }

    @Test func removeAllForgetsAnEarlierAnswer() {
        var kept = lines([("X-Interim", "1")])
        #expect(!kept.isEmpty)
        kept.removeAll()
        #expect(kept.isEmpty)
        #expect(kept.fields.isEmpty)
    }
}
