// MARK: - Chunked body (RFC 9112 §7.1)

extension HTTPRequestParser {
    /// Readies the parser for a chunk-size line.
    mutating func startChunkSizeLine() {
        chunkSize = 0
        chunkSizeDigits = 0
        state = .chunkSize
    }

    /// How far `parseChunkedBody` got.
    enum ChunkProgress {
        /// Every available byte was accepted.
        case needMoreData
        /// The last-chunk line is complete; the state is the trailer section's first line.
        case lastChunk
        /// Streamed bodies: chunk data at this range of the buffer (everything before its end is accepted).
        case data(Range<Int>)
    }

    /// Runs the chunk states over the available bytes, appending chunk data to `body` as it arrives (or, for a
    /// streamed body, handing out each run of chunk data as soon as it is seen).
    ///
    /// `hex-size [ chunk-ext ] CRLF data CRLF … 0 [ chunk-ext ] CRLF`, then the trailer section, which the field
    /// states read. Strict: no whitespace between the size and `;` or CRLF, at most 16 hex digits, data followed
    /// by exactly CRLF.
    mutating func parseChunkedBody(_ buffer: UnsafeRawBufferPointer, _ p: inout Int) throws(HTTPParserError)
        -> ChunkProgress
    {
        let count = buffer.count
        while p < count {
            switch state {
            case .chunkSize:
                let byte = buffer[p]
                if let digit = ASCII.hexValue(byte) {
                    chunkSizeDigits += 1
                    if chunkSizeDigits > 16 { throw .invalidChunk }
                    // chunkSize * 16 + digit must stay within what the body may still grow by; checked without
                    // ever computing a value that could overflow.
                    let budget = bodyLimit - chunkedTotal
                    if digit > budget || chunkSize > (budget - digit) / 16 { throw .bodyTooLarge }
                    chunkSize = chunkSize * 16 + digit
                } else if chunkSizeDigits == 0 {
                    throw .invalidChunk
                } else if byte == ASCII.cr {
                    state = .chunkSizeLineFeed
                } else if byte == ASCII.semicolon {
                    chunkExtensionStart = p
                    state = .chunkExtension(.beforeName)
                } else {
                    throw byte == ASCII.lf ? .bareLF : .invalidChunk
                }
                p += 1

            case .chunkExtension(let extensionState):
                let byte = buffer[p]
                if p - chunkExtensionStart >= limits.maxChunkExtensionBytes, byte != ASCII.cr {
                    throw .invalidChunk
                }
                state = try Self.chunkExtensionStep(extensionState, byte)
                p += 1

            case .chunkSizeLineFeed:
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                chunkedTotal += chunkSize
                if chunkSize == 0 {
                    let remaining = limits.maxHeaderBytes - headerSectionBytes
                    beginSection(.trailers, at: p, budget: remaining)
                    return .lastChunk
                }
                chunkRemaining = chunkSize
                state = .chunkData

            case .chunkData:
                let take = min(count - p, chunkRemaining)
                let start = p
                p += take
                chunkRemaining -= take
                if chunkRemaining == 0 { state = .chunkDataCR }
                if bodyStreamed { return .data(start..<p) }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<p]))

            case .chunkDataCR:
                let byte = buffer[p]
                guard byte == ASCII.cr else { throw byte == ASCII.lf ? .bareLF : .invalidChunk }
                p += 1
                state = .chunkDataLineFeed

            case .chunkDataLineFeed:
                guard buffer[p] == ASCII.lf else { throw .bareCR }
                p += 1
                startChunkSizeLine()

            case .messageStart, .leadingLineFeed, .method, .target, .version, .requestLineLineFeed, .fieldLineStart,
                .fieldName, .fieldValueStart, .fieldValue, .fieldLineLineFeed, .sectionEndLineFeed, .fixedBody,
                .awaitingBody, .streamedBodyDone, .failed:
                preconditionFailure("Invalid state: \(state)")
            }
        }
        return .needMoreData
    }

    /// One byte of `*( ";" BWS token [ "=" ( token / quoted-string ) ] )`, which ends at the line's CR. Extensions
    /// are validated and ignored.
    private static func chunkExtensionStep(
        _ current: ChunkExtensionState,
        _ byte: UInt8
    ) throws(HTTPParserError) -> State {
        switch current {
        case .beforeName:
            if ASCII.isWhitespace(byte) { return .chunkExtension(.beforeName) }
            if ASCII.isTokenChar(byte) { return .chunkExtension(.name) }
        case .name:
            if ASCII.isTokenChar(byte) { return .chunkExtension(.name) }
            if byte == ASCII.equals { return .chunkExtension(.beforeValue) }
            if byte == ASCII.semicolon { return .chunkExtension(.beforeName) }
            if byte == ASCII.cr { return .chunkSizeLineFeed }
        case .beforeValue:
            if byte == ASCII.quote { return .chunkExtension(.quotedValue) }
            if ASCII.isTokenChar(byte) { return .chunkExtension(.tokenValue) }
        case .tokenValue:
            if ASCII.isTokenChar(byte) { return .chunkExtension(.tokenValue) }
            if byte == ASCII.semicolon { return .chunkExtension(.beforeName) }
            if byte == ASCII.cr { return .chunkSizeLineFeed }
        case .quotedValue:
            if byte == ASCII.quote { return .chunkExtension(.afterQuotedValue) }
            if byte == ASCII.backslash { return .chunkExtension(.quotedPair) }
            if ASCII.isQuotedTextByte(byte) { return .chunkExtension(.quotedValue) }
        case .quotedPair:
            if ASCII.isFieldValueByte(byte) { return .chunkExtension(.quotedValue) }
        case .afterQuotedValue:
            if byte == ASCII.semicolon { return .chunkExtension(.beforeName) }
            if byte == ASCII.cr { return .chunkSizeLineFeed }
        }
        throw .invalidChunk
    }
}
