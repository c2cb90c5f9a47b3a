/// A response to write to a client. Framing headers (Content-Length, Transfer-Encoding, Connection, Date) are
/// added by `HTTPResponse.serialize`, never taken from `headers`: the serializer leaves out every field of
/// `headers` that frames a message or describes the hop (``isFramingField(_:)``), so no partner or
/// configuration can make a client read bytes outside the framing fanout declared.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON error answer: `{"error":"…","message":"…"}` with the matching Content-Type.
    public static func error(status: Int, message: String, extraHeaders: [(name: String, value: String)] = [])
        -> HTTPResponse
    {
        HTTPResponse(
            status: status,
            headers: [("Content-Type", "application/json")] + extraHeaders,
            body: ErrorBody.json(error: HTTPResponse.errorCode(for: status), message: message))
    }

    /// The machine-readable `error` member for a status fanout generates itself.
    public static func errorCode(for status: Int) -> String {
        switch status {
        case 400: return "bad_request"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 408: return "request_timeout"
        case 413: return "body_too_large"
        case 414: return "uri_too_long"
        case 431: return "headers_too_large"
        case 501: return "not_implemented"
        case 502: return "upstream_failed"
        case 503: return "unavailable"
        case 504: return "upstream_timeout"
        case 505: return "version_not_supported"
        default: return status >= 500 ? "server_error" : "client_error"
        }
    }

    /// Appends the status line, headers and (unless `headOnly`) body to `out`, in one buffer so the
    /// connection writes it with one send.
    ///
    /// - Parameters:
    ///   - date: the `Date` header value, cached by the caller per second.
    ///   - keepAlive: false adds `Connection: close`.
    ///   - http10: answer an HTTP/1.0 client; a kept-alive 1.0 connection gets `Connection: keep-alive`.
    ///   - headOnly: a HEAD request: headers as for GET, no body bytes.
    public func serialize(into out: inout [UInt8], date: String, keepAlive: Bool, http10: Bool, headOnly: Bool) {
        out.reserveCapacity(out.count + 160 + body.count + headers.count * 40)
        serializeHead(into: &out, date: date, keepAlive: keepAlive, http10: http10, framing: .contentLength(body.count))
        if !headOnly && HTTPResponse.allowsBody(status) {
            out.append(contentsOf: body)
        }
    }

    /// How a body that is written after its head is delimited.
    public enum BodyFraming: Sendable, Equatable {
        case contentLength(Int)
        /// `Transfer-Encoding: chunked` (HTTP/1.1 clients only).
        case chunked
        /// No length: the body ends when the connection closes (HTTP/1.0 clients, or HTTP/1.1 with keepAlive
        /// false).
        case untilClose
    }

    /// Appends only the status line and headers, with `framing`'s header; `body` is ignored. The body follows
    /// separately (a streamed answer).
    ///
    /// Measured first, then written: `out` grows once by the head's length and every piece is copied into
    /// that room. Appended piece by piece (about 20 pieces), each `Array.append(contentsOf:)` took about 175
    /// instructions for a few bytes (callgrind).
    ///
    /// `lines`: a partner's header lines passed through as they came (``ProxiedHeaderLines``), written after
    /// `Date` and before `headers`.
    public func serializeHead(
        into out: inout [UInt8], date: String, keepAlive: Bool, http10: Bool, framing: BodyFraming,
        passing lines: ProxiedHeaderLines = ProxiedHeaderLines()
    ) {
        let reason = HTTPResponse.reasonPhrase(status)
        var contentLength: Int?
        var framingLine: StaticString?
        if HTTPResponse.allowsBody(status) {
            // 1xx, 204 and 304 carry no body and no framing header (RFC 9110 §8.6, RFC 9112 §6.1).
            switch framing {
            case .contentLength(let length):
                contentLength = length
                framingLine = "\r\nContent-Length: "
            case .chunked:
                framingLine = "\r\nTransfer-Encoding: chunked"
            case .untilClose:
                break
            }
        }
        let connectionLine: StaticString? =
            !keepAlive ? "\r\nConnection: close" : http10 ? "\r\nConnection: keep-alive" : nil
        let statusLine: StaticString = http10 ? "HTTP/1.0 " : "HTTP/1.1 "
        let dateLine: StaticString = "\r\nDate: "
        let end: StaticString = "\r\n\r\n"

        var length = statusLine.utf8CodeUnitCount + decimalLength(status) + 1 + reason.utf8.count
        length += dateLine.utf8CodeUnitCount + date.utf8.count
        // Each line ends with its CRLF; written after a CRLF instead, the last one is left for the next field.
        let passed = lines.bytes
        length += passed.count
        // Which fields are left out is decided once, while measuring (one bit per field among the first 64, the
        // rest asked again when written): asked twice, a name as long as a framing field's (`X-Fanout-Complete`,
        // `Transfer-Encoding`) was compared twice, about 150 instructions each time (callgrind).
        var leftOut: UInt64 = 0
        for index in headers.indices {
            if HTTPResponse.isFramingField(headers[index].name) {
                if index < 64 { leftOut |= 1 << UInt64(index) }
            } else {
                length += 4 + headers[index].name.utf8.count + headers[index].value.utf8.count
            }
        }
        if let framingLine { length += framingLine.utf8CodeUnitCount }
        if let contentLength { length += decimalLength(contentLength) }
        if let connectionLine { length += connectionLine.utf8CodeUnitCount }
        length += end.utf8CodeUnitCount

        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBytes { buffer in
            var head = MeasuredWriter(UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
            head.write(statusLine)
            head.writeDecimal(status)
            head.write(" ")
            head.write(reason)
            head.write(dateLine)
            head.write(date)
            if !passed.isEmpty {
                head.write("\r\n")
                passed.withUnsafeBufferPointer { head.write(UnsafeBufferPointer(rebasing: $0.dropLast(2))) }
            }
            for index in headers.indices {
                if index < 64 {
                    if leftOut & (1 << UInt64(index)) != 0 { continue }
                } else if HTTPResponse.isFramingField(headers[index].name) {
                    continue
                }
                head.write("\r\n")
                head.write(headers[index].name)
                head.write(": ")
                head.write(headers[index].value)
            }
            if let framingLine { head.write(framingLine) }
            if let contentLength { head.writeDecimal(contentLength) }
            if let connectionLine { head.write(connectionLine) }
            head.write(end)
            precondition(head.isFull, "the head was measured longer than it is written")
        }
    }

    /// Whether `name` is a field fanout computes itself from what it sends (any ASCII case): a
    /// ``FieldRole/hop`` field, `Content-Length`, `Transfer-Encoding`, `Connection` and the others that frame the
    /// message or describe the connection.
    @inlinable
    public static func isFramingField(_ name: String) -> Bool {
        FieldRole.of(name) == .hop
    }

    /// Whether a response with `status` has a body (and a framing header) at all.
    public static func allowsBody(_ status: Int) -> Bool {
        status >= 200 && status != 204 && status != 304
    }

    /// Appends `bytes` as one chunk of a chunked body (nothing for an empty piece: that would end the body).
    public static func appendChunk(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        // The size in hex, written digit by digit: no String or Array per body part.
        var shift = (Int.bitWidth - bytes.count.leadingZeroBitCount + 3) / 4 * 4
        while shift > 0 {
            shift -= 4
            let digit = UInt8(truncatingIfNeeded: bytes.count >> shift) & 0xF
            out.append(digit < 10 ? digit &+ 0x30 : digit &+ 0x57)
        }
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: bytes)
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The last chunk of a chunked body, with no trailers.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// The reason phrase for a status (RFC 9110 §15), or a generic one.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default:
            switch status {
            case 100..<200: return "Informational"
            case 200..<300: return "Success"
            case 300..<400: return "Redirection"
            case 400..<500: return "Client Error"
            default: return "Server Error"
            }
        }
    }
}

@inline(__always)
func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    if value == 0 {
        out.append(UInt8(ascii: "0"))
        return
    }
    var digits:
        (
            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
        ) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = value.magnitude
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buffer in
        while n > 0 {
            buffer[count] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
            count += 1
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        while count > 0 {
            count -= 1
            out.append(buffer[count])
        }
    }
}

/// How many bytes `appendDecimal` writes for `value` (its digits, and `-` when negative).
@inline(__always)
func decimalLength(_ value: Int) -> Int {
    var rest = value.magnitude
    var count = value < 0 ? 2 : 1
    while rest >= 10 {
        rest /= 10
        count += 1
    }
    return count
}
