import FanoutTestSupport
import Testing

@Suite struct StrictResponseParserTests {
    private static func parse(_ text: String, method: String = "GET", atEOF: Bool = false) throws
        -> StrictResponseParser.Parsed?
    {
        try StrictResponseParser.parse(ArraySlice(Array(text.utf8)), method: method, atEOF: atEOF)
    }

    private static func isMalformed(_ text: String, method: String = "GET") -> Bool {
        do {
            _ = try Self.parse(text, method: method, atEOF: true)
            return false
        } catch let error as TestSupportError {
            return error.kind == .malformed
        } catch {
            return false
        }
    }

    @Test func splitsPipelinedResponsesAndLeavesWhatFollows() throws {
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        let second = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
        let parsed = try #require(try Self.parse(first + second + "stray"))
        #expect(parsed.consumed == first.utf8.count)
        #expect(parsed.response.bodyText == "hi")
        #expect(!parsed.closesConnection)
        let rest = Array((second + "stray").utf8)
        let next = try #require(try StrictResponseParser.parse(ArraySlice(rest), method: "GET", atEOF: false))
        #expect(next.response.bodyText == "abc")
        #expect(next.consumed == second.utf8.count)
    }

    @Test func waitsForMissingBytesAndFailsOnlyAtTheEnd() throws {
        let partial = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"
        #expect(try Self.parse(partial) == nil)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab") == nil)
        #expect(try Self.parse("HTTP/1.1 2") == nil)
        #expect(throws: TestSupportError.self) { try Self.parse(partial, atEOF: true) }
    }

    @Test func aBodyWithoutFramingEndsWithTheConnection() throws {
        #expect(try Self.parse("HTTP/1.1 200 OK\r\n\r\nabc") == nil)
        let parsed = try #require(try Self.parse("HTTP/1.1 200 OK\r\n\r\nabc", atEOF: true))
        #expect(parsed.response.bodyText == "abc")
        #expect(parsed.closeDelimited)
        #expect(parsed.closesConnection)
    }

    @Test func headAnd204And304CarryNoBody() throws {
        let head = try #require(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", method: "HEAD"))
        #expect(head.response.body.isEmpty)
        let notModified = try #require(try Self.parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nx"))
        #expect(notModified.consumed == "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n".utf8.count)
        #expect(try Self.parse("HTTP/1.1 204 No Content\r\n\r\n")?.response.body.isEmpty == true)
    }

    @Test func noticesAConnectionThatEnds() throws {
        #expect(
            try Self.parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")?.closesConnection
                == true)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")?.closesConnection == true)
        #expect(
            try Self.parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")?.closesConnection
                == false)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n",
        "{\"id\":7}",
    ])
    func refusesWhatACarefulClientCouldReadTwoWays(_ text: String) {
        #expect(Self.isMalformed(text))
    }
}
