import Testing

@testable import FanoutCore

@Suite struct RequestTargetTests {
    @Test func splitsPathAndQuery() throws {
        let target = try RequestTarget(parsing: "/a/b?x=1&y=%20")
        #expect(target.path == "/a/b")
        #expect(target.query == "x=1&y=%20")
        #expect(try RequestTarget(parsing: "/a").query == nil)
        #expect(try RequestTarget(parsing: "/a?").query == "")
        #expect(try RequestTarget(parsing: "/?a?b").query == "a?b")
    }

    @Test(arguments: [
        "/", "/a/.b", "/a/b.", "/a/...", "/a/%2e%2e%2e", "/a?x=../..", "/a?%2e%2e", "/a/%2Fb", "/a;b=c/@x",
    ])
    func acceptsTargetsWithoutDotSegments(target: String) throws {
        _ = try RequestTarget(parsing: target)
    }

    @Test(arguments: [
        "/..", "/.", "/a/..", "/a/../b", "/./a", "/a/./b", "/a/.", "/%2e", "/%2E%2e", "/a/.%2e/b", "/a/%2e./b",
        "/a/..?x=1",
    ])
    func rejectsDotSegments(target: String) {
        #expect(throws: RequestTargetError("'.' and '..' path segments are not allowed")) {
            try RequestTarget(parsing: target)
        }
    }

    @Test(arguments: ["/a%", "/a%4", "/a%zz", "/%G0"])
    func rejectsMalformedPercentEncoding(target: String) {
        #expect(throws: RequestTargetError.self) { try RequestTarget(parsing: target) }
    }

    @Test(arguments: ["", "a/b", "*", "http://x/", "/a#b", "/a b", "/a\tb", "/a\u{7F}", "/caf\u{E9}", "/a\r\nX: y"])
    func rejectsOtherInvalidTargets(target: String) {
        #expect(throws: RequestTargetError.self) { try RequestTarget(parsing: target) }
    }
}
