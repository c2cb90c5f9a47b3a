/// Appends JSON syntax to a growing byte buffer: strings (quoted and escaped), numbers, literals and
/// already-valid JSON copied verbatim.
///
/// The writer does not track structure; the caller emits `{`, `,`, `:` itself. Every method appends
/// bytes in place, with no intermediate `String`.
public struct JSONWriter {
    /// Everything written so far.
    public var bytes: [UInt8]

    /// Creates an empty writer whose buffer has room for `capacity` bytes before it must grow.
    public init(capacity: Int = 256) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
    }

    // MARK: - Strings

    /// Appends `utf8` as a quoted JSON string.
    ///
    /// `"` and `\` are backslash-escaped; control characters use `\n \r \t \b \f` or `\u00XX`; every
    /// ill-formed UTF-8 sequence is replaced by U+FFFD (one per maximal subpart, as Unicode recommends).
    /// All other bytes, including non-ASCII characters and `/`, are copied as they are.
    public mutating func appendString<C: Collection>(_ utf8: C) where C.Element == UInt8 {
        let done: Void? = utf8.withContiguousStorageIfAvailable { self.appendEscaped($0) }
        if done == nil {
            let copy = Array(utf8)
            copy.withUnsafeBufferPointer { self.appendEscaped($0) }
        }
    }

    /// Appends `s` as a quoted JSON string, escaped like the byte-collection overload.
    public mutating func appendString(_ s: String) {
        var s = s
        s.withUTF8 { self.appendEscaped($0) }
    }

    private mutating func appendEscaped(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.bytes.append(UInt8(ascii: "\""))
        if let base = buffer.baseAddress {
            let end = buffer.count
            var runStart = 0  // bytes[runStart..<i] need no escaping and are copied in one go
            var i = 0
            while i < end {
                let c = base[i]
                if c >= 0x20 && c < 0x80 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                    i += 1
                    continue
                }
                if c >= 0x80 {
                    let length = UTF8Sequence.length(UnsafeRawPointer(base), at: i, end: end)
                    if length > 0 {
                        i += length
                        continue
                    }
                    self.bytes.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: i - runStart))
                    self.appendReplacementCharacter()
                    i -= length
                    runStart = i
                    continue
                }
                self.bytes.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: i - runStart))
                self.appendEscape(for: c)
                i += 1
                runStart = i
            }
            self.bytes.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: end - runStart))
        }
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// Appends U+FFFD REPLACEMENT CHARACTER (`EF BF BD` in UTF-8).
    @inline(__always)
    private mutating func appendReplacementCharacter() {
        self.bytes.append(0xEF)
        self.bytes.append(0xBF)
        self.bytes.append(0xBD)
    }

    /// Appends the escape for `"`, `\` or a control character.
    private mutating func appendEscape(for c: UInt8) {
        let short: UInt8
        switch c {
        case UInt8(ascii: "\""): short = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): short = UInt8(ascii: "\\")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        default:
            let hex: StaticString = "0123456789abcdef"
            let digits = hex.utf8Start
            self.append("\\u00")
            self.bytes.append(digits[Int(c >> 4)])
            self.bytes.append(digits[Int(c & 0x0F)])
            return
        }
        self.bytes.append(UInt8(ascii: "\\"))
        self.bytes.append(short)
    }

    // MARK: - Raw JSON, literals, numbers

    /// Appends `bytes` unchanged. The caller guarantees they are valid JSON (for example, checked with
    /// ``JSONValidator``).
    public mutating func appendRaw(_ bytes: some Collection<UInt8>) {
        self.bytes.append(contentsOf: bytes)
    }

    /// Appends a literal piece of syntax such as `{`, `,"name":` or `null`.
    ///
    /// Inlined, so that a one-byte literal (`{`, `,`, `:`) is appended as a byte: through
    /// `append(contentsOf:)` each cost about 90 instructions, eight of them in a three-call answer (callgrind).
    @inline(__always)
    public mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { utf8 in
            if utf8.count == 1 {
                self.bytes.append(utf8[0])
            } else {
                self.bytes.append(contentsOf: utf8)
            }
        }
    }

    /// Appends `v` in decimal, with a leading `-` when negative (`Int.min` included).
    public mutating func appendInt(_ v: Int) {
        if v < 0 { self.bytes.append(UInt8(ascii: "-")) }
        self.appendDecimal(v.magnitude)
    }

    /// Appends a duration in milliseconds rounded to one decimal, always written with exactly one
    /// fractional digit (`12.3`, `400.0`, `-0.5`).
    ///
    /// Never uses an exponent: NaN is written as `0.0` and values beyond ±10^15 ms are clamped, so the
    /// output is always a valid JSON number.
    public mutating func appendDouble(milliseconds: Double) {
        let value = Self.tenths(milliseconds: milliseconds)
        if value < 0 { self.bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        self.appendDecimal(magnitude / 10)
        self.bytes.append(UInt8(ascii: "."))
        self.bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10))
    }

    /// `milliseconds` in tenths, rounded half away from zero, NaN as 0, clamped to ±10^16 tenths: the number
    /// ``appendDouble(milliseconds:)`` writes (also written by the stitcher's `Server-Timing`).
    static func tenths(milliseconds: Double) -> Int {
        let limit = 1e16  // tenths of a millisecond; fits Int comfortably
        var tenths = milliseconds * 10
        if tenths.isNaN { tenths = 0 }
        tenths = min(max(tenths, -limit), limit)
        // Round half away from zero by hand: `Double.rounded()` lowers to libm's `round`, which this
        // dependency-free module would otherwise need at link time. `tenths - Double(value)` is exact here.
        var value = Int(tenths)
        let fraction = tenths - Double(value)
        if fraction >= 0.5 {
            value += 1
        } else if fraction <= -0.5 {
            value -= 1
        }
        return value
    }

    /// Appends the digits of `value`, most significant first.
    private mutating func appendDecimal(_ value: UInt) {
        let start = self.bytes.count
        var rest = value
        repeat {
            self.bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10))
            rest /= 10
        } while rest > 0
        var low = start
        var high = self.bytes.count - 1
        while low < high {
            self.bytes.swapAt(low, high)
            low += 1
            high -= 1
        }
    }
}
