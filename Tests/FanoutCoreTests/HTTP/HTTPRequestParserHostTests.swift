import Testing

@testable import FanoutCore

/// Host (RFC 9112 §3.2, §3.2.2; RFC 9110 §7.2): required on HTTP/1.1, once, with a valid value; an absolute-form
/// target's authority stands in for it.
@Suite struct HTTPRequestParserHostTests {
    private func result(_ text: String) -> Result<HTTPParseResult, HTTPParserError> {
        ParserDriver.parseOnce([UInt8](request: text))
    }

    private func host(_ text: String) -> String?? {
        guard case .success(.complete(let request, _)) = result(text) else { return .none }
        return .some(request.head.host)
    }

    @Test func refusesHTTP11RequestWithoutHost() {
        for text in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "CONNECT a.com:443 HTTP/1.1\r\n\r\n",
            // Absolute-form does not exempt a request: RFC 9112 §3.2 has no exception (nginx refuses it too).
            "GET http://a.com/x HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            #expect(throws: HTTPParserError.missingHost, "\(text.debugDescription)") {
                try result(text).get()
            }
        }
        #expect(HTTPParserError.missingHost.status == 400)
    }

    @Test func refusesMissingHostWhenTheHeadEndsBeforeAnyBodyByte() {
        // The head alone decides: a body that never arrives does not delay the 400.
        let bytes = [UInt8](request: "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        let byteAtATime = ParserDriver.run(bytes, arrivals: Array(0..<bytes.count))
        #expect(byteAtATime.error == .missingHost)
    }

    @Test func reportsFramingFaultsBeforeAMissingHost() {
        #expect(throws: HTTPParserError.contentLengthWithTransferEncoding) {
            try result("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").get()
        }
        #expect(throws: HTTPParserError.unsupportedTransferCoding) {
            try result("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").get()
        }
    }

    @Test func acceptsHTTP10WithoutHost() {
        #expect(host("GET / HTTP/1.0\r\n\r\n") == .some(nil))
        #expect(host("GET http://a.com/ HTTP/1.0\r\n\r\n") == .some("a.com"))
    }

    static let validHosts = [
        "example.com", "EXAMPLE.com:8080", "a", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443",
        "[2001:db8::7]:1", "[::ffff:192.0.2.1]", "[v1.fe80::a+en1]", "home_0.netscape.com", "xn--bcher-kva.ch",
        "a%2Db.com", "sub.a-b.c~d!$&'()*+,;=", "example.com:", "example.com:65535", "",
    ]

    @Test(arguments: validHosts)
    func acceptsValidHostValue(_ value: String) {
        #expect(host("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n") == .some(value))
    }

    static let invalidHosts = [
        "a b", "a/b", "a\\b", "user@a.com", "a.com:80:80", "a.com:8x", "a.com:123456", "a.com:65536", ":80", "[::1",
        "[::1]x", "[a.b]", "[]", "[::1%25eth0]", "[v1]", "a%", "a%2", "a%zz", "a?b", "a#b", "Düsseldorf", "\"a\"",
        "a.com, b.com",
    ]

    @Test(arguments: invalidHosts)
    func refusesInvalidHostValue(_ value: String) {
        #expect(throws: HTTPParserError.invalidHost) {
            try result("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n").get()
        }
    }

    @Test func refusesInvalidHostAsSoonAsItsLineEnds() {
        let bytes = [UInt8](request: "GET / HTTP/1.1\r\nHost: a b\r\n")
        #expect(ParserDriver.run(bytes).error == .invalidHost)
        #expect(HTTPParserError.invalidHost.status == 400)
    }

    @Test func refusesDuplicateHostEvenWhenIdentical() {
        #expect(throws: HTTPParserError.duplicateHost) {
            try result("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").get()
        }
    }

    @Test func takesHostFromAbsoluteFormAuthorityAndIgnoresTheField() {
        #expect(host("GET http://a.com/x HTTP/1.1\r\nHost: other\r\n\r\n") == .some("a.com"))
        #expect(host("GET http://a.com:81?q HTTP/1.1\r\nHost: other\r\n\r\n") == .some("a.com:81"))
        #expect(host("GET https://[::1]:8443 HTTP/1.1\r\nHost: other\r\n\r\n") == .some("[::1]:8443"))
        #expect(host("GET http://u:p@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n") == .some("a.com"))
        // The ignored field must still be valid (RFC 9112 §3.2 applies to any request).
        #expect(throws: HTTPParserError.invalidHost) {
            try result("GET http://a.com/ HTTP/1.1\r\nHost: a b\r\n\r\n").get()
        }
    }

    @Test(arguments: [
        "http://a b/", "http://a.com:x/", "http://@/", "http://u@p@a.com/", "http://[::1/", "http://a%zz/",
        "http://u\"@a.com/",
    ])
    func refusesAbsoluteFormWithInvalidAuthority(_ target: String) {
        #expect(throws: (any Error).self) {
            try result("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n").get()
        }
        if !target.contains(" ") {
            #expect(throws: HTTPParserError.invalidRequestTarget) {
                try result("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n").get()
            }
        }
    }

    @Test func keepsHostOfConnectFromTheField() {
        #expect(host("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n") == .some("a.com:443"))
    }
}
