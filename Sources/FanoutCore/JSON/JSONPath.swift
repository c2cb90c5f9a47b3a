/// A path into a JSON value, as written in the configuration: `name`, `a.b.c`, `items[0].id`, `items[].id`, `[]`,
/// `[2]`, `a.b[]`.
///
/// A key is one or more ASCII letters, digits, `_`, `-`, `$` or `@`. `[N]` (a non-negative decimal integer
/// without leading zeros) indexes an array; `[]` maps over every element.
///
/// Paths *reach through* arrays: a key step applied to an array applies to each element, as if `[]` preceded
/// it. See ``JSONValue/select(_:)``.
public struct JSONPath: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Step: Sendable, Equatable, Hashable {
        /// An object member, by decoded key.
        case key(String)
        /// An array element, from 0.
        case index(Int)
        /// Every element of an array (`[]`).
        case each
    }

    public var steps: [Step]

    /// A path made of `steps` (not checked against the syntax: ``description`` only round-trips when every key
    /// is made of the key characters).
    public init(steps: [Step]) {
        self.steps = steps
    }

    /// Parses the path syntax.
    /// - Throws: ``JSONPathError`` with the UTF-8 offset of the offending character in `text` (its length at
    ///   the end of the text).
    public init(parsing text: String) throws(JSONPathError) {
        var parser = JSONPathParser(text)
        self.steps = try parser.parse()
    }

    /// The path in its syntax; `JSONPath(parsing: path.description)` gives back `path`.
    public var description: String {
        var text = ""
        for (position, step) in self.steps.enumerated() {
            switch step {
            case .key(let name):
                if position > 0 { text += "." }
                text += name
            case .index(let n):
                text += "[\(n)]"
            case .each:
                text += "[]"
            }
        }
        return text
    }
}

/// Why a path does not parse.
public struct JSONPathError: Error, Sendable, Equatable, CustomStringConvertible {
    /// UTF-8 offset of the offending character in the path text (the text's length when it ends too early).
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(self.message) (at offset \(self.offset))" }
}

/// The path grammar: `path := (key | bracket) ('.' key | bracket)*`, `bracket := '[' digits? ']'`.
private struct JSONPathParser {
    let bytes: [UInt8]
    var i = 0

    init(_ text: String) {
        self.bytes = Array(text.utf8)
    }

    static func isKeyByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "$"),
            UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    mutating func parse() throws(JSONPathError) -> [JSONPath.Step] {
        guard !self.bytes.isEmpty else { throw JSONPathError(offset: 0, message: "empty path") }
        var steps: [JSONPath.Step] = []
        if self.bytes[0] == UInt8(ascii: "[") {
            steps.append(try self.bracket())
        } else if self.bytes[0] == UInt8(ascii: ".") {
            throw JSONPathError(offset: 0, message: "expected a field name or '[', not '.'")
        } else {
            steps.append(try self.key(after: nil))
        }
        while self.i < self.bytes.count {
            switch self.bytes[self.i] {
            case UInt8(ascii: "."):
                self.i += 1
                steps.append(try self.key(after: "'.'"))
            case UInt8(ascii: "["):
                steps.append(try self.bracket())
            default:
                throw JSONPathError(offset: self.i, message: "expected '.' or '[' after \(self.describePrevious())")
            }
        }
        return steps
    }

    private func describePrevious() -> String {
        self.bytes[self.i - 1] == UInt8(ascii: "]") ? "']'" : "a field name"
    }

    /// Reads a key at `i`.
    private mutating func key(after what: String?) throws(JSONPathError) -> JSONPath.Step {
        let start = self.i
        while self.i < self.bytes.count && Self.isKeyByte(self.bytes[self.i]) { self.i += 1 }
        guard self.i > start else {
            let message: String
            if let what {
                message = "expected a field name after \(what)"
            } else {
                message = "expected a field name or '['"
            }
            throw JSONPathError(
                offset: start, message: self.i < self.bytes.count ? message + ", not \(self.quoted(start))" : message)
        }
        // A character that can neither continue the key nor follow it.
        if self.i < self.bytes.count && self.bytes[self.i] != UInt8(ascii: ".")
            && self.bytes[self.i] != UInt8(ascii: "[")
        {
            throw JSONPathError(
                offset: self.i,
                message: "\(self.quoted(self.i)) may not appear in a field name (letters, digits, '_', '-', '$', '@')"
            )
        }
        return .key(String(decoding: self.bytes[start..<self.i], as: UTF8.self))
    }

    /// Reads `[]` or `[N]` at `i` (the `[`).
    private mutating func bracket() throws(JSONPathError) -> JSONPath.Step {
        let open = self.i
        self.i += 1
        guard self.i < self.bytes.count else {
            throw JSONPathError(offset: self.i, message: "unclosed '[' (expected an index or ']')")
        }
        if self.bytes[self.i] == UInt8(ascii: "]") {
            self.i += 1
            return .each
        }
        let start = self.i
        var value = 0
        while self.i < self.bytes.count, self.bytes[self.i] &- UInt8(ascii: "0") < 10 {
            let digit = Int(self.bytes[self.i] &- UInt8(ascii: "0"))
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(digit)
            guard !o1 && !o2 else { throw JSONPathError(offset: start, message: "array index is too large") }
            value = sum
            self.i += 1
        }
        guard self.i > start else {
            throw JSONPathError(
                offset: start,
                message: "expected an array index (0, 1, …) or ']' after '[', not \(self.quoted(start))"
            )
        }
        if self.bytes[start] == UInt8(ascii: "0") && self.i - start > 1 {
            throw JSONPathError(offset: start, message: "array index may not have leading zeros")
        }
        guard self.i < self.bytes.count else {
            throw JSONPathError(offset: self.i, message: "unclosed '[' at offset \(open) (expected ']')")
        }
        guard self.bytes[self.i] == UInt8(ascii: "]") else {
            throw JSONPathError(
                offset: self.i, message: "expected ']' after the array index, not \(self.quoted(self.i))")
        }
        self.i += 1
        return .index(value)
    }

    /// The character starting at `offset`, quoted for a message.
    private func quoted(_ offset: Int) -> String {
        var end = offset + 1
        while end < self.bytes.count && self.bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'" + String(decoding: self.bytes[offset..<end], as: UTF8.self) + "'"
    }
}
