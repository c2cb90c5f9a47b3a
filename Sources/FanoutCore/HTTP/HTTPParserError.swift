/// Why a request was refused. Each case states one fact about the bytes received; `status` is the one place
/// where a parse failure maps to the HTTP status the server answers. After any of these the connection is not
/// reusable: the server answers (if it can) and closes.
public enum HTTPParserError: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: - Request line
    /// The method has a byte that is not a token character (RFC 9110 §5.6.2), or is empty.
    case invalidMethod
    /// The method is longer than `HTTPParserLimits.maxMethodBytes` (RFC 9112 §3: SHOULD 501).
    case methodTooLong
    /// The request line is longer than `maxRequestLineBytes` (RFC 9112 §3: MUST 414).
    case requestLineTooLong
    /// The request line is not `method SP request-target SP HTTP-version CRLF` (missing part, extra space).
    case invalidRequestLine
    /// The request-target has a byte outside 0x21–0x7E or a `#`, or its form does not fit the method
    /// (`*` without OPTIONS, authority-form without CONNECT, CONNECT without authority-form).
    case invalidRequestTarget
    /// The version is not `HTTP/DIGIT.DIGIT`.
    case invalidVersion
    /// The version is `HTTP/d.d` but neither 1.0 nor 1.1.
    case unsupportedVersion

    // MARK: - Field lines
    /// The header (and trailer) lines together are longer than `maxHeaderBytes`.
    case headersTooLarge
    /// More header (and trailer) fields than `maxHeaderCount`.
    case tooManyHeaders
    /// A field name is empty or has a byte that is not a token character.
    case invalidHeaderName
    /// A field line ends before any `:`.
    case missingHeaderColon
    /// A field value has a control character other than HTAB (NUL, 0x0C, DEL, …).
    case invalidHeaderValue
    /// Whitespace between a field name and its colon (RFC 9112 §5.1: MUST 400).
    case whitespaceBeforeColon
    /// A field line starts with SP or HTAB (obs-fold, RFC 9112 §5.2).
    case obsoleteLineFolding
    /// A CR not followed by LF (RFC 9112 §2.2).
    case bareCR
    /// A line ended by LF alone; fanout requires CRLF (RFC 9112 §2.2 allows either choice).
    case bareLF

    // MARK: - Framing
    /// More than one Host field (RFC 9112 §3.2: MUST 400).
    case duplicateHost
    /// An HTTP/1.1 request without a Host field (RFC 9112 §3.2: MUST 400), whatever the target's form.
    case missingHost
    /// A Host value that is not `uri-host [":" port]` (RFC 9112 §3.2: MUST 400; RFC 9110 §7.2).
    case invalidHost
    /// A Content-Length that is not 1*DIGIT (or a comma list of them), or does not fit in an `Int`.
    case invalidContentLength
    /// Content-Length values (in several fields or one comma list) that differ.
    case duplicateContentLength
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: reject and close).
    case contentLengthWithTransferEncoding
    /// A Transfer-Encoding field that is empty, has an empty or malformed element, or a mangled `chunked`
    /// (`chunkedchunked`, `chunked;x=1`).
    case invalidTransferEncoding
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: SHOULD 501).
    case unsupportedTransferCoding
    /// `chunked` is followed by another coding, or appears twice (RFC 9112 §6.3: MUST 400).
    case chunkedNotFinal
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: framing is faulty).
    case transferEncodingInHTTP10

    // MARK: - Body
    /// A malformed chunk: bad size, whitespace or garbage on the size line, malformed or oversized extension,
    /// data not followed by CRLF.
    case invalidChunk
    /// The body is longer than `maxBodyBytes` (from Content-Length, or the running chunked total).
    case bodyTooLarge

    /// The HTTP status a server answers with: 400, 413, 414, 431, 501 or 505.
    public var status: Int {
        switch self {
        case .requestLineTooLong: return 414
        case .headersTooLarge, .tooManyHeaders: return 431
        case .bodyTooLarge: return 413
        case .methodTooLong, .unsupportedTransferCoding: return 501
        case .unsupportedVersion: return 505
        case .invalidMethod, .invalidRequestLine, .invalidRequestTarget, .invalidVersion, .invalidHeaderName,
            .missingHeaderColon, .invalidHeaderValue, .whitespaceBeforeColon, .obsoleteLineFolding, .bareCR, .bareLF,
            .duplicateHost, .missingHost, .invalidHost, .invalidContentLength, .duplicateContentLength,
            .contentLengthWithTransferEncoding,
            .invalidTransferEncoding, .chunkedNotFinal, .transferEncodingInHTTP10, .invalidChunk:
            return 400
        }
    }

    /// One short sentence stating what was wrong.
    public var message: String {
        switch self {
        case .invalidMethod: return "method is not a token"
        case .methodTooLong: return "method longer than 20 bytes"
        case .requestLineTooLong: return "request line too long"
        case .invalidRequestLine: return "request line is not method, target and version separated by single spaces"
        case .invalidRequestTarget: return "request target has an invalid byte or form"
        case .invalidVersion: return "HTTP version is malformed"
        case .unsupportedVersion: return "HTTP version is neither 1.0 nor 1.1"
        case .headersTooLarge: return "header fields too large"
        case .tooManyHeaders: return "too many header fields"
        case .invalidHeaderName: return "header field name is empty or not a token"
        case .missingHeaderColon: return "header field line has no colon"
        case .invalidHeaderValue: return "header field value has a control character"
        case .whitespaceBeforeColon: return "whitespace between header field name and colon"
        case .obsoleteLineFolding: return "header field line starts with whitespace (obsolete line folding)"
        case .bareCR: return "CR not followed by LF"
        case .bareLF: return "line ended by LF without CR"
        case .duplicateHost: return "more than one Host header field"
        case .missingHost: return "HTTP/1.1 request without a Host header field"
        case .invalidHost: return "Host is not a host name or address with an optional port"
        case .invalidContentLength: return "Content-Length is not a decimal number"
        case .duplicateContentLength: return "Content-Length values differ"
        case .contentLengthWithTransferEncoding: return "Content-Length and Transfer-Encoding both present"
        case .invalidTransferEncoding: return "Transfer-Encoding is empty or malformed"
        case .unsupportedTransferCoding: return "transfer coding other than chunked"
        case .chunkedNotFinal: return "chunked is not the final transfer coding, or appears twice"
        case .transferEncodingInHTTP10: return "Transfer-Encoding in an HTTP/1.0 request"
        case .invalidChunk: return "malformed chunk"
        case .bodyTooLarge: return "request body too large"
        }
    }

    /// The status, then the message: `400: CR not followed by LF`.
    public var description: String { "\(status): \(message)" }
}
