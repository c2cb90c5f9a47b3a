import Testing

@testable import FanoutCore

@Suite struct JSONPathTests {
    static let accepted: [(text: String, steps: [JSONPath.Step])] = [
        ("name", [.key("name")]),
        ("a.b.c", [.key("a"), .key("b"), .key("c")]),
        ("items[0].id", [.key("items"), .index(0), .key("id")]),
        ("items[].id", [.key("items"), .each, .key("id")]),
        ("[]", [.each]),
        ("[2]", [.index(2)]),
        ("a.b[]", [.key("a"), .key("b"), .each]),
        ("a[1][]", [.key("a"), .index(1), .each]),
        ("[][0].x", [.each, .index(0), .key("x")]),
        (
            "$ref.@type.snake_case.kebab-case.X9",
            [.key("$ref"), .key("@type"), .key("snake_case"), .key("kebab-case"), .key("X9")]
        ),
        ("a[10]", [.key("a"), .index(10)]),
        ("0", [.key("0")]),
    ]

    @Test(arguments: Self.accepted)
    func parsesAndRoundTrips(_ example: (text: String, steps: [JSONPath.Step])) throws {
        let path = try JSONPath(parsing: example.text)
        #expect(path.steps == example.steps)
        #expect(path.description == example.text)
        #expect(try JSONPath(parsing: path.description) == path)
    }

    static let rejected: [(text: String, offset: Int, message: String)] = [
        ("", 0, "empty path"),
        ("a..b", 2, "expected a field name after '.', not '.'"),
        (".a", 0, "expected a field name or '[', not '.'"),
        ("a.", 2, "expected a field name after '.'"),
        ("[x]", 1, "expected an array index (0, 1, …) or ']' after '[', not 'x'"),
        ("[-1]", 1, "expected an array index (0, 1, …) or ']' after '[', not '-'"),
        ("a[", 2, "unclosed '[' (expected an index or ']')"),
        ("a[1", 3, "unclosed '[' at offset 1 (expected ']')"),
        ("a[1x]", 3, "expected ']' after the array index, not 'x'"),
        ("a[01]", 2, "array index may not have leading zeros"),
        ("a[99999999999999999999]", 2, "array index is too large"),
        ("a[0]b", 4, "expected '.' or '[' after ']'"),
        ("a b", 1, "' ' may not appear in a field name (letters, digits, '_', '-', '$', '@')"),
        ("café", 3, "'é' may not appear in a field name (letters, digits, '_', '-', '$', '@')"),
        ("a.é", 2, "expected a field name after '.', not 'é'"),
        ("a.[0]", 2, "expected a field name after '.', not '['"),
        ("]", 0, "expected a field name or '[', not ']'"),
    ]

    @Test(arguments: Self.rejected)
    func rejectsWithOffsetAndMessage(_ example: (text: String, offset: Int, message: String)) {
        #expect(throws: JSONPathError(offset: example.offset, message: example.message)) {
            try JSONPath(parsing: example.text)
        }
    }

    // MARK: - select

    static let document = #"""
        {"id":7,"name":"x","price":{"amount":5,"cur":"EUR"},
         "items":[{"id":1,"tags":["a","b"]},{"id":2},{"name":"no id"},3,[{"id":4}]],
         "matrix":[[1,2],[3,4]],"empty":[]}
        """#

    static let selections: [(path: String, result: String?)] = [
        ("id", "7"), ("price.amount", "5"), ("price", #"{"amount":5,"cur":"EUR"}"#), ("price.missing", nil),
        ("id.x", nil), ("missing", nil), ("items[0].id", "1"), ("items[1]", #"{"id":2}"#), ("items[9]", nil),
        ("items[0].tags[1]", #""b""#),
        // Implicit projection over an array; elements without the rest of the path are skipped, nested arrays
        // are projected again (and a projection always exists, possibly empty).
        ("items.id", "[1,2,[4]]"), ("items[].id", "[1,2,[4]]"), ("items.tags", #"[["a","b"],[]]"#),
        ("items[]", #"[{"id":1,"tags":["a","b"]},{"id":2},{"name":"no id"},3,[{"id":4}]]"#),
        ("matrix[][0]", "[1,3]"), ("matrix[1][0]", "3"), ("matrix[]", "[[1,2],[3,4]]"), ("empty[]", "[]"),
        ("empty.id", "[]"), ("items.missing", "[[]]"),
        ("[]", nil), ("[0]", nil), ("price[]", nil), ("name[0]", nil),
    ]

    @Test(arguments: Self.selections)
    func selects(_ example: (path: String, result: String?)) throws {
        let value = try J.parse(Self.document)
        let selected = value.select(try J.path(example.path))
        #expect(selected.map(J.text) == example.result)
    }

    @Test func selectsOnTopLevelArrays() throws {
        let value = try J.parse(#"[{"id":1},{"id":2},{"x":3}]"#)
        #expect(value.select(try J.path("[]")).map(J.text) == #"[{"id":1},{"id":2},{"x":3}]"#)
        #expect(value.select(try J.path("[].id")).map(J.text) == "[1,2]")
        #expect(value.select(try J.path("id")).map(J.text) == "[1,2]")
        #expect(value.select(try J.path("[2].x")).map(J.text) == "3")
        #expect(value.select(JSONPath(steps: [])) == value)
    }

    @Test func selectsByDecodedKey() throws {
        let value = try J.parse(#"{"a\u002db":1,"caf\u00e9":2}"#)
        #expect(value.select(try J.path("a-b")) == .number("1"))
        #expect(value.select(JSONPath(steps: [.key("café")])) == .number("2"))
        #expect(value.select(JSONPath(steps: [.key("cafe\u{301}")])) == nil)
    }
}
