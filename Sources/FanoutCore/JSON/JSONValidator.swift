/// Strict RFC 8259 validation of one JSON text, without building a tree.
///
/// Accepts any value at the top level with optional surrounding whitespace (space, tab, LF, CR) and
/// nothing after it. Strings must be well-formed UTF-8 without raw control characters (< 0x20) and may
/// only use the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; a `\u` escape of a high surrogate must be
/// followed directly by one of a low surrogate, and a low surrogate escape may not stand alone. Numbers
/// follow the grammar exactly (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, any magnitude). A byte
/// order mark is rejected.
///
/// The scan is a loop, not a recursion: open containers are remembered in a bit stack (1 = object,
/// 0 = array) of `maxDepth` bits at most, so `[[[[…` a hundred thousand levels deep is rejected as soon as it
/// opens level `maxDepth + 1`.
public enum JSONValidator {
    /// Returns whether `bytes` is exactly one valid JSON text.
    ///
    /// - Parameters:
    ///   - bytes: the candidate text; read only during the call.
    ///   - maxDepth: how many arrays/objects may be open at once; one level more makes the text invalid.
    ///     Default 512.
    public static func isValid(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
        // Every open container costs at least one byte, so the depth can never exceed the byte count.
        let depthLimit = max(0, min(maxDepth, bytes.count))
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: depthLimit / 64 + 1) { stack in
            stack.initialize(repeating: 0)
            return self.scan(base, end: bytes.count, maxDepth: depthLimit, stack: stack)
        }
    }

    /// Returns whether `bytes` is exactly one valid JSON text; same rules as the `UnsafeRawBufferPointer` overload.
    public static func isValid(_ bytes: [UInt8], maxDepth: Int = 512) -> Bool {
        bytes.withUnsafeBytes { self.isValid($0, maxDepth: maxDepth) }
    }

    // MARK: - Scanner

    /// The grammar loop: parse a value, then close containers / read separators until the next value
    /// starts or the text ends.
    ///
    /// Whether the innermost open container is an object is kept in `inObject` and read from the bit stack
    /// only when a container closes: read from the stack after every value, with the member names and strings
    /// scanned in functions of their own, the three answers of a `/overview` request (117 bytes) cost about
    /// 3,000 instructions (callgrind).
    private static func scan(
        _ p: UnsafeRawPointer,
        end: Int,
        maxDepth: Int,
        stack: UnsafeMutableBufferPointer<UInt64>
    ) -> Bool {
        var i = skipWhitespace(p, from: 0, end: end)
        var depth = 0
        var inObject = false

        value: while true {
            guard i < end else { return false }
            switch byte(p, i) {
            case UInt8(ascii: "\""):
                guard let next = stringBody(p, from: i + 1, end: end) else { return false }
                i = next
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let next = number(p, at: i, end: end) else { return false }
                i = next
            case UInt8(ascii: "{"):
                guard depth < maxDepth else { return false }
                stack[depth >> 6] |= 1 << UInt64(depth & 63)
                depth += 1
                inObject = true
                i = skipWhitespace(p, from: i + 1, end: end)
                guard i < end else { return false }
                // `{}` is a complete value whose closing brace is read below; else a member follows.
                if byte(p, i) != UInt8(ascii: "}") {
                    guard let next = memberName(p, at: i, end: end) else { return false }
                    i = next
                    continue value
                }
            case UInt8(ascii: "["):
                guard depth < maxDepth else { return false }
                stack[depth >> 6] &= ~(1 << UInt64(depth & 63))
                depth += 1
                inObject = false
                i = skipWhitespace(p, from: i + 1, end: end)
                guard i < end else { return false }
                // `[]` is a complete value whose closing bracket is read below; else an element follows.
                if byte(p, i) != UInt8(ascii: "]") { continue value }
            case UInt8(ascii: "t"):
                guard literal(p, at: i, end: end, "true") else { return false }
                i += 4
            case UInt8(ascii: "f"):
                guard literal(p, at: i, end: end, "false") else { return false }
                i += 5
            case UInt8(ascii: "n"):
                guard literal(p, at: i, end: end, "null") else { return false }
                i += 4
            default:
                return false
            }

            // A value is complete: close containers until a ',' asks for the next value.
            while true {
                i = skipWhitespace(p, from: i, end: end)
                guard i < end else { return depth == 0 }
                guard depth > 0 else { return false }
                let c = byte(p, i)
                if c == UInt8(ascii: ",") {
                    i = skipWhitespace(p, from: i + 1, end: end)
                    if inObject {
                        guard i < end, let next = memberName(p, at: i, end: end) else { return false }
                        i = next
                    }
                    continue value
                }
                guard c == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { return false }
                depth -= 1
                i += 1
                if depth > 0 {
                    let top = depth - 1
                    inObject = stack[top >> 6] & (1 << UInt64(top & 63)) != 0
                }
            }
        }
    }

    @inline(__always)
    private static func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 {
        p.load(fromByteOffset: i, as: UInt8.self)
    }

    @inline(__always)
    private static func skipWhitespace(_ p: UnsafeRawPointer, from start: Int, end: Int) -> Int {
        var i = start
        while i < end {
            switch byte(p, i) {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    /// Reads `"name" :` plus the whitespace after the colon, starting at the opening quote.
    /// - Returns: the index where the member's value starts, or nil.
    @inline(__always)
    private static func memberName(_ p: UnsafeRawPointer, at start: Int, end: Int) -> Int? {
        guard byte(p, start) == UInt8(ascii: "\""), let afterName = stringBody(p, from: start + 1, end: end) else {
            return nil
        }
        let colon = skipWhitespace(p, from: afterName, end: end)
        guard colon < end, byte(p, colon) == UInt8(ascii: ":") else { return nil }
        return skipWhitespace(p, from: colon + 1, end: end)
    }

    private static func literal(_ p: UnsafeRawPointer, at start: Int, end: Int, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard end - start >= count else { return false }
        let expected = word.utf8Start
        for k in 0..<count where byte(p, start + k) != expected[k] {
            return false
        }
        return true
    }

    // MARK: - Strings

    /// Scans string contents after the opening quote.
    /// - Returns: the index just past the closing quote, or nil if the string is invalid or unterminated.
    ///
    /// Inlined for its plain-ASCII loop; escapes and multi-byte sequences are read in ``stringEscapeOrSequence``.
    @inline(__always)
    private static func stringBody(_ p: UnsafeRawPointer, from start: Int, end: Int) -> Int? {
        var i = start
        while i < end {
            let c = byte(p, i)
            // Printable ASCII (0x20 ..< 0x80) other than a quote and a backslash: one range check and two comparisons.
            if c &- 0x20 < 0x60 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if c == UInt8(ascii: "\"") { return i + 1 }
            guard let next = stringEscapeOrSequence(p, at: i, end: end) else { return nil }
            i = next
        }
        return nil
    }

    /// Reads the escape or the UTF-8 sequence at `start` (a string's byte that is a backslash, a control character
    /// or ≥ 0x80).
    /// - Returns: the index after it, or nil when it is invalid (a control character always is).
    private static func stringEscapeOrSequence(_ p: UnsafeRawPointer, at start: Int, end: Int) -> Int? {
        var i = start
        let c = byte(p, i)
        if c >= 0x80 {
            let length = UTF8Sequence.length(p, at: i, end: end)
            return length > 0 ? i + length : nil
        }
        guard c == UInt8(ascii: "\\"), i + 1 < end else { return nil }
        switch byte(p, i + 1) {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"),
            UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return i + 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(p, at: i + 2, end: end) else { return nil }
            i += 6
            if unit >= 0xDC00 && unit <= 0xDFFF { return nil }  // low surrogate first
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard end - i >= 6, byte(p, i) == UInt8(ascii: "\\"), byte(p, i + 1) == UInt8(ascii: "u"),
                    let low = hex4(p, at: i + 2, end: end), low >= 0xDC00 && low <= 0xDFFF
                else { return nil }
                i += 6
            }
            return i
        default:
            return nil
        }
    }

    /// Reads four hex digits (either case) as a UTF-16 code unit.
    /// The value of the four hex digits at `start`, or nil. Shared with the tree parser.
    static func hex4(_ p: UnsafeRawPointer, at start: Int, end: Int) -> UInt32? {
        guard end - start >= 4 else { return nil }
        var value: UInt32 = 0
        for k in 0..<4 {
            let c = byte(p, start + k)
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    // MARK: - Numbers

    /// Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` starting at `start`.
    /// - Returns: the index after the number, or nil. What follows is checked by the caller's grammar.
    private static func number(_ p: UnsafeRawPointer, at start: Int, end: Int) -> Int? {
        var i = start
        if byte(p, i) == UInt8(ascii: "-") { i += 1 }
        guard i < end else { return nil }
        switch byte(p, i) {
        case UInt8(ascii: "0"):
            i += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            i = digits(p, from: i + 1, end: end)
        default:
            return nil
        }
        if i < end && byte(p, i) == UInt8(ascii: ".") {
            let fractionStart = i + 1
            i = digits(p, from: fractionStart, end: end)
            guard i > fractionStart else { return nil }
        }
        if i < end && (byte(p, i) | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < end && (byte(p, i) == UInt8(ascii: "+") || byte(p, i) == UInt8(ascii: "-")) { i += 1 }
            let exponentStart = i
            i = digits(p, from: exponentStart, end: end)
            guard i > exponentStart else { return nil }
        }
        return i
    }

    @inline(__always)
    private static func digits(_ p: UnsafeRawPointer, from start: Int, end: Int) -> Int {
        var i = start
        while i < end && byte(p, i) &- UInt8(ascii: "0") < 10 { i += 1 }
        return i
    }
}
