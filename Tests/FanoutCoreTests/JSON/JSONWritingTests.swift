import Testing

@testable import FanoutCore

@Suite struct JSONWritingTests {
    @Test func serializesCompactly() throws {
        let text = """
            {
              "id" : 12345678901234567890, "price": { "amount": 0.1, "exp": 1.0E-7, "big": 1e400, "neg": -0 },
              "name": "caf\\u00e9 \\"quoted\\" back\\\\slash \\/ tab\\t nl\\n nul\\u0000 \\u001f del\\u007f",
              "list": [ true, false, null, [ ], { } ]
            }
            """
        #expect(
            try J.compact(text)
                == #"{"id":12345678901234567890,"price":{"amount":0.1,"exp":1.0E-7,"big":1e400,"neg":-0},"#
                + #""name":"café \"quoted\" back\\slash / tab\t nl\n nul\u0000 \u001f del"# + "\u{7F}" + #"","#
                + #""list":[true,false,null,[],{}]}"#
        )
    }

    @Test func escapesMinimally() {
        let value = JSONValue.object([
            JSONMember(key: "k\"\\\n", value: .string("\u{08}\u{0C}\r\t\u{01}é😀/<>"))
        ])
        #expect(J.text(value) == #"{"k\"\\\n":"\b\f\r\t\u0001é😀/<>"}"#)
    }

    @Test func escapesSpecialsAtEveryAlignment() throws {
        // The writer and the parser both scan eight bytes at a time; put each special at every position.
        let specials: [(raw: String, escaped: String)] = [
            ("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\u{01}", #"\u0001"#), ("\u{1F}", #"\u001f"#),
            ("é", "é"), ("😀", "😀"), ("\u{7F}", "\u{7F}"),
        ]
        for special in specials {
            for position in 0..<20 {
                let prefix = String(repeating: "a", count: position)
                let suffix = String(repeating: "b", count: 19 - position)
                let value = JSONValue.object([
                    JSONMember(key: prefix + special.raw, value: .string(special.raw + suffix))
                ])
                let expected = "{\"" + prefix + special.escaped + "\":\"" + special.escaped + suffix + "\"}"
                #expect(J.text(value) == expected)
                #expect(try JSONValue(parsing: value.serialized) == value)
            }
        }
    }

    @Test func roundTripsValuesBuiltInCode() throws {
        let values: [JSONValue] = [
            .null, .bool(true), .number("-1.5E+3"), .string(""), .string("\u{0}\u{1F}\"\\"), .array([]),
            .object([]),
            .array([.array([.array([])]), .object([JSONMember(key: "", value: .string("é"))])]),
            .object([
                JSONMember(key: "b", value: .number("1")), JSONMember(key: "a", value: .array([.null, .bool(false)])),
            ]),
        ]
        for value in values {
            let bytes = value.serialized
            #expect(JSONValidator.isValid(bytes))
            #expect(try JSONValue(parsing: bytes) == value)
        }
    }

    @Test func writesIntoAnExistingWriter() {
        var writer = JSONWriter()
        writer.append("{\"call\":")
        JSONValue.array([.number("1"), .string("x")]).write(to: &writer)
        writer.append("}")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"call":[1,"x"]}"#)
    }

    @Test func scalarText() throws {
        #expect(JSONValue.string("a b/é").scalarText == "a b/é")
        #expect(try J.parse(#""caf\u00e9""#).scalarText == "café")
        #expect(try J.parse("12345678901234567890").scalarText == "12345678901234567890")
        #expect(try J.parse("-1.0e-7").scalarText == "-1.0e-7")
        #expect(JSONValue.bool(true).scalarText == "true")
        #expect(JSONValue.bool(false).scalarText == "false")
        #expect(JSONValue.null.scalarText == nil)
        #expect(JSONValue.array([.number("1")]).scalarText == nil)
        #expect(JSONValue.object([]).scalarText == nil)
    }

    @Test func subscripts() throws {
        let value = try J.parse(#"{"a":{"b":[10,20]},"c":null}"#)
        #expect(value["a"]?["b"]?[1] == .number("20"))
        #expect(value["c"] == .null)
        #expect(value["missing"] == nil)
        #expect(value["a"]?["b"]?[2] == nil)
        #expect(value["a"]?["b"]?[-1] == nil)
        #expect(JSONValue.array([]).self["a"] == nil)
        #expect(JSONValue.number("1")[0] == nil)
    }
}
