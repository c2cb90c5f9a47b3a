import Testing

@testable import FanoutCore

/// Accepted forms: what the parser reports for valid requests.
@Suite struct HTTPRequestParserTests {
    /// Parses exactly one complete request from `text`, which must hold nothing else.
    private func parseComplete(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) throws -> HTTPRequest {
        let bytes = [UInt8](request: text)
        let result = try ParserDriver.parseOnce(bytes, limits: limits).get()
        guard case .complete(let request, let consumed) = result else {
            Issue.record("expected a complete request, got \(result)")
            throw ParserTestFailure.incomplete
        }
        #expect(consumed == bytes.count)
        return request
    }

    @Test func parsesSimpleGET() throws {
        let request = try parseComplete("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
        #expect(request.head.method == "GET")
        #expect(request.head.target == "/a/b?x=1")
        #expect(request.head.version == .http1_1)
        #expect(request.head.host == "example.com")
        #expect(request.head.keepAlive)
        #expect(!request.head.expectsContinue)
        #expect(!request.head.requestsUpgrade)
        #expect(request.head.headers == ["Host": "example.com", "Accept": "*/*"])
        #expect(request.body.isEmpty)
    }

    @Test func reportsMissingHostOnHTTP10AsNil() throws {
        let request = try parseComplete("GET / HTTP/1.0\r\n\r\n")
        #expect(request.head.host == nil)
        #expect(request.head.headers.count == 0)
    }

    @Test func keepsHeaderNamesAsSentAndLooksThemUpCaseInsensitively() throws {
        let request = try parseComplete(
            "GET / HTTP/1.1\r\nX-Trace-ID: 1\r\nx-trace-id: 2\r\nACCEPT: a\r\nHost: h\r\n\r\n"
        )
        #expect(Array(request.head.headers.map(\.name)) == ["X-Trace-ID", "x-trace-id", "ACCEPT", "Host"])
        #expect(request.head.headers[first: "x-TRACE-id"] == "1")
        #expect(request.head.headers.values(named: "X-TRACE-ID") == ["1", "2"])
        #expect(request.head.headers[first: "accept"] == "a")
        #expect(request.head.headers[first: "missing"] == nil)
    }

    @Test func acceptsAnyTokenMethodAsSent() throws {
        for method in ["PATCH", "MKCOLA", "M-SEARCH", "get", "X!#$%&'*+-.^_`|~9", String(repeating: "M", count: 20)] {
            let request = try parseComplete("\(method) / HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(request.head.method == method)
        }
    }

    // MARK: - Keep-alive and version

    struct KeepAliveCase: Sendable, CustomTestStringConvertible {
        var version: String
        var connection: [String]
        var keepAlive: Bool
        var testDescription: String { "\(version) Connection: \(connection) → keepAlive \(keepAlive)" }
    }

    static let keepAliveCases: [KeepAliveCase] = [
        KeepAliveCase(version: "HTTP/1.1", connection: [], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.1", connection: ["close"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.1", connection: ["Close"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.1", connection: ["keep-alive"], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.1", connection: ["upgrade, CLOSE"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.1", connection: ["foo", "close"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.1", connection: ["closed"], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.1", connection: ["close\t"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.0", connection: [], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.0", connection: ["keep-alive"], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.0", connection: ["Keep-Alive"], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.0", connection: ["foo ,keep-alive"], keepAlive: true),
        KeepAliveCase(version: "HTTP/1.0", connection: ["keep-alive", "close"], keepAlive: false),
        KeepAliveCase(version: "HTTP/1.0", connection: ["keep-alive-ish"], keepAlive: false),
    ]

    @Test(arguments: keepAliveCases)
    func decidesKeepAliveFromVersionAndConnectionTokens(_ testCase: KeepAliveCase) throws {
        let fields = testCase.connection.map { "Connection: \($0)\r\n" }.joined()
        let request = try parseComplete("GET / \(testCase.version)\r\nHost: h\r\n\(fields)\r\n")
        #expect(request.head.keepAlive == testCase.keepAlive)
        #expect(request.head.version == (testCase.version == "HTTP/1.0" ? .http1_0 : .http1_1))
    }

    @Test func reportsExpectContinueOnHTTP11Only() throws {
        let http11 = try parseComplete(
            "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n"
        )
        #expect(http11.head.expectsContinue)
        let http10 = try parseComplete("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        #expect(!http10.head.expectsContinue)
        let other = try parseComplete("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n")
        #expect(!other.head.expectsContinue)
    }

    @Test func reportsUpgradeRequestOnlyWithConnectionTokenAndUpgradeField() throws {
        let upgrade = try parseComplete(
            "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        #expect(upgrade.head.requestsUpgrade)
        #expect(upgrade.head.keepAlive)
        let noToken = try parseComplete("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n")
        #expect(!noToken.head.requestsUpgrade)
        let noField = try parseComplete("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n")
        #expect(!noField.head.requestsUpgrade)
        let http10 = try parseComplete("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(!http10.head.requestsUpgrade)
    }

    // MARK: - Request-target forms

    @Test func keepsAbsoluteFormTargetRawAndTakesHostFromItsAuthority() throws {
        let request = try parseComplete(
            "GET http://a%12:b!&*$@hypnotoad.org:1234/toto?x=%20 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        #expect(request.head.target == "http://a%12:b!&*$@hypnotoad.org:1234/toto?x=%20")
        // RFC 9112 §3.2.2: the authority (without userinfo) replaces Host; the Host field itself is kept as sent.
        #expect(request.head.host == "hypnotoad.org:1234")
        #expect(request.head.headers[first: "host"] == "x")
    }

    @Test func acceptsAsteriskFormForOptions() throws {
        let request = try parseComplete("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(request.head.target == "*")
    }

    @Test func acceptsAuthorityFormForConnect() throws {
        for target in ["example.com:443", "home_0.netscape.com:443", "127.0.0.1:8080", "[::1]:443"] {
            let request = try parseComplete("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\r\n")
            #expect(request.head.method == "CONNECT")
            #expect(request.head.target == target)
            // What follows a CONNECT is tunnel data, never HTTP.
            #expect(request.head.requestsUpgrade)
        }
        let http10 = try parseComplete("CONNECT a.com:443 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(http10.head.requestsUpgrade)
        let lowercase = try parseComplete("connect / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(!lowercase.head.requestsUpgrade)
    }

    @Test func acceptsVisibleASCIIInOriginFormTarget() throws {
        let target = #"/with_"lovely"_quotes?foo=\"bar\"&q=|{}^`[]<>"#
        let request = try parseComplete("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(request.head.target == target)
    }

    // MARK: - Field values

    @Test func trimsOptionalWhitespaceAroundValues() throws {
        let request = try parseComplete("GET / HTTP/1.1\r\nA:  \t v a\tl \t \r\nB:\r\nC: \t \r\nD:x\r\nHost:h\r\n\r\n")
        #expect(request.head.headers == ["A": "v a\tl", "B": "", "C": "", "D": "x", "Host": "h"])
    }

    @Test func decodesValuesAsUTF8WithRepair() throws {
        let valid = try parseComplete("GET / HTTP/1.1\r\nHost: h\r\nCity: Düsseldorf\r\n\r\n")
        #expect(valid.head.headers[first: "city"] == "Düsseldorf")
        var bytes = [UInt8](request: "GET / HTTP/1.1\r\nHost: h\r\nX: a")
        bytes += [0xFF, 0x80]
        bytes += [UInt8](request: "b\r\n\r\n")
        guard case .success(.complete(let request, _)) = ParserDriver.parseOnce(bytes) else {
            Issue.record("obs-text value was not accepted")
            return
        }
        #expect(request.head.headers[first: "x"] == "a\u{FFFD}\u{FFFD}b")
    }

    // MARK: - Bodies

    @Test func readsContentLengthBodyExactly() throws {
        let bytes = [UInt8](request: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\n\r\nabcGET")
        guard case .success(.complete(let request, let consumed)) = ParserDriver.parseOnce(bytes) else {
            Issue.record("expected a complete request")
            return
        }
        #expect(request.body == Array("abc".utf8))
        #expect(consumed == bytes.count - 3)
    }

    @Test func collapsesIdenticalContentLengths() throws {
        let list = try parseComplete("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello")
        #expect(list.body == Array("hello".utf8))
        let fields = try parseComplete(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello"
        )
        #expect(fields.body == Array("hello".utf8))
        #expect(fields.head.headers.values(named: "content-length") == ["5", "05"])
    }

    @Test func decodesChunkedBodyWithExtensionsAndDiscardsTrailers() throws {
        let text =
            "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "5;name=value;flag\r\nhello\r\n"
            + "6; quoted=\"a \\\"q\\\"; b\"\r\n world\r\n"
            + "A\r\n0123456789\r\n"
            + "000;last\r\nVary: *\r\nX-Checksum: abc\r\n\r\n"
        let request = try parseComplete(text)
        #expect(request.body == Array("hello world0123456789".utf8))
        #expect(request.head.headers == ["Host": "h", "Transfer-Encoding": "Chunked"])
    }

    @Test func acceptsEmptyChunkedBody() throws {
        let request = try parseComplete("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(request.body.isEmpty)
    }

    @Test func ignoresBodyBytesWithoutFraming() throws {
        let bytes = [UInt8](request: "GET / HTTP/1.1\r\nHost: h\r\n\r\nnot a body")
        guard case .success(.complete(let request, let consumed)) = ParserDriver.parseOnce(bytes) else {
            Issue.record("expected a complete request")
            return
        }
        #expect(request.body.isEmpty)
        #expect(consumed == 27)
    }

    // MARK: - Message boundaries

    @Test func skipsLeadingEmptyLinesAndCountsThemAsConsumed() throws {
        let request = try parseComplete("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(request.head.target == "/x")
    }

    @Test func leavesPipelinedRequestForNextCall() throws {
        let first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        let second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        let bytes = [UInt8](request: first + second)
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        let one = try bytes.withUnsafeBytes { try parser.parse($0) }
        guard case .complete(let a, let consumedA) = one else {
            Issue.record("first request incomplete: \(one)")
            return
        }
        #expect(consumedA == first.utf8.count)
        #expect(a.head.target == "/a")
        #expect(a.body == Array("abc".utf8))
        #expect(parser.pendingHead == nil)
        let two = try bytes[consumedA...].withUnsafeBytes { try parser.parse($0) }
        guard case .complete(let b, let consumedB) = two else {
            Issue.record("second request incomplete: \(two)")
            return
        }
        #expect(consumedB == second.utf8.count)
        #expect(b.head.target == "/b")
        #expect(b.head.host == "h")
    }

    @Test func exposesPendingHeadWhileBodyIsIncomplete() throws {
        let bytes = [UInt8](
            request: "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab"
        )
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        #expect(parser.pendingHead == nil)
        let headOnly = try bytes[..<(bytes.count - 3)].withUnsafeBytes { try parser.parse($0) }
        #expect(headOnly == .needMoreData)
        #expect(parser.pendingHead == nil)
        let partial = try bytes.withUnsafeBytes { try parser.parse($0) }
        #expect(partial == .needMoreData)
        #expect(parser.pendingHead?.target == "/u")
        #expect(parser.pendingHead?.expectsContinue == true)
        let full = bytes + [UInt8](request: "cd")
        let done = try full.withUnsafeBytes { try parser.parse($0) }
        guard case .complete(let request, let consumed) = done else {
            Issue.record("expected completion, got \(done)")
            return
        }
        #expect(request.body == Array("abcd".utf8))
        #expect(consumed == full.count)
        #expect(parser.pendingHead == nil)
    }

    @Test func rethrowsTheSameErrorAfterFailureUntilReset() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        let bad = [UInt8](request: "GET / HTTP/1.1\r\nA : b\r\n\r\n")
        #expect(throws: HTTPParserError.whitespaceBeforeColon) { try bad.withUnsafeBytes { try parser.parse($0) } }
        #expect(throws: HTTPParserError.whitespaceBeforeColon) { try bad.withUnsafeBytes { try parser.parse($0) } }
        parser.reset()
        let good = [UInt8](request: "GET / HTTP/1.0\r\n\r\n")
        let result = try good.withUnsafeBytes { try parser.parse($0) }
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_0, keepAlive: false)
        #expect(result == .complete(HTTPRequest(head: head), consumed: 18))
    }

    @Test func returnsNeedMoreDataForEmptyBuffer() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        let result = try [UInt8]().withUnsafeBytes { try parser.parse($0) }
        #expect(result == .needMoreData)
    }

    @Test func buildsLimitsFromServerLimits() {
        var server = ServerLimits()
        server.maxRequestLineBytes = 100
        server.maxHeaderBytes = 200
        server.maxHeaderCount = 3
        server.maxBodyBytes = 400
        let limits = HTTPParserLimits(server)
        #expect(limits.maxRequestLineBytes == 100)
        #expect(limits.maxHeaderBytes == 200)
        #expect(limits.maxHeaderCount == 3)
        #expect(limits.maxBodyBytes == 400)
        #expect(limits.maxChunkExtensionBytes == 4 * 1024)
        let defaults = HTTPParserLimits()
        #expect(defaults == HTTPParserLimits(ServerLimits()))
        #expect(defaults.maxRequestLineBytes == 8 * 1024 && defaults.maxHeaderBytes == 32 * 1024)
        #expect(defaults.maxHeaderCount == 100 && defaults.maxBodyBytes == 1024 * 1024)
    }
}

enum ParserTestFailure: Error {
    case incomplete
}
