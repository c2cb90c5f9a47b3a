extension ResponseStitcher {
    /// The verdict on one call: what goes into its member, or why it failed.
    enum Member {
        /// Valid JSON: `body[range]` (whitespace trimmed) is embedded verbatim.
        case json(body: [UInt8], range: Range<Int>)
        /// Not JSON: the body is embedded as a JSON string.
        case text([UInt8])
        /// An empty body.
        case empty
        case failed(CallFailure)

        init(_ result: CallResult, maxDepth: Int) {
            switch result {
            case .failed(let failure):
                self = .failed(failure)
            case .answered(let answer):
                guard (200...299).contains(answer.status) else {
                    self = .failed(.status(answer.status))
                    return
                }
                guard !answer.body.isEmpty else {
                    self = .empty
                    return
                }
                switch MediaType(contentType: answer.contentType) {
                case .json:
                    if let range = Self.validJSONRange(answer.body, maxDepth: maxDepth) {
                        self = .json(body: answer.body, range: range)
                    } else {
                        self = .failed(.invalidBody)
                    }
                case .absent:
                    if let range = Self.validJSONRange(answer.body, maxDepth: maxDepth) {
                        self = .json(body: answer.body, range: range)
                    } else {
                        self = .text(answer.body)
                    }
                case .html:
                    self = .failed(.htmlPage)
                case .other:
                    self = .text(answer.body)
                }
            }
        }

        var isFailure: Bool {
            if case .failed = self { return true }
            return false
        }

        /// Bytes the value will roughly take in the stitched body (escaping may add a little).
        var estimatedSize: Int {
            switch self {
            case .json(_, let range): return range.count
            case .text(let body): return body.count + 2
            case .empty, .failed: return 4
            }
        }

        /// Appends the member's value: the JSON itself, the text as a string, or `null`.
        func appendValue(to writer: inout JSONWriter) {
            switch self {
            case .json(let body, let range): writer.appendRaw(body[range])
            case .text(let body): writer.appendString(body)
            case .empty, .failed: writer.append("null")
            }
        }

        /// The body without surrounding JSON whitespace, if what remains is one valid JSON text.
        private static func validJSONRange(_ body: [UInt8], maxDepth: Int) -> Range<Int>? {
            var start = body.startIndex
            var end = body.endIndex
            while start < end && Self.isWhitespace(body[start]) { start += 1 }
            while end > start && Self.isWhitespace(body[end - 1]) { end -= 1 }
            guard start < end else { return nil }
            let valid = body.withUnsafeBytes { raw in
                JSONValidator.isValid(UnsafeRawBufferPointer(rebasing: raw[start..<end]), maxDepth: maxDepth)
            }
            return valid ? start..<end : nil
        }

        private static func isWhitespace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
        }
    }

    /// How a `Content-Type` value classifies the body.
    enum MediaType: Equatable {
        /// `application/json` or a structured `+json` type: the body must be JSON.
        case json
        /// No header, or an empty one.
        case absent
        /// `text/html` or `application/xhtml+xml`: an error or login page, whatever the status says.
        case html
        /// Anything else (`text/plain`, `text/csv`, …).
        case other

        /// Looks at the media type before any `;` parameters, trimmed and compared case-insensitively.
        init(contentType: String?) {
            guard var contentType else {
                self = .absent
                return
            }
            // Over the contiguous bytes: the same scan through `Substring.UTF8View` cost about 1,700
            // instructions per answer, and a composite call's answer is classified up to three times (callgrind).
            self = contentType.withUTF8 { Self.classify($0) }
        }

        private static func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> MediaType {
            // The usual value, `application/json` as written, in two 8-byte comparisons: scanned for `;`, trimmed
            // and compared byte by byte, it took about 270 instructions per answer (callgrind).
            if bytes.count == 16, let base = bytes.baseAddress {
                let json: StaticString = "application/json"
                let given = UnsafeRawPointer(base)
                let expected = UnsafeRawPointer(json.utf8Start)
                if given.loadUnaligned(as: UInt64.self) == expected.loadUnaligned(as: UInt64.self)
                    && given.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                        == expected.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                {
                    return .json
                }
            }
            var end = 0
            while end < bytes.count && bytes[end] != UInt8(ascii: ";") { end += 1 }
            var start = 0
            while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
            while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
            let mediaType = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if mediaType.isEmpty {
                return .absent
            } else if ASCIICase.equals(mediaType, "application/json")
                || (mediaType.count > 5
                    && ASCIICase.equals(UnsafeBufferPointer(rebasing: mediaType.suffix(5)), "+json"))
            {
                return .json
            } else if ASCIICase.equals(mediaType, "text/html")
                || ASCIICase.equals(mediaType, "application/xhtml+xml")
            {
                return .html
            } else {
                return .other
            }
        }
    }
}
