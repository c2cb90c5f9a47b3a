extension JSONValue {
    /// Appends the compact serialization of `self` (no whitespace) to `writer`.
    ///
    /// Strings and keys are escaped minimally: `\"`, `\\` and control characters (`\n \r \t \b \f`, otherwise
    /// `\u00XX`); everything else, non-ASCII included, is written as UTF-8. Numbers are written as their stored
    /// text, so every digit of the parsed input comes back unchanged. Members keep their order.
    ///
    /// Writing recurses once per nesting level; trees from ``init(parsing:maxDepth:)-([UInt8],_)`` are bounded
    /// by its `maxDepth`.
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null:
            writer.append("null")
        case .bool(let b):
            writer.append(b ? "true" : "false")
        case .number(let text):
            Self.appendVerbatim(text, to: &writer)
        case .string(let s):
            Self.appendQuoted(s, to: &writer)
        case .array(let elements):
            writer.bytes.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { writer.bytes.append(UInt8(ascii: ",")) }
                first = false
                element.write(to: &writer)
            }
            writer.bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            writer.bytes.append(UInt8(ascii: "{"))
            var first = true
            for member in members {
                if !first { writer.bytes.append(UInt8(ascii: ",")) }
                first = false
                Self.appendQuoted(member.key, to: &writer)
                writer.bytes.append(UInt8(ascii: ":"))
                member.value.write(to: &writer)
            }
            writer.bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Appends the UTF-8 bytes of `text` unchanged.
    @inline(__always)
    static func appendVerbatim(_ text: String, to writer: inout JSONWriter) {
        var text = text
        text.withUTF8 { writer.bytes.append(contentsOf: $0) }
    }

    /// Appends `s` as a JSON string. Strings without anything to escape (no `"`, `\` or control character,
    /// checked eight bytes at a time) are copied in one piece; the others go through `JSONWriter.appendString`.
    @inline(__always)
    static func appendQuoted(_ s: String, to writer: inout JSONWriter) {
        var s = s
        s.withUTF8 { utf8 in
            if Self.needsEscaping(utf8) {
                writer.appendString(utf8)
            } else {
                writer.bytes.append(UInt8(ascii: "\""))
                writer.bytes.append(contentsOf: utf8)
                writer.bytes.append(UInt8(ascii: "\""))
            }
        }
    }

    /// Whether `utf8` contains `"`, `\` or a control character.
    @inline(__always)
    static func needsEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = utf8.baseAddress else { return false }
        let raw = UnsafeRawPointer(base)
        let count = utf8.count
        var j = 0
        let ones: UInt64 = 0x0101_0101_0101_0101
        while j + 8 <= count {
            let w = raw.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            let quotes = w ^ (ones &* 0x22)
            let slashes = w ^ (ones &* 0x5C)
            let special = ((quotes &- ones) & ~quotes) | ((slashes &- ones) & ~slashes) | ((w &- ones &* 0x20) & ~w)
            if special & 0x8080_8080_8080_8080 != 0 { return true }
            j += 8
        }
        while j < count {
            let c = base[j]
            if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return true }
            j += 1
        }
        return false
    }

    /// The compact serialization of `self`, as ``write(to:)`` produces it.
    public var serialized: [UInt8] {
        var writer = JSONWriter(capacity: 1024)
        self.write(to: &writer)
        return writer.bytes
    }
}
