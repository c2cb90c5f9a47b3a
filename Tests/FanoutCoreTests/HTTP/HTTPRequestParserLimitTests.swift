import Testing

@testable import FanoutCore

/// Limits fire as soon as the running count passes them, before the line or terminator arrives.
@Suite struct HTTPRequestParserLimitTests {
    /// Feeds `bytes` to a fresh parser in one call and returns the error, or nil with the result.
    private func error(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits()) -> HTTPParserError? {
        if case .failure(let error) = ParserDriver.parseOnce(bytes, limits: limits) { return error }
        return nil
    }

    private func isNeedMoreData(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits()) -> Bool {
        if case .success(.needMoreData) = ParserDriver.parseOnce(bytes, limits: limits) { return true }
        return false
    }

    @Test func rejectsLongRequestLineBeforeItsEnd() {
        let prefix = [UInt8](request: "GET /") + [UInt8](repeating: 0x61, count: 9000 - 5)
        #expect(error(prefix) == .requestLineTooLong)
        #expect(error(prefix)?.status == 414)
        // Exactly the limit is still waiting for more; one byte more is refused.
        #expect(isNeedMoreData(Array(prefix[..<8192])))
        #expect(error(Array(prefix[..<8193])) == .requestLineTooLong)
    }

    @Test func acceptsRequestLineOfExactlyTheLimit() {
        var limits = HTTPParserLimits()
        limits.maxRequestLineBytes = 32
        let line = "GET /" + String(repeating: "a", count: 32 - 14) + " HTTP/1.1"
        #expect(line.utf8.count == 32)
        let accepted = ParserDriver.parseOnce([UInt8](request: line + "\r\nHost: h\r\n\r\n"), limits: limits)
        guard case .success(.complete(let request, _)) = accepted else {
            Issue.record("line of exactly the limit refused: \(accepted)")
            return
        }
        #expect(request.head.target.utf8.count == 32 - 14 + 1)
        let longer = "GET /" + String(repeating: "a", count: 32 - 13) + " HTTP/1.1\r\n\r\n"
        #expect(error([UInt8](request: longer), limits: limits) == .requestLineTooLong)
    }

    @Test func countsLeadingEmptyLinesAgainstRequestLineLimit() {
        var limits = HTTPParserLimits()
        limits.maxRequestLineBytes = 20
        #expect(
            error(
                [UInt8](repeating: 0, count: 0) + Array(repeating: [0x0D, 0x0A], count: 11).flatMap { $0 },
                limits: limits
            ) == .requestLineTooLong
        )
    }

    @Test func rejectsLongMethodBeforeSpaceArrives() {
        let method = [UInt8](repeating: 0x41, count: 21)
        #expect(error(method) == .methodTooLong)
        #expect(error(method)?.status == 501)
        #expect(isNeedMoreData(Array(method[..<20])))
    }

    @Test func rejectsHeaderBytesOverLimitBeforeLineEnds() {
        let head = [UInt8](request: "GET / HTTP/1.1\r\nX: ")
        let value = [UInt8](repeating: 0x76, count: 33 * 1024)
        #expect(error(head + value) == .headersTooLarge)
        #expect(error(head + value)?.status == 431)
        // A name that never reaches its colon is caught the same way.
        let name = [UInt8](request: "GET / HTTP/1.1\r\n") + [UInt8](repeating: 0x6E, count: 32 * 1024 + 1)
        #expect(error(name) == .headersTooLarge)
        #expect(isNeedMoreData(Array(name.dropLast())))
    }

    @Test func acceptsHeaderSectionOfExactlyTheLimit() {
        var limits = HTTPParserLimits()
        limits.maxHeaderBytes = 29
        // 9 + 6 + 6 + 10 = 31 bytes of field lines
        let exact = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 12345\r\n\r\n"
        #expect(error([UInt8](request: exact), limits: limits) == .headersTooLarge)
        let fits = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 123\r\n\r\n"  // 9 + 6 + 6 + 8 = 29
        guard case .success(.complete(let request, _)) = ParserDriver.parseOnce([UInt8](request: fits), limits: limits)
        else {
            Issue.record("header section of exactly the limit refused")
            return
        }
        #expect(request.head.headers.count == 4)
    }

    @Test func rejectsTooManyHeadersAtStartOfTheExtraOne() {
        let fields = (1..<100).map { "H\($0): v\r\n" }.joined()
        let head = [UInt8](request: "GET / HTTP/1.1\r\nHost: h\r\n" + fields)
        #expect(isNeedMoreData(head))
        #expect(error(head + [0x58]) == .tooManyHeaders)
        #expect(error(head + [0x58])?.status == 431)
        if case .success(.complete(let request, _)) = ParserDriver.parseOnce(head + [0x0D, 0x0A]) {
            #expect(request.head.headers.count == 100)
        } else {
            Issue.record("100 header fields refused")
        }
    }

    @Test func countsTrailersAgainstHeaderLimits() {
        var limits = HTTPParserLimits()
        limits.maxHeaderCount = 3
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT1: a\r\n"
        #expect(isNeedMoreData([UInt8](request: head), limits: limits))
        #expect(error([UInt8](request: head + "T"), limits: limits) == .tooManyHeaders)

        var bytes = HTTPParserLimits()
        bytes.maxHeaderBytes = 49  // the header section uses 9 + 28 of them
        let trailers = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 123456789"
        #expect(isNeedMoreData([UInt8](request: trailers), limits: bytes))
        #expect(error([UInt8](request: trailers + "0"), limits: bytes) == .headersTooLarge)
    }

    @Test func rejectsContentLengthOverLimitWhenHeadCompletes() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 10
        let head = [UInt8](request: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")
        #expect(error(head, limits: limits) == .bodyTooLarge)
        #expect(error(head, limits: limits)?.status == 413)
        let fits = [UInt8](request: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        #expect(isNeedMoreData(fits, limits: limits))
    }

    @Test func rejectsChunkSizeOverRemainingBudgetAtTheDigit() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 20
        let first = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"
        #expect(isNeedMoreData([UInt8](request: first + "a"), limits: limits))
        #expect(error([UInt8](request: first + "b"), limits: limits) == .bodyTooLarge)
        #expect(error([UInt8](request: first + "1"), limits: limits) == nil)
        #expect(error([UInt8](request: first + "10"), limits: limits) == .bodyTooLarge)
    }

    @Test func rejectsLongChunkExtensionBeforeLineEnds() {
        var limits = HTTPParserLimits()
        limits.maxChunkExtensionBytes = 16
        let prefix = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;"
        let fits = prefix + String(repeating: "e", count: 15)  // `;` plus 15 bytes = 16
        #expect(isNeedMoreData([UInt8](request: fits), limits: limits))
        #expect(error([UInt8](request: fits + "e"), limits: limits) == .invalidChunk)
        guard
            case .success(.complete(let request, _)) = ParserDriver.parseOnce(
                [UInt8](request: fits + "\r\nx\r\n0\r\n\r\n"),
                limits: limits
            )
        else {
            Issue.record("extension of exactly the limit refused")
            return
        }
        #expect(request.body == [0x78])
    }

    @Test func refusesContentLengthThatWouldOverflowOffsets() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = Int.max
        let head = [UInt8](request: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n")
        #expect(error(head, limits: limits) == .bodyTooLarge)
    }
}
