/// A parsed JSON value: the tree that shaping, path selection and deep merging work on.
///
/// - Numbers keep their text exactly as written (`12345678901234567890`, `0.1`, `-0`, `1e400`, `1.0E-7`): they
///   are never converted to a binary number, so writing a value back reproduces every digit.
/// - Strings are decoded: escapes are resolved and `\uD83D\uDE00`-style surrogate pairs joined into one scalar.
/// - Objects keep their members in document order with unique keys. A text that repeats a key is read like
///   JavaScript's `JSON.parse` does: the *last* value wins, stored at the position of the key's *first*
///   occurrence (`{"a":1,"b":2,"a":3}` reads as `a:3, b:2`).
///
/// Keys and strings are compared by their exact Unicode scalars (their UTF-8 bytes), as JSON does, never by
/// Swift's canonical equivalence: `"é"` (U+00E9) and `"e\u0301"` are different keys and different strings.
/// `==` follows the same rule, compares numbers by their text (`1.0` ≠ `1`), and objects member by member in order.
///
/// The payloads are stored inline (arrays and objects are Swift arrays, which already live on the heap), so a
/// scalar costs no allocation of its own; ``JSONValue`` is therefore not declared `indirect`.
public enum JSONValue: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// The number's text exactly as written, e.g. `"12345678901234567890"`, `"0.1"`, `"-1.5E+3"`.
    case number(String)
    /// The decoded string (escapes resolved, surrogate pairs joined).
    case string(String)
    /// Elements in document order.
    case array([JSONValue])
    /// Members in document order; keys are unique.
    case object([JSONMember])
}

/// One member of a JSON object.
public struct JSONMember: Sendable, Equatable {
    /// The decoded key.
    public var key: String
    /// The member's value.
    public var value: JSONValue

    /// A member named `key` (any string; it is escaped when written).
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }

    /// Keys compare by their UTF-8 bytes (see ``JSONValue``), values with ``JSONValue``'s `==`.
    public static func == (lhs: JSONMember, rhs: JSONMember) -> Bool {
        JSONKey.equal(lhs.key, rhs.key) && lhs.value == rhs.value
    }
}

/// Why a text is not one valid JSON text.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the problem, counted from the first byte given to the parser (the end of the input for a
    /// text that stops too early).
    public var offset: Int
    /// What is wrong, in a few words, e.g. `"unterminated string"`.
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(self.message) at byte \(self.offset)" }
}

extension JSONValue: Equatable {
    /// Structural equality: same case, strings and keys with the same UTF-8 bytes, numbers with the same text,
    /// arrays element by element, objects member by member in order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return JSONKey.equal(a, b)
        case (.string(let a), .string(let b)): return JSONKey.equal(a, b)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JSONValue {
    /// The text a scalar contributes to a URL or header template: a string's decoded text, a number's text as
    /// written, `"true"`/`"false"`; nil for `null`, arrays and objects.
    public var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }

    /// The value of the member named `key` (compared by UTF-8 bytes); nil when `self` is not an object or has
    /// no such member.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for member in members where JSONKey.equal(member.key, key) {
            return member.value
        }
        return nil
    }

    /// The element at `index`; nil when `self` is not an array or the index is out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, index >= 0, index < elements.count else { return nil }
        return elements[index]
    }
}
