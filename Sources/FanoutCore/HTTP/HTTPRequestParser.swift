/// A strict, resumable HTTP/1.1 request parser (RFC 9112) over bytes.
///
/// The caller keeps every byte of the current message from its first byte and passes them all on each call,
/// plus whatever arrived since. The parser remembers where it stopped (an explicit `State` plus offsets into
/// the message) and resumes there, so a request delivered one byte at a time costs O(n) in total. Tokens are
/// kept as offsets until the head completes; the head's Strings are built once, then.
///
/// Strings are decoded as UTF-8, with invalid sequences repaired to U+FFFD (`String(decoding:as:)`). Methods,
/// targets and field names are ASCII by construction; only field values may contain obs-text (0x80–0xFF).
///
/// Anchors: nginx `ngx_http_parse_request_line` (`sw_*` states, `NGX_AGAIN`), picohttpparser's return convention.
public struct HTTPRequestParser: Sendable {
    /// Where the parser stands within the current message.
    enum State: Sendable, Equatable {
        /// Before the method; CRLF here is a leading empty line and is skipped.
        case messageStart
        /// After the CR of a leading empty line.
        case leadingLineFeed
        case method
        case target
        case version
        /// After the CR that ends the request line.
        case requestLineLineFeed
        /// At the first byte of a field line or of the empty line that ends the section.
        case fieldLineStart
        case fieldName
        /// After the colon, skipping OWS.
        case fieldValueStart
        case fieldValue
        /// After the CR that ends a field line.
        case fieldLineLineFeed
        /// After the CR of the empty line that ends the header (or trailer) section.
        case sectionEndLineFeed
        /// Waiting for a Content-Length body to be complete.
        case fixedBody
        case chunkSize
        case chunkExtension(ChunkExtensionState)
        case chunkSizeLineFeed
        case chunkData
        case chunkDataCR
        case chunkDataLineFeed
        /// Head-first mode: the head was handed out; `beginBody(limit:streamed:)` comes next.
        case awaitingBody
        /// A streamed Content-Length body has been handed out whole; the next call reports its end.
        case streamedBodyDone
        /// A call threw; every later call throws the same error until `reset()`.
        case failed(HTTPParserError)
    }

    /// Position inside `*( BWS ";" BWS token [ "=" ( token / quoted-string ) ] )` on a chunk-size line.
    enum ChunkExtensionState: Sendable, Equatable {
        case beforeName
        case name
        case beforeValue
        case tokenValue
        case quotedValue
        case quotedPair
        case afterQuotedValue
    }

    /// Which field section the field-line states are reading.
    enum Section: Sendable, Equatable {
        case headers
        case trailers
    }

    /// One header field line as offsets into the message; the value is already trimmed of OWS.
    struct FieldRange: Sendable {
        var nameStart: Int
        var nameEnd: Int
        var valueStart: Int
        var valueEnd: Int
    }

    /// How the body is delimited, decided when the head completes.
    enum BodyFraming {
        case none
        case contentLength(Int)
        case chunked
    }

    let limits: HTTPParserLimits
    /// Head-first mode (the server's): a request with a body is handed out as `.head` as soon as its head is
    /// complete, so the caller can choose, per route, the body limit and whether the body is buffered into
    /// the request or streamed out piece by piece (`beginBody`). Off by default: `.complete` only.
    public var headFirst = false
    var state: State = .messageStart
    /// The next byte to examine, as an offset from the message's first byte. Everything before it is accepted.
    var position = 0

    // MARK: Request line
    var methodStart = 0
    var methodEnd = 0
    var targetStart = 0
    var targetEnd = 0
    var versionStart = 0
    var version: HTTPVersion = .http1_1
    /// For an absolute-form target: where its authority's `host[:port]` lies; it stands in for Host.
    var targetHost: Range<Int>?

    // MARK: Field lines
    var section: Section = .headers
    /// Offset of the first byte of the current field section.
    var sectionStart = 0
    /// The first offset a field line of the current section may not reach (header byte budget).
    var sectionLimitEnd = 0
    /// Bytes the header section used; trailers get what is left of `maxHeaderBytes`.
    var headerSectionBytes = 0
    /// Header plus trailer fields so far.
    var fieldCount = 0
    var nameStart = 0
    var nameEnd = 0
    var valueStart = 0
    var valueEnd = 0
    var fields: [FieldRange] = []
    var facts = FieldFacts()

    // MARK: Body
    /// The finished head while its body is still arriving.
    var head: HTTPRequestHead?
    var bodyStart = 0
    var bodyEnd = 0
    var body: [UInt8] = []
    var chunkSize = 0
    var chunkSizeDigits = 0
    var chunkRemaining = 0
    var chunkExtensionStart = 0
    /// Sum of the chunk sizes read so far.
    var chunkedTotal = 0
    /// The current message's body limit: `limits.maxBodyBytes`, or what `beginBody` set.
    var bodyLimit: Int
    /// Whether the current body is handed out as `.bodyPart`s instead of being collected.
    var bodyStreamed = false
    /// Head-first mode: the framing of the body that `beginBody` starts.
    var pendingFraming: BodyFraming = .none
    /// A streamed Content-Length body: bytes still to come.
    var bodyRemaining = 0

    public init(limits: HTTPParserLimits) {
        self.limits = limits
        self.bodyLimit = limits.maxBodyBytes
    }

    /// The head, once fully parsed but while the body is still incomplete (nil otherwise). The server uses it to
    /// send `100 Continue`.
    public var pendingHead: HTTPRequestHead? { head }

    /// Head-first mode, after `.head`: the body's Content-Length, or nil when it is chunked.
    public var pendingBodyLength: Int? {
        if case .contentLength(let length) = pendingFraming { return length }
        return nil
    }

    /// Offset of the next byte the parser will examine; after `.needMoreData` it equals the buffer's count.
    var scanOffset: Int { position }

    /// Forgets the current message; the next `parse(_:)` starts a new one at byte 0.
    public mutating func reset() {
        state = .messageStart
        position = 0
        fieldCount = 0
        headerSectionBytes = 0
        section = .headers
        fields.removeAll(keepingCapacity: true)
        facts = FieldFacts()
        head = nil
        body = []
        chunkSize = 0
        chunkSizeDigits = 0
        chunkRemaining = 0
        chunkedTotal = 0
        bodyLimit = limits.maxBodyBytes
        bodyStreamed = false
        pendingFraming = .none
        bodyRemaining = 0
    }

    /// Head-first mode, after `.head`: starts reading the body with its own `limit`, collected into the
    /// request (`.complete`) or, when `streamed`, handed out as `.bodyPart`s followed by `.bodyEnd`.
    /// - Throws: `.bodyTooLarge` when the declared Content-Length is over `limit` (the parser is then failed).
    public mutating func beginBody(limit: Int, streamed: Bool) throws(HTTPParserError) {
        precondition(state == .awaitingBody, "beginBody(limit:streamed:) without a pending head")
        bodyLimit = limit
        bodyStreamed = streamed
        switch pendingFraming {
        case .contentLength(let length):
            if length > limit {
                state = .failed(.bodyTooLarge)
                throw .bodyTooLarge
            }
            bodyStart = 0
            bodyEnd = length
            bodyRemaining = length
            state = .fixedBody
        case .chunked:
            startChunkSizeLine()
        case .none:
            preconditionFailure("Invalid state: a pending head without a body")
        }
    }

    /// Continues parsing the current message.
    ///
    /// - Parameter buffer: every not-yet-consumed byte from the first byte of the current message: the bytes
    ///   passed last time (unchanged) plus any new ones. Only valid during the call.
    /// - Returns: `.needMoreData` when every byte was accepted but the message is not complete, or
    ///   `.complete(request, consumed:)`; the parser has then reset itself, and the caller drops `consumed`
    ///   bytes (the rest belongs to the next message).
    /// - Throws: `HTTPParserError` as soon as the bytes are known to be invalid or over a limit. The connection
    ///   is then dead; later calls throw the same error.
    public mutating func parse(_ buffer: UnsafeRawBufferPointer) throws(HTTPParserError) -> HTTPParseResult {
        if case .failed(let error) = state { throw error }
        precondition(buffer.count >= position, "parse(_:) was given fewer bytes than it already accepted")
        do throws(HTTPParserError) {
            return try run(buffer)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    // MARK: - State machine

    private mutating func run(_ buffer: UnsafeRawBufferPointer) throws(HTTPParserError) -> HTTPParseResult {
        let count = buffer.count
        let lineLimit = limits.maxRequestLineBytes
        var p = position

        parsing: while true {
            switch state {
            case .messageStart:
                guard p < count else { break parsing }
                if p >= lineLimit { throw .requestLineTooLong }
                let byte = buffer[p]
                if ASCII.isTokenChar(byte) {
                    methodStart = p
                    state = .method
                } else if byte == ASCII.cr {
                    state = .leadingLineFeed
                } else {
                    throw byte == ASCII.lf ? .bareLF : .invalidMethod
                }
                p += 1

            case .leadingLineFeed:
                guard p < count else { break parsing }
                if p >= lineLimit { throw .requestLineTooLong }
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                state = .messageStart

            case .method:
                while p < count {
                    if p >= lineLimit { throw .requestLineTooLong }
                    let byte = buffer[p]
                    if ASCII.isTokenChar(byte) {
                        if p - methodStart >= HTTPParserLimits.maxMethodBytes { throw .methodTooLong }
                        p += 1
                    } else if byte == ASCII.space {
                        methodEnd = p
                        p += 1
                        targetStart = p
                        state = .target
                        continue parsing
                    } else {
                        throw byte == ASCII.cr || byte == ASCII.lf ? .invalidRequestLine : .invalidMethod
                    }
                }
                break parsing

            case .target:
                let end = min(count, lineLimit)
                while p < end {
                    let byte = buffer[p]
                    if ASCII.isTargetByte(byte) {
                        p += 1
                    } else if byte == ASCII.space {
                        if p == targetStart { throw .invalidRequestLine }
                        targetEnd = p
                        targetHost = try validateTargetForm(buffer)
                        p += 1
                        versionStart = p
                        state = .version
                        continue parsing
                    } else {
                        throw byte == ASCII.cr || byte == ASCII.lf ? .invalidRequestLine : .invalidRequestTarget
                    }
                }
                if p < count { throw .requestLineTooLong }
                break parsing

            case .version:
                while p < count {
                    let byte = buffer[p]
                    if p - versionStart == 8 {
                        if byte == ASCII.cr {
                            version = try Self.decideVersion(major: buffer[versionStart + 5], minor: buffer[p - 1])
                            p += 1
                            state = .requestLineLineFeed
                            continue parsing
                        }
                        if p >= lineLimit { throw .requestLineTooLong }
                        throw byte == ASCII.lf ? .bareLF : .invalidVersion
                    }
                    if p >= lineLimit { throw .requestLineTooLong }
                    guard Self.isVersionByte(byte, at: p - versionStart) else { throw .invalidVersion }
                    p += 1
                }
                break parsing

            case .requestLineLineFeed:
                guard p < count else { break parsing }
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                beginSection(.headers, at: p, budget: limits.maxHeaderBytes)

            case .fieldLineStart:
                guard p < count else { break parsing }
                let byte = buffer[p]
                if byte == ASCII.cr {
                    if section == .headers { headerSectionBytes = p - sectionStart }
                    p += 1
                    state = .sectionEndLineFeed
                    continue parsing
                }
                if p >= sectionLimitEnd { throw .headersTooLarge }
                if ASCII.isTokenChar(byte) {
                    if fieldCount >= limits.maxHeaderCount { throw .tooManyHeaders }
                    nameStart = p
                    p += 1
                    state = .fieldName
                } else if ASCII.isWhitespace(byte) {
                    throw .obsoleteLineFolding
                } else {
                    throw byte == ASCII.lf ? .bareLF : .invalidHeaderName
                }

            case .fieldName:
                let end = min(count, sectionLimitEnd)
                while p < end {
                    let byte = buffer[p]
                    if ASCII.isTokenChar(byte) {
                        p += 1
                    } else if byte == ASCII.colon {
                        nameEnd = p
                        p += 1
                        state = .fieldValueStart
                        continue parsing
                    } else if ASCII.isWhitespace(byte) {
                        throw .whitespaceBeforeColon
                    } else {
                        throw byte == ASCII.cr || byte == ASCII.lf ? .missingHeaderColon : .invalidHeaderName
                    }
                }
                if p < count { throw .headersTooLarge }
                break parsing

            case .fieldValueStart:
                let end = min(count, sectionLimitEnd)
                while p < end, ASCII.isWhitespace(buffer[p]) {
                    p += 1
                }
                if p < end {
                    valueStart = p
                    state = .fieldValue
                    continue parsing
                }
                if p < count { throw .headersTooLarge }
                break parsing

            case .fieldValue:
                let end = min(count, sectionLimitEnd)
                while p < end {
                    let byte = buffer[p]
                    if ASCII.isFieldValueByte(byte) {
                        p += 1
                    } else if byte == ASCII.cr {
                        var trimmedEnd = p
                        while trimmedEnd > valueStart, ASCII.isWhitespace(buffer[trimmedEnd - 1]) {
                            trimmedEnd -= 1
                        }
                        valueEnd = trimmedEnd
                        p += 1
                        state = .fieldLineLineFeed
                        continue parsing
                    } else {
                        throw byte == ASCII.lf ? .bareLF : .invalidHeaderValue
                    }
                }
                if p < count { throw .headersTooLarge }
                break parsing

            case .fieldLineLineFeed:
                guard p < count else { break parsing }
                if p >= sectionLimitEnd { throw .headersTooLarge }
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                fieldCount += 1
                if section == .headers {
                    try recordField(buffer)
                }
                state = .fieldLineStart

            case .sectionEndLineFeed:
                guard p < count else { break parsing }
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                switch section {
                case .headers:
                    let (newHead, framing) = try finishHead(buffer)
                    if headFirst, Self.hasBody(framing) {
                        head = newHead
                        pendingFraming = framing
                        state = .awaitingBody
                        position = 0
                        return .head(newHead, consumed: p)
                    }
                    // `consume`: the head's Strings and headers move into the request (a copy retained each once
                    // and released them again at the end of the scope).
                    switch framing {
                    case .none:
                        return complete(HTTPRequest(head: consume newHead), consumed: p)
                    case .contentLength(let length):
                        if length == 0 { return complete(HTTPRequest(head: consume newHead), consumed: p) }
                        let (end, overflow) = p.addingReportingOverflow(length)
                        if overflow { throw .bodyTooLarge }
                        head = newHead
                        bodyStart = p
                        bodyEnd = end
                        state = .fixedBody
                    case .chunked:
                        head = newHead
                        startChunkSizeLine()
                    }
                case .trailers:
                    guard let finished = head else { preconditionFailure("Invalid state: trailers without a head") }
                    if bodyStreamed {
                        reset()
                        return .bodyEnd(consumed: p)
                    }
                    return complete(HTTPRequest(head: finished, body: body), consumed: p)
                }

            case .fixedBody where bodyStreamed:
                guard p < count else { break parsing }
                let take = min(count - p, bodyRemaining)
                bodyRemaining -= take
                if bodyRemaining == 0 { state = .streamedBodyDone }
                position = 0
                return .bodyPart(p..<(p + take), consumed: p + take)

            case .streamedBodyDone:
                reset()
                return .bodyEnd(consumed: p)

            case .awaitingBody:
                preconditionFailure("parse(_:) after .head without beginBody(limit:streamed:)")

            case .fixedBody:
                guard count >= bodyEnd else {
                    p = count
                    break parsing
                }
                guard let finished = head else { preconditionFailure("Invalid state: body without a head") }
                let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[bodyStart..<bodyEnd]))
                return complete(HTTPRequest(head: finished, body: bytes), consumed: bodyEnd)

            case .chunkSize, .chunkExtension, .chunkSizeLineFeed, .chunkData, .chunkDataCR, .chunkDataLineFeed:
                switch try parseChunkedBody(buffer, &p) {
                case .needMoreData:
                    break parsing
                case .lastChunk:
                    continue parsing
                case .data(let range):
                    position = 0
                    return .bodyPart(range, consumed: p)
                }

            case .failed(let error):
                throw error
            }
        }
        position = p
        return .needMoreData
    }

    /// Starts reading a field section at `offset`, allowed `budget` bytes of field lines.
    mutating func beginSection(_ newSection: Section, at offset: Int, budget: Int) {
        section = newSection
        sectionStart = offset
        sectionLimitEnd = budget > Int.max - offset ? Int.max : offset + budget
        state = .fieldLineStart
    }

    /// Whether a request framed this way has body bytes to read.
    private static func hasBody(_ framing: BodyFraming) -> Bool {
        switch framing {
        case .none: return false
        case .contentLength(let length): return length > 0
        case .chunked: return true
        }
    }

    /// Hands out the finished request and readies the parser for the next message.
    private mutating func complete(_ request: HTTPRequest, consumed: Int) -> HTTPParseResult {
        reset()
        return .complete(request, consumed: consumed)
    }

    // MARK: - Version

    /// Whether `byte` may appear at `index` of `HTTP/d.d`.
    @inline(__always)
    private static func isVersionByte(_ byte: UInt8, at index: Int) -> Bool {
        switch index {
        case 0: return byte == 0x48  // H
        case 1, 2: return byte == 0x54  // T
        case 3: return byte == 0x50  // P
        case 4: return byte == ASCII.slash
        case 5, 7: return ASCII.isDigit(byte)
        case 6: return byte == 0x2E  // .
        default: return false
        }
    }

    /// `HTTP/1.0` and `HTTP/1.1`; any other well-formed version is `.unsupportedVersion` (505).
    private static func decideVersion(major: UInt8, minor: UInt8) throws(HTTPParserError) -> HTTPVersion {
        guard major == 0x31 else { throw .unsupportedVersion }
        switch minor {
        case 0x30: return .http1_0
        case 0x31: return .http1_1
        default: throw .unsupportedVersion
        }
    }
}
