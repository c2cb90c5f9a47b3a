import Testing

@testable import FanoutCore

/// Every refusal, with the error that states why and the status a server answers.
@Suite struct HTTPRequestParserRejectionTests {
    struct RejectionCase: Sendable, CustomTestStringConvertible {
        var label: String
        var bytes: [UInt8]
        var error: HTTPParserError
        var status: Int
        var testDescription: String { "\(label) → \(status) \(error)" }

        init(_ label: String, _ text: String, _ error: HTTPParserError, _ status: Int) {
            self.init(label, [UInt8](request: text), error, status)
        }

        init(_ label: String, _ bytes: [UInt8], _ error: HTTPParserError, _ status: Int) {
            self.label = label
            self.bytes = bytes
            self.error = error
            self.status = status
        }
    }

    /// `POST / HTTP/1.1` + `fields` + `Host: h` + empty line + `body`: Host comes last, so a fault in `fields`
    /// is met before it, and a request that gets past its fields is never refused for lacking Host.
    private static func withFields(_ fields: String, body: String = "", version: String = "HTTP/1.1") -> String {
        "POST / \(version)\r\n\(fields)Host: h\r\n\r\n\(body)"
    }

    /// A header line whose value holds `byte`.
    private static func valueWith(_ byte: UInt8) -> [UInt8] {
        [UInt8](request: "GET / HTTP/1.1\r\nA: b") + [byte] + [UInt8](request: "c\r\n\r\n")
    }

    static let chunked = "Transfer-Encoding: chunked\r\n"

    static let requestLineCases: [RejectionCase] = [
        RejectionCase("non-token byte in method", "G@T / HTTP/1.1\r\n\r\n", .invalidMethod, 400),
        RejectionCase("space before method", " GET / HTTP/1.1\r\n\r\n", .invalidMethod, 400),
        RejectionCase("method of 21 bytes", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n\r\n", .methodTooLong, 501),
        RejectionCase("method then CRLF", "GET\r\n\r\n", .invalidRequestLine, 400),
        RejectionCase("two spaces after method", "GET  / HTTP/1.1\r\n\r\n", .invalidRequestLine, 400),
        RejectionCase("no version (HTTP/0.9 style)", "GET /\r\n\r\n", .invalidRequestLine, 400),
        RejectionCase("space inside target", "GET /foo bar/ HTTP/1.1\r\n\r\n", .invalidVersion, 400),
        RejectionCase("HTAB in target", "GET /a\tb HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("DEL in target", "GET /a\u{7F} HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("UTF-8 in target", "GET /δ HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("NUL in target", "GET /a\u{0} HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("fragment in target", "GET /forums?page=1#posts HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("asterisk without OPTIONS", "GET * HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("asterisk-form for M-SEARCH", "M-SEARCH * HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("authority-form without CONNECT", "GET a.com:80 HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("CONNECT with origin-form", "CONNECT /a HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("CONNECT without port", "CONNECT a.com HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("relative target", "GET foo HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("absolute-form without authority", "GET http:/// HTTP/1.1\r\n\r\n", .invalidRequestTarget, 400),
        RejectionCase("ICE/1.0", "GET / ICE/1.0\r\n\r\n", .invalidVersion, 400),
        RejectionCase("RTSP/1.0", "OPTIONS / RTSP/1.0\r\n\r\n", .invalidVersion, 400),
        RejectionCase("IHTTP/1.0", "GET / IHTTP/1.0\r\n\r\n", .invalidVersion, 400),
        RejectionCase("HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", .invalidVersion, 400),
        RejectionCase("lowercase http/1.1", "GET / http/1.1\r\n\r\n", .invalidVersion, 400),
        RejectionCase("HTTP/1", "GET / HTTP/1\r\n\r\n", .invalidVersion, 400),
        RejectionCase("space after version", "GET / HTTP/1.1 \r\n\r\n", .invalidVersion, 400),
        RejectionCase("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", .unsupportedVersion, 505),
        RejectionCase("HTTP/5.6", "GET / HTTP/5.6\r\n\r\n", .unsupportedVersion, 505),
        RejectionCase("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", .unsupportedVersion, 505),
        RejectionCase("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", .unsupportedVersion, 505),
        RejectionCase("request line ended by LF", "GET / HTTP/1.1\nHost: a\n\n", .bareLF, 400),
        RejectionCase("CR inside request line end", "GET / HTTP/1.1\rHost: a\r\n\r\n", .bareCR, 400),
        RejectionCase("leading bare LF", "\nGET / HTTP/1.1\r\n\r\n", .bareLF, 400),
        RejectionCase("leading bare CR", "\rGET / HTTP/1.1\r\n\r\n", .bareCR, 400),
    ]

    static let fieldCases: [RejectionCase] = [
        RejectionCase("non-token byte in name", withFields("Fo@: x\r\n"), .invalidHeaderName, 400),
        RejectionCase("backslash in name", withFields("Foo\\01\test: x\r\n"), .invalidHeaderName, 400),
        RejectionCase("empty name", withFields(": x\r\n"), .invalidHeaderName, 400),
        RejectionCase("line without colon", withFields("name\r\n : value\r\n"), .missingHeaderColon, 400),
        RejectionCase("space before colon", withFields("Content-Length : 4\r\n"), .whitespaceBeforeColon, 400),
        RejectionCase("tab before colon", withFields("Host\t: a\r\n"), .whitespaceBeforeColon, 400),
        RejectionCase("fold right after request line", withFields(" Host: foo\r\n"), .obsoleteLineFolding, 400),
        RejectionCase("fold with HTAB", withFields("A: b\r\n\tc\r\n"), .obsoleteLineFolding, 400),
        RejectionCase("NUL in value", valueWith(0x00), .invalidHeaderValue, 400),
        RejectionCase("form feed in value", valueWith(0x0C), .invalidHeaderValue, 400),
        RejectionCase("DEL in value", valueWith(0x7F), .invalidHeaderValue, 400),
        RejectionCase("0x01 in value", valueWith(0x01), .invalidHeaderValue, 400),
        RejectionCase("CR inside value", withFields("Connection: keep\ralive\r\n"), .bareCR, 400),
        RejectionCase("CR inside name", withFields("Content\rLength: 3\r\n"), .missingHeaderColon, 400),
        RejectionCase("fields separated by LF", withFields("x:x\nTransfer-Encoding: chunked\r\n"), .bareLF, 400),
        RejectionCase("empty value then LF", withFields("x:\nA: b\r\n"), .bareLF, 400),
        RejectionCase("CR without LF before body", "PUT / HTTP/1.1\r\nContent-Length: 3\r\n\rabc", .bareCR, 400),
        RejectionCase("head ended by LF", "GET / HTTP/1.1\r\nA: b\r\n\n", .bareLF, 400),
        RejectionCase("two Host fields", withFields("Host: a\r\nhost: a\r\n"), .duplicateHost, 400),
    ]

    static let framingCases: [RejectionCase] = [
        RejectionCase("Content-Length with sign", withFields("Content-Length: +5\r\n"), .invalidContentLength, 400),
        RejectionCase("negative Content-Length", withFields("Content-Length: -1\r\n"), .invalidContentLength, 400),
        RejectionCase("space inside Content-Length", withFields("Content-Length: 4 2\r\n"), .invalidContentLength, 400),
        RejectionCase("empty Content-Length", withFields("Content-Length:\r\n"), .invalidContentLength, 400),
        RejectionCase("hex Content-Length", withFields("Content-Length: 0x10\r\n"), .invalidContentLength, 400),
        RejectionCase("empty list element", withFields("Content-Length: 5,\r\n"), .invalidContentLength, 400),
        RejectionCase(
            "Content-Length overflow",
            withFields("Content-Length: 1000000000000000000000\r\n"),
            .invalidContentLength,
            400
        ),
        RejectionCase(
            "Content-Length just over Int.max",
            withFields("Content-Length: 9223372036854775808\r\n"),
            .invalidContentLength,
            400
        ),
        RejectionCase(
            "two different Content-Length fields",
            withFields("Content-Length: 1\r\nContent-Length: 2\r\n"),
            .duplicateContentLength,
            400
        ),
        RejectionCase(
            "differing Content-Length list",
            withFields("Content-Length: 1, 2\r\n"),
            .duplicateContentLength,
            400
        ),
        RejectionCase(
            "Content-Length then Transfer-Encoding",
            withFields("Content-Length: 1\r\n" + chunked),
            .contentLengthWithTransferEncoding,
            400
        ),
        RejectionCase(
            "Transfer-Encoding then Content-Length",
            withFields(chunked + "Content-Length: 1\r\n"),
            .contentLengthWithTransferEncoding,
            400
        ),
        RejectionCase(
            "Content-Length with Transfer-Encoding identity",
            withFields("Content-Length: 1\r\nTransfer-Encoding: identity\r\n"),
            .contentLengthWithTransferEncoding,
            400
        ),
        RejectionCase(
            "Transfer-Encoding in HTTP/1.0",
            withFields(chunked, version: "HTTP/1.0"),
            .transferEncodingInHTTP10,
            400
        ),
        RejectionCase(
            "gzip before chunked",
            withFields("Transfer-Encoding: gzip, chunked\r\n"),
            .unsupportedTransferCoding,
            501
        ),
        RejectionCase(
            "deflate then chunked in two fields",
            withFields("Transfer-Encoding: deflate\r\n" + chunked),
            .unsupportedTransferCoding,
            501
        ),
        RejectionCase(
            "identity coding",
            withFields("Transfer-Encoding: identity\r\n"),
            .unsupportedTransferCoding,
            501
        ),
        RejectionCase("unknown coding", withFields("Transfer-Encoding: pigeons\r\n"), .unsupportedTransferCoding, 501),
        RejectionCase("chunked before gzip", withFields("Transfer-Encoding: chunked, gzip\r\n"), .chunkedNotFinal, 400),
        RejectionCase("chunked twice", withFields("Transfer-Encoding: chunked, chunked\r\n"), .chunkedNotFinal, 400),
        RejectionCase(
            "chunked then deflate in two fields",
            withFields(chunked + "Transfer-Encoding: deflate\r\n"),
            .chunkedNotFinal,
            400
        ),
        RejectionCase("chunked in two fields", withFields(chunked + chunked), .chunkedNotFinal, 400),
        RejectionCase(
            "chunkedchunked",
            withFields("Transfer-Encoding: chunkedchunked\r\n"),
            .invalidTransferEncoding,
            400
        ),
        RejectionCase(
            "chunked with parameter",
            withFields("Transfer-Encoding: chunked;q=1\r\n"),
            .invalidTransferEncoding,
            400
        ),
        RejectionCase("empty Transfer-Encoding", withFields("Transfer-Encoding:\r\n"), .invalidTransferEncoding, 400),
        RejectionCase(
            "empty element before chunked",
            withFields("Transfer-Encoding: , chunked\r\n"),
            .invalidTransferEncoding,
            400
        ),
        RejectionCase(
            "space inside coding",
            withFields("Transfer-Encoding: chu nked\r\n"),
            .invalidTransferEncoding,
            400
        ),
    ]

    static let bodyCases: [RejectionCase] = [
        RejectionCase(
            "space after chunk size",
            withFields(chunked, body: "a \r\n0123456789\r\n0\r\n\r\n"),
            .invalidChunk,
            400
        ),
        RejectionCase(
            "space before extension",
            withFields(chunked, body: "1 ;a\r\nx\r\n0\r\n\r\n"),
            .invalidChunk,
            400
        ),
        RejectionCase(
            "text after chunk size",
            withFields(chunked, body: "2 erfrferferf\r\naa\r\n"),
            .invalidChunk,
            400
        ),
        RejectionCase(
            "semicolon without extension",
            withFields(chunked, body: "2;\r\naa\r\n0\r\n\r\n"),
            .invalidChunk,
            400
        ),
        RejectionCase("extension without value", withFields(chunked, body: "2;a=\r\naa\r\n"), .invalidChunk, 400),
        RejectionCase("space before equals", withFields(chunked, body: "2;a =b\r\naa\r\n"), .invalidChunk, 400),
        RejectionCase(
            "unbalanced quote in extension",
            withFields(chunked, body: "5;a=\"def; ghi\r\nhello\r\n"),
            .invalidChunk,
            400
        ),
        RejectionCase("non-hex chunk size", withFields(chunked, body: "zz\r\n"), .invalidChunk, 400),
        RejectionCase("missing last chunk", withFields(chunked, body: "3\r\nfoo\r\n\r\n"), .invalidChunk, 400),
        RejectionCase("17 hex digits", withFields(chunked, body: "00000000000000001\r\nx\r\n"), .invalidChunk, 400),
        RejectionCase("data longer than size", withFields(chunked, body: "5\r\nABCDE0\r\n"), .invalidChunk, 400),
        RejectionCase("data ended by LF", withFields(chunked, body: "1\r\nA\n0\r\n\r\n"), .bareLF, 400),
        RejectionCase("chunk size ended by CR CR", withFields(chunked, body: "5\r\r;ABCD\r\n"), .bareCR, 400),
        RejectionCase("chunk size ended by LF", withFields(chunked, body: "3\nabc\r\n"), .bareLF, 400),
        RejectionCase("data then CR without LF", withFields(chunked, body: "1\r\nA\rX"), .bareCR, 400),
        RejectionCase(
            "trailer with space before colon",
            withFields(chunked, body: "0\r\nBad Trailer: x\r\n\r\n"),
            .whitespaceBeforeColon,
            400
        ),
        RejectionCase(
            "folded trailer",
            withFields(chunked, body: "0\r\nA: b\r\n c\r\n\r\n"),
            .obsoleteLineFolding,
            400
        ),
        RejectionCase("trailer with NUL", withFields(chunked, body: "0\r\nA: \u{0}\r\n\r\n"), .invalidHeaderValue, 400),
        RejectionCase(
            "Content-Length over maxBodyBytes",
            withFields("Content-Length: 1048577\r\n"),
            .bodyTooLarge,
            413
        ),
        RejectionCase("chunk over maxBodyBytes", withFields(chunked, body: "100001\r\n"), .bodyTooLarge, 413),
        RejectionCase(
            "chunk total over maxBodyBytes",
            withFields(
                chunked,
                body: "80000\r\n" + String(repeating: "a", count: 0x80000)
                    + "\r\n80001\r\n"
            ),
            .bodyTooLarge,
            413
        ),
        RejectionCase("16 hex digits of F", withFields(chunked, body: "FFFFFFFFFFFFFFFF\r\n"), .bodyTooLarge, 413),
    ]

    private func expectRejection(_ testCase: RejectionCase) {
        #expect(testCase.error.status == testCase.status)
        switch ParserDriver.parseOnce(testCase.bytes) {
        case .failure(let error):
            #expect(error == testCase.error, "\(testCase.label)")
        case .success(let result):
            Issue.record("\(testCase.label): expected \(testCase.error), got \(result)")
        }
        // The same error, whichever way the bytes arrive.
        let byteAtATime = ParserDriver.run(testCase.bytes, arrivals: Array(0..<testCase.bytes.count))
        #expect(byteAtATime.error == testCase.error, "\(testCase.label) one byte at a time")
    }

    @Test(arguments: requestLineCases)
    func rejectsMalformedRequestLine(_ testCase: RejectionCase) {
        expectRejection(testCase)
    }

    @Test(arguments: fieldCases)
    func rejectsMalformedFieldLine(_ testCase: RejectionCase) {
        expectRejection(testCase)
    }

    @Test(arguments: framingCases)
    func rejectsAmbiguousOrUnsupportedFraming(_ testCase: RejectionCase) {
        expectRejection(testCase)
    }

    @Test(arguments: bodyCases)
    func rejectsMalformedOrOversizedBody(_ testCase: RejectionCase) {
        expectRejection(testCase)
    }

    @Test func describesErrorsWithStatusAndMessage() {
        #expect(
            HTTPParserError.contentLengthWithTransferEncoding.message
                == "Content-Length and Transfer-Encoding both present"
        )
        #expect(HTTPParserError.bareCR.description == "400: CR not followed by LF")
        #expect(HTTPParserError.requestLineTooLong.description.hasPrefix("414: "))
    }
}
