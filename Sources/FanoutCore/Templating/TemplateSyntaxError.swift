/// A route path or upstream URL template that cannot be parsed.
public struct TemplateSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// UTF-8 offset into the template string of the offending character; the config parser adds it to the
    /// template token's column.
    public var offset: Int
    /// What is wrong and what was expected.
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "offset \(self.offset): \(self.message)" }
}

/// Shared checks for placeholder names in `PathTemplate` and `URLTemplate`.
enum TemplateName {
    /// Route parameter names: `[A-Za-z_][A-Za-z0-9_]*`.
    static func isValidParameter<Bytes: Collection<UInt8>>(_ name: Bytes) -> Bool {
        guard let first = name.first else { return false }
        guard isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return name.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// Query parameter names in `{query.NAME}`: unreserved characters plus `[` and `]` (`ids[]`).
    static func isValidQueryName<Bytes: Collection<UInt8>>(_ name: Bytes) -> Bool {
        !name.isEmpty
            && name.allSatisfy {
                PercentCoding.isUnreserved($0) || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
            }
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
