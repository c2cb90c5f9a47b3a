extension JSONParser {
    // MARK: - Strings

    /// Reads the string whose opening quote is at `i` and returns it decoded; `i` ends past the closing quote.
    @inline(__always)
    mutating func string() throws(JSONParseError) -> String {
        let quote = self.i
        let bytes = try self.stringBytes()
        guard Self.isValidUTF8(bytes) else {
            throw self.error(self.invalidUTF8Offset(from: quote + 1), "invalid UTF-8 in a string")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `bytes` are well-formed UTF-8 (checked eight bytes at a time while they are ASCII).
    @inline(__always)
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        let end = bytes.count
        var j = 0
        while j < end {
            if j + 8 <= end && raw.loadUnaligned(fromByteOffset: j, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                j += 8
                continue
            }
            if base[j] < 0x80 {
                j += 1
                continue
            }
            let length = UTF8Sequence.length(raw, at: j, end: end)
            if length < 0 { return false }
            j += length
        }
        return true
    }

    /// Reads the string whose opening quote is at `i` and returns its decoded bytes: a view of the input when it
    /// has no escapes, otherwise of `scratch` (valid until the next string). UTF-8 is *not* validated here;
    /// ``isValidUTF8(_:)`` does that before the text becomes a `String`.
    mutating func stringBytes() throws(JSONParseError) -> UnsafeBufferPointer<UInt8> {
        let quote = self.i
        let p = self.p
        let end = self.end
        var j = quote + 1
        while true {
            // Eight bytes at a time while none is a quote, a backslash or a control character.
            while j + 8 <= end {
                let w = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                let quotes = w ^ (ones &* 0x22)
                let slashes = w ^ (ones &* 0x5C)
                let special =
                    ((quotes &- ones) & ~quotes) | ((slashes &- ones) & ~slashes) | ((w &- ones &* 0x20) & ~w)
                if special & highs != 0 { break }
                j += 8
            }
            guard j < end else { throw self.stringError(quote, at: end, "unterminated string") }
            let c = p[j]
            if c == UInt8(ascii: "\"") {
                self.i = j + 1
                return UnsafeBufferPointer(start: p + quote + 1, count: j - quote - 1)
            }
            if c == UInt8(ascii: "\\") { return try self.escapedStringBytes(quote: quote, escape: j) }
            if c < 0x20 { throw self.stringError(quote, at: j, "control character in a string (must be escaped)") }
            j += 1
        }
    }

    /// The slow path: decodes into `scratch` from the first backslash on.
    private mutating func escapedStringBytes(quote: Int, escape: Int) throws(JSONParseError) -> UnsafeBufferPointer<
        UInt8
    > {
        let p = self.p
        let end = self.end
        self.scratch.truncate(to: 0)
        self.scratch.append(p + quote + 1, count: escape - quote - 1)
        var j = escape
        while j < end {
            let c = p[j]
            if c == UInt8(ascii: "\"") {
                self.i = j + 1
                return UnsafeBufferPointer(start: self.scratch.base, count: self.scratch.count)
            }
            if c == UInt8(ascii: "\\") {
                guard j + 1 < end else { break }
                let decoded: UInt8
                switch p[j + 1] {
                case UInt8(ascii: "\""): decoded = 0x22
                case UInt8(ascii: "\\"): decoded = 0x5C
                case UInt8(ascii: "/"): decoded = 0x2F
                case UInt8(ascii: "b"): decoded = 0x08
                case UInt8(ascii: "f"): decoded = 0x0C
                case UInt8(ascii: "n"): decoded = 0x0A
                case UInt8(ascii: "r"): decoded = 0x0D
                case UInt8(ascii: "t"): decoded = 0x09
                case UInt8(ascii: "u"):
                    j = try self.unicodeEscape(quote: quote, at: j)
                    continue
                default:
                    throw self.stringError(quote, at: j, "invalid escape sequence")
                }
                self.scratch.push(decoded)
                j += 2
                continue
            }
            if c < 0x20 { throw self.stringError(quote, at: j, "control character in a string (must be escaped)") }
            let run = j
            j += 1
            while j < end {
                let d = p[j]
                if d == UInt8(ascii: "\"") || d == UInt8(ascii: "\\") || d < 0x20 { break }
                j += 1
            }
            self.scratch.append(p + run, count: j - run)
        }
        throw self.stringError(quote, at: end, "unterminated string")
    }

    /// Decodes `\uXXXX` (and the low half of a surrogate pair) at `j` into `scratch` as UTF-8.
    /// - Returns: the index after the escape(s).
    private mutating func unicodeEscape(quote: Int, at j: Int) throws(JSONParseError) -> Int {
        guard let unit = self.hex4(at: j + 2) else {
            throw self.stringError(quote, at: j, "invalid \\u escape (expected four hex digits)")
        }
        var scalar = unit
        var next = j + 6
        if unit >= 0xDC00 && unit <= 0xDFFF {
            throw self.stringError(quote, at: j, "lone low surrogate escape")
        }
        if unit >= 0xD800 && unit <= 0xDBFF {
            guard self.end - next >= 6, self.p[next] == UInt8(ascii: "\\"), self.p[next + 1] == UInt8(ascii: "u"),
                let low = self.hex4(at: next + 2), low >= 0xDC00 && low <= 0xDFFF
            else {
                throw self.stringError(quote, at: j, "high surrogate escape not followed by a low surrogate escape")
            }
            scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            next += 6
        }
        self.appendUTF8(scalar)
        return next
    }

    @inline(__always)
    private mutating func appendUTF8(_ scalar: UInt32) {
        if scalar < 0x80 {
            self.scratch.push(UInt8(truncatingIfNeeded: scalar))
        } else if scalar < 0x800 {
            self.scratch.push(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        } else if scalar < 0x10000 {
            self.scratch.push(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | (scalar >> 6) & 0x3F))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        } else {
            self.scratch.push(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | (scalar >> 12) & 0x3F))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | (scalar >> 6) & 0x3F))
            self.scratch.push(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        }
    }

    /// Four hex digits (either case) at `start` as a UTF-16 code unit, or nil.
    private func hex4(at start: Int) -> UInt32? {
        JSONValidator.hex4(UnsafeRawPointer(self.p), at: start, end: self.end)
    }

    /// An error inside the string opened at `quote`, reported at `offset` unless ill-formed UTF-8 comes earlier.
    private func stringError(_ quote: Int, at offset: Int, _ message: String) -> JSONParseError {
        let bad = self.invalidUTF8Offset(from: quote + 1, before: offset)
        return bad < offset ? self.error(bad, "invalid UTF-8 in a string") : self.error(offset, message)
    }

    /// The offset of the first ill-formed UTF-8 sequence from `start` (before `limit`), or `limit` if none.
    func invalidUTF8Offset(from start: Int, before limit: Int? = nil) -> Int {
        let limit = limit ?? self.end
        var j = start
        while j < limit {
            if self.p[j] < 0x80 {
                j += 1
                continue
            }
            let length = UTF8Sequence.length(UnsafeRawPointer(self.p), at: j, end: self.end)
            if length < 0 { return j }
            j += length
        }
        return limit
    }

    // MARK: - Numbers

    /// Reads `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` at `i` and returns its text.
    @inline(__always)
    mutating func number() throws(JSONParseError) -> String {
        let p = self.p
        let end = self.end
        let start = self.i
        var j = start
        if p[j] == UInt8(ascii: "-") { j += 1 }
        guard j < end else { throw self.error(end, "unexpected end of input in a number") }
        switch p[j] {
        case UInt8(ascii: "0"):
            j += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            j += 1
            while j < end && p[j] &- UInt8(ascii: "0") < 10 { j += 1 }
        default:
            throw self.error(j, "expected a digit")
        }
        if j < end && p[j] == UInt8(ascii: ".") {
            j += 1
            let fraction = j
            while j < end && p[j] &- UInt8(ascii: "0") < 10 { j += 1 }
            guard j > fraction else { throw self.error(j, "expected a digit after the decimal point") }
        }
        if j < end && (p[j] | 0x20) == UInt8(ascii: "e") {
            j += 1
            if j < end && (p[j] == UInt8(ascii: "+") || p[j] == UInt8(ascii: "-")) { j += 1 }
            let exponent = j
            while j < end && p[j] &- UInt8(ascii: "0") < 10 { j += 1 }
            guard j > exponent else { throw self.error(j, "expected a digit in the exponent") }
        }
        self.i = j
        return String(decoding: UnsafeBufferPointer(start: p + start, count: j - start), as: UTF8.self)
    }
}
