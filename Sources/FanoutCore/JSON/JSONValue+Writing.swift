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
            writer.appendRaw(text.utf8)
        case .string(let s):
            writer.appendString(s)
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
                writer.appendString(member.key)
                writer.bytes.append(UInt8(ascii: ":"))
                member.value.write(to: &writer)
            }
            writer.bytes.append(UInt8(ascii: "}"))
        }
    }

    /// The compact serialization of `self`, as ``write(to:)`` produces it.
    public var serialized: [UInt8] {
        var writer = JSONWriter(capacity: 1024)
        self.write(to: &writer)
        return writer.bytes
    }
}
