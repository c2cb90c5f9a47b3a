import Testing

@testable import FanoutCore

/// Helpers shared by the JSON layer tests.
enum J {
    /// Parses `text`, failing the test on error.
    static func parse(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> JSONValue {
        do {
            return try JSONValue(parsing: Array(text.utf8))
        } catch {
            Issue.record("parse failed: \(error) for \(text)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// The parse error for `bytes`, or nil when they parse.
    static func parseError(_ bytes: [UInt8], maxDepth: Int = 512) -> JSONParseError? {
        do {
            _ = try JSONValue(parsing: bytes, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    /// The compact serialization as text.
    static func text(_ value: JSONValue) -> String {
        String(decoding: value.serialized, as: UTF8.self)
    }

    /// Parses and re-serializes `text`.
    static func compact(_ text: String) throws -> String {
        Self.text(try JSONValue(parsing: Array(text.utf8)))
    }

    static func path(_ text: String) throws -> JSONPath {
        try JSONPath(parsing: text)
    }

    static func paths(_ texts: String...) throws -> [JSONPath] {
        try texts.map { try JSONPath(parsing: $0) }
    }
}
