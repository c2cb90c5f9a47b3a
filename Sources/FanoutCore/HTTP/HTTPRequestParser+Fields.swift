// MARK: - Header fields that carry meaning for the parser

extension HTTPRequestParser {
    /// What the header fields said about framing and the connection, gathered line by line.
    struct FieldFacts: Sendable {
        /// Index into `fields` of the Host field.
        var hostIndex: Int?
        var contentLength: Int?
        var hasTransferEncoding = false
        /// `chunked` was seen; any coding after it is `.chunkedNotFinal`.
        var sawChunked = false
        /// A coding other than `chunked` was seen (501 unless a 400 applies).
        var sawUnsupportedCoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionUpgrade = false
        var hasUpgradeField = false
        var expectsContinue = false
    }

    /// Stores the field line just completed and checks the fields that decide framing, as soon as each arrives.
    mutating func recordField(_ buffer: UnsafeRawBufferPointer) throws(HTTPParserError) {
        fields.append(FieldRange(nameStart: nameStart, nameEnd: nameEnd, valueStart: valueStart, valueEnd: valueEnd))
        let name = UnsafeRawBufferPointer(rebasing: buffer[nameStart..<nameEnd])
        let value = UnsafeRawBufferPointer(rebasing: buffer[valueStart..<valueEnd])
        switch name.count {
        case 4 where ASCIICase.equals(name, "host"):
            guard facts.hostIndex == nil else { throw .duplicateHost }
            guard Self.isValidHost(value) else { throw .invalidHost }
            facts.hostIndex = fields.count - 1
        case 6 where ASCIICase.equals(name, "expect"):
            if ASCIICase.equals(value, "100-continue") { facts.expectsContinue = true }
        case 7 where ASCIICase.equals(name, "upgrade"):
            facts.hasUpgradeField = true
        case 10 where ASCIICase.equals(name, "connection"):
            recordConnectionOptions(value)
        case 14 where ASCIICase.equals(name, "content-length"):
            try recordContentLength(value)
        case 17 where ASCIICase.equals(name, "transfer-encoding"):
            try recordTransferCodings(value)
        default:
            break
        }
    }

    /// `Connection` is a comma list of case-insensitive tokens; several fields combine.
    private mutating func recordConnectionOptions(_ value: UnsafeRawBufferPointer) {
        var elements = ListElements(value)
        while let element = elements.next() {
            let option = UnsafeRawBufferPointer(rebasing: value[element])
            if ASCIICase.equals(option, "close") {
                facts.connectionClose = true
            } else if ASCIICase.equals(option, "keep-alive") {
                facts.connectionKeepAlive = true
            } else if ASCIICase.equals(option, "upgrade") {
                facts.connectionUpgrade = true
            }
        }
    }

    /// `Content-Length = 1*DIGIT`; identical values (in several fields or one comma list) collapse into one
    /// (RFC 9112 §6.3 (5)), differing ones are refused.
    private mutating func recordContentLength(_ value: UnsafeRawBufferPointer) throws(HTTPParserError) {
        var elements = ListElements(value)
        while let element = elements.next() {
            guard !element.isEmpty else { throw .invalidContentLength }
            var length = 0
            for index in element {
                let byte = value[index]
                guard ASCII.isDigit(byte) else { throw .invalidContentLength }
                let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(byte &- 0x30))
                guard !overflow1, !overflow2 else { throw .invalidContentLength }
                length = sum
            }
            if let previous = facts.contentLength, previous != length { throw .duplicateContentLength }
            facts.contentLength = length
        }
    }

    /// Transfer-Encoding codings, several fields forming one list. Every element must be a coding (no empty
    /// elements, no empty field). `chunked` must be last and appear once (else 400); a name that merely starts
    /// with `chunked` or a `chunked` with parameters is a mangled `chunked` (400, a smuggling probe); any other
    /// coding is unsupported (501, decided when the head completes so that a later 400 still wins).
    private mutating func recordTransferCodings(_ value: UnsafeRawBufferPointer) throws(HTTPParserError) {
        facts.hasTransferEncoding = true
        var elements = ListElements(value)
        while let element = elements.next() {
            guard !element.isEmpty else { throw .invalidTransferEncoding }
            if facts.sawChunked { throw .chunkedNotFinal }
            var nameEnd = element.lowerBound
            while nameEnd < element.upperBound, ASCII.isTokenChar(value[nameEnd]) {
                nameEnd += 1
            }
            guard nameEnd > element.lowerBound else { throw .invalidTransferEncoding }
            var rest = nameEnd
            while rest < element.upperBound, ASCII.isWhitespace(value[rest]) {
                rest += 1
            }
            let hasParameters = rest < element.upperBound
            if hasParameters, value[rest] != ASCII.semicolon { throw .invalidTransferEncoding }
            let name = UnsafeRawBufferPointer(rebasing: value[element.lowerBound..<nameEnd])
            if ASCIICase.hasPrefix(name, "chunked") {
                guard name.count == 7, !hasParameters else { throw .invalidTransferEncoding }
                facts.sawChunked = true
            } else {
                facts.sawUnsupportedCoding = true
            }
        }
    }

    // MARK: - Finishing the head

    /// Decides the body's framing, requires Host on HTTP/1.1, and builds the head's Strings, once.
    ///
    /// Framing faults are reported before a missing Host: they state the graver fact (the connection's byte
    /// stream can no longer be trusted).
    mutating func finishHead(_ buffer: UnsafeRawBufferPointer) throws(HTTPParserError) -> (
        HTTPRequestHead, BodyFraming
    ) {
        let framing: BodyFraming
        if facts.hasTransferEncoding {
            if facts.contentLength != nil { throw .contentLengthWithTransferEncoding }
            if version == .http1_0 { throw .transferEncodingInHTTP10 }
            if facts.sawUnsupportedCoding { throw .unsupportedTransferCoding }
            framing = .chunked
        } else if let length = facts.contentLength {
            // Head-first callers decide the body limit per route, in `beginBody`.
            if !headFirst, length > limits.maxBodyBytes { throw .bodyTooLarge }
            framing = .contentLength(length)
        } else {
            framing = .none
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400, whatever the target's form (nginx agrees).
        if version == .http1_1 && facts.hostIndex == nil { throw .missingHost }

        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count)
        var host: String?
        for (index, field) in fields.enumerated() {
            let value = Self.string(buffer, field.valueStart..<field.valueEnd)
            headers.append(name: Self.string(buffer, field.nameStart..<field.nameEnd), value: value)
            if index == facts.hostIndex { host = value }
        }
        // RFC 9112 §3.2.2: an absolute-form target's authority replaces the Host field.
        if let targetHost { host = Self.string(buffer, targetHost) }
        let isHTTP11 = version == .http1_1
        let method = UnsafeRawBufferPointer(rebasing: buffer[methodStart..<methodEnd])
        return (
            HTTPRequestHead(
                method: Self.method(method),
                target: Self.string(buffer, targetStart..<targetEnd),
                version: version,
                headers: headers,
                keepAlive: !facts.connectionClose && (isHTTP11 || facts.connectionKeepAlive),
                expectsContinue: isHTTP11 && facts.expectsContinue,
                host: host,
                requestsUpgrade: (isHTTP11 && facts.connectionUpgrade && facts.hasUpgradeField)
                    || Self.equals(method, "CONNECT")
            ), framing
        )
    }

    /// The method as a String: the common ones as literals, which cost no UTF-8 decoding (about 170
    /// instructions each, callgrind).
    static func method(_ bytes: UnsafeRawBufferPointer) -> String {
        if equals(bytes, "GET") { return "GET" }
        if equals(bytes, "POST") { return "POST" }
        if equals(bytes, "HEAD") { return "HEAD" }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Byte helpers

    /// UTF-8 with repair: invalid sequences (stray obs-text) become U+FFFD.
    @inline(__always)
    static func string(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }
}

/// The elements of a comma-separated field value (RFC 9110 §5.6.1), each trimmed of OWS, as ranges into it.
/// Empty elements are reported (as empty ranges) so that callers decide whether they are allowed.
struct ListElements: IteratorProtocol {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var finished = false

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func next() -> Range<Int>? {
        guard !finished else { return nil }
        var end = index
        while end < bytes.count, bytes[end] != ASCII.comma {
            end += 1
        }
        var start = index
        var trimmedEnd = end
        while start < trimmedEnd, ASCII.isWhitespace(bytes[start]) {
            start += 1
        }
        while trimmedEnd > start, ASCII.isWhitespace(bytes[trimmedEnd - 1]) {
            trimmedEnd -= 1
        }
        if end == bytes.count { finished = true } else { index = end + 1 }
        return start..<trimmedEnd
    }
}
