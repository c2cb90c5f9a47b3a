/// A strict HTTP/1.x response parser, for checking that a client's byte stream splits into exactly one
/// well-framed response per request, with no stray byte.
///
/// Unlike ``RawHTTPClient/readResponse(expectBody:)``, which is lenient so tests can read odd servers, this
/// one refuses anything a careful client could read two ways (RFC 9112): bare CR or LF line endings, a
/// malformed status line or field, more than one `Content-Length`, a `Content-Length` that is not all digits,
/// `Content-Length` together with `Transfer-Encoding`, a `Transfer-Encoding` other than `chunked`, a framing
/// field on a 1xx or 204 answer, and bad chunk syntax. Deliberately independent of fanout's own code.
public enum StrictResponseParser {
    /// One response read off a client stream.
    public struct Parsed: Sendable {
        public var response: RawHTTPResponse
        /// How many bytes of the stream it took.
        public var consumed: Int
        /// The response ends its connection: `Connection: close`, HTTP/1.0 without `keep-alive`, or a body
        /// delimited by the connection's end. Any byte after it is a stray byte.
        public var closesConnection: Bool
        /// The body was delimited by the connection's end (neither `Content-Length` nor chunked).
        public var closeDelimited: Bool
    }

    /// Parses the response at the start of `bytes`.
    /// - Parameters:
    ///   - method: the request's method (a HEAD answer has no body, whatever its framing says).
    ///   - atEOF: the connection has ended, so `bytes` is all there is.
    /// - Returns: nil when more bytes are needed (never when `atEOF`).
    /// - Throws: ``TestSupportError/Kind/malformed`` naming the defect; ``TestSupportError/Kind/unexpectedEOF``
    ///   when the connection ended inside the response.
    public static func parse(_ bytes: ArraySlice<UInt8>, method: String, atEOF: Bool) throws -> Parsed? {
        // Whatever does not start like a status line is refused at once (an HTTP/0.9 body, a stray byte).
        if !zip(bytes, "HTTP/1.".utf8).allSatisfy({ $0 == $1 }) {
            throw Self.malformed("not a status line: \(HTTPWire.text(bytes.prefix(40)))")
        }
        var cursor = Cursor(bytes: bytes, atEOF: atEOF)
        guard let statusLine = try cursor.line() else { return nil }
        let (version, status) = try Self.statusLine(statusLine)
        var headers: [(String, String)] = []
        while true {
            guard let line = try cursor.line() else { return nil }
            if line.isEmpty { break }
            headers.append(try Self.field(line))
        }
        let response = { (body: [UInt8]) in RawHTTPResponse(status: status, headers: headers, body: body) }
        let lengths = Self.values("content-length", in: headers)
        let codings = Self.values("transfer-encoding", in: headers)
        let connection = Self.values("connection", in: headers).flatMap {
            $0.split(separator: ",").map { HTTPWire.trimmed(String($0)).lowercased() }
        }
        let closes =
            connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"))
        if lengths.count > 1 { throw Self.malformed("\(lengths.count) Content-Length fields: \(lengths)") }
        if !lengths.isEmpty && !codings.isEmpty { throw Self.malformed("both Content-Length and Transfer-Encoding") }
        if (100..<200).contains(status) || status == 204, !lengths.isEmpty || !codings.isEmpty {
            throw Self.malformed("a framing field on a \(status) answer")
        }
        var length: Int?
        if let text = lengths.first {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
                throw Self.malformed("Content-Length '\(text)' is not a decimal number")
            }
            length = value
        }
        if !codings.isEmpty && (codings.count != 1 || codings[0].lowercased() != "chunked") {
            throw Self.malformed("Transfer-Encoding \(codings) is not exactly 'chunked'")
        }
        if method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304 {
            return Parsed(
                response: response([]), consumed: cursor.offset, closesConnection: closes, closeDelimited: false)
        }
        if !codings.isEmpty {
            guard let body = try Self.chunkedBody(&cursor) else { return nil }
            return Parsed(
                response: response(body), consumed: cursor.offset, closesConnection: closes, closeDelimited: false)
        }
        if let length {
            guard let body = try cursor.take(length) else { return nil }
            return Parsed(
                response: response(body), consumed: cursor.offset, closesConnection: closes, closeDelimited: false)
        }
        guard atEOF else { return nil }
        let body = cursor.rest()
        return Parsed(response: response(body), consumed: cursor.offset, closesConnection: true, closeDelimited: true)
    }

    // MARK: - Pieces

    private static func statusLine(_ line: [UInt8]) throws -> (version: String, status: Int) {
        let text = HTTPWire.text(line)
        let prefix = line.prefix(13)
        guard prefix.count >= 12, text.hasPrefix("HTTP/1.1 ") || text.hasPrefix("HTTP/1.0 "),
            prefix[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), prefix.count == 12 || prefix[12] == 0x20,
            let status = Int(HTTPWire.text(prefix[9...11]))
        else { throw Self.malformed("bad status line: \(text)") }
        guard line.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
            throw Self.malformed("control byte in the status line: \(text)")
        }
        return (String(text.prefix(8)), status)
    }

    private static func field(_ line: [UInt8]) throws -> (String, String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            line[..<colon].allSatisfy(Self.isTokenByte)
        else { throw Self.malformed("bad header line: \(HTTPWire.text(line))") }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
            throw Self.malformed("control byte in a field value: \(HTTPWire.text(line))")
        }
        return (HTTPWire.text(line[..<colon]), HTTPWire.trimmed(HTTPWire.text(value)))
    }

    private static func chunkedBody(_ cursor: inout Cursor) throws -> [UInt8]? {
        var body: [UInt8] = []
        while true {
            guard let line = try cursor.line() else { return nil }
            let size = line.prefix(while: { $0 != UInt8(ascii: ";") })
            guard !size.isEmpty, size.count <= 15, size.allSatisfy(Self.isHexByte),
                let count = Int(HTTPWire.text(size), radix: 16)
            else { throw Self.malformed("bad chunk size line: \(HTTPWire.text(line))") }
            if count == 0 {
                while true {
                    guard let trailer = try cursor.line() else { return nil }
                    if trailer.isEmpty { return body }
                    _ = try Self.field(trailer)
                }
            }
            guard let data = try cursor.take(count), let end = try cursor.take(2) else { return nil }
            guard end == [13, 10] else { throw Self.malformed("chunk data not followed by CRLF") }
            body += data
        }
    }

    private static func values(_ name: String, in headers: [(String, String)]) -> [String] {
        headers.filter { $0.0.lowercased() == name }.map(\.1)
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private static func isHexByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    private static func malformed(_ detail: String) -> TestSupportError {
        TestSupportError.malformed(call: "parse response strictly", detail: detail)
    }

    /// Reads lines (CRLF only) and byte runs from the front of the stream.
    private struct Cursor {
        let bytes: ArraySlice<UInt8>
        let atEOF: Bool
        /// Bytes taken so far.
        var offset = 0

        init(bytes: ArraySlice<UInt8>, atEOF: Bool) {
            self.bytes = bytes
            self.atEOF = atEOF
        }

        private var unread: ArraySlice<UInt8> { self.bytes.dropFirst(self.offset) }

        /// The next line without its CRLF; nil when it has not fully arrived yet.
        mutating func line() throws -> [UInt8]? {
            let unread = self.unread
            guard let lf = unread.firstIndex(of: 10) else {
                if unread.contains(13) && unread.last != 13 { throw StrictResponseParser.malformed("bare CR") }
                return try self.incomplete()
            }
            guard lf > unread.startIndex, unread[lf - 1] == 13 else {
                throw StrictResponseParser.malformed("bare LF line ending")
            }
            let line = Array(unread[unread.startIndex..<(lf - 1)])
            if line.contains(13) { throw StrictResponseParser.malformed("bare CR") }
            self.offset += line.count + 2
            return line
        }

        /// Exactly `count` bytes; nil when they have not all arrived yet.
        mutating func take(_ count: Int) throws -> [UInt8]? {
            let unread = self.unread
            guard unread.count >= count else { return try self.incomplete() }
            self.offset += count
            return Array(unread.prefix(count))
        }

        mutating func rest() -> [UInt8] {
            let rest = Array(self.unread)
            self.offset = self.bytes.count
            return rest
        }

        private func incomplete<T>() throws -> T? {
            if self.atEOF {
                throw TestSupportError.unexpectedEOF(
                    call: "parse response strictly", detail: "the connection ended inside the response")
            }
            return nil
        }
    }
}
