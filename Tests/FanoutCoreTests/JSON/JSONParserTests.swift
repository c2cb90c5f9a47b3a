import Testing

@testable import FanoutCore

@Suite struct JSONParserTests {
    // MARK: - Values

    @Test func parsesEveryKindOfValue() throws {
        #expect(try J.parse("null") == .null)
        #expect(try J.parse("true") == .bool(true))
        #expect(try J.parse("false") == .bool(false))
        #expect(try J.parse("-12.5e3") == .number("-12.5e3"))
        #expect(try J.parse(#""hi""#) == .string("hi"))
        #expect(try J.parse("[]") == .array([]))
        #expect(try J.parse("{}") == .object([]))
        #expect(
            try J.parse(#"{"a":[1,"x",null,{"b":false}],"c":{}}"#)
                == .object([
                    JSONMember(
                        key: "a",
                        value: .array([
                            .number("1"), .string("x"), .null, .object([JSONMember(key: "b", value: .bool(false))]),
                        ])
                    ),
                    JSONMember(key: "c", value: .object([])),
                ])
        )
    }

    /// Containers up to `JSONBuildStack.smallContainer` elements are moved element by element, larger ones in
    /// one block: both sides of the boundary keep every element, in order, with nested containers intact.
    @Test(arguments: [0, 1, 15, 16, 17, 40])
    func keepsEveryElementOfAContainerOfAnySize(_ count: Int) throws {
        let elements = (0..<count).map { #"["s\#($0)",{"k":\#($0)}]"# }
        let members = (0..<count).map { #""m\#($0)":"v\#($0)""# }
        let text = "[[" + elements.joined(separator: ",") + "],{" + members.joined(separator: ",") + "}]"
        let expectedArray = JSONValue.array(
            (0..<count).map {
                .array([.string("s\($0)"), .object([JSONMember(key: "k", value: .number("\($0)"))])])
            })
        let expectedObject = JSONValue.object((0..<count).map { JSONMember(key: "m\($0)", value: .string("v\($0)")) })
        #expect(try J.parse(text) == .array([expectedArray, expectedObject]))
    }

    @Test func skipsWhitespaceEverywhereItIsAllowed() throws {
        let value = try J.parse(" \t\r\n{ \"a\" \n: [ 1 ,\t2 ] , \"b\" : { } }\r\n ")
        #expect(J.text(value) == #"{"a":[1,2],"b":{}}"#)
    }

    // MARK: - Strings

    static let escapes: [(json: String, decoded: String)] = [
        (#""\"""#, "\""), (#""\\""#, "\\"), (#""\/""#, "/"), (#""\b""#, "\u{08}"), (#""\f""#, "\u{0C}"),
        (#""\n""#, "\n"), (#""\r""#, "\r"), (#""\t""#, "\t"), (#""\u0000""#, "\u{00}"), (#""\u001F""#, "\u{1F}"),
        (#""\u00e9""#, "é"), (#""\u00C9""#, "É"), (#""\u20AC""#, "€"), (#""\uFFFF""#, "\u{FFFF}"),
        (#""\ud83d\ude00""#, "😀"), (#""\uD834\uDD1E""#, "𝄞"), (#""a\u0041b\nc""#, "aAb\nc"),
        ("\"é€😀\"", "é€😀"), (#""caf\u00e9 \"x\" \\ done""#, "café \"x\" \\ done"),
        // Long strings take the eight-bytes-at-a-time path; the specials sit at every alignment.
        ("\"" + String(repeating: "abcdefgh", count: 5) + "\"", String(repeating: "abcdefgh", count: 5)),
        ("\"0123456789abc\\n\"", "0123456789abc\n"), ("\"0123456789abcd\\t\"", "0123456789abcd\t"),
        ("\"0123456789ééé€€😀x\\u00e9\"", "0123456789ééé€€😀xé"),
    ]

    @Test(arguments: Self.escapes)
    func decodesEscapes(_ example: (json: String, decoded: String)) throws {
        let value = try J.parse(example.json)
        guard case .string(let s) = value else {
            Issue.record("not a string: \(value)")
            return
        }
        #expect(Array(s.utf8) == Array(example.decoded.utf8))
        // And as a key.
        let object = try J.parse("{" + example.json + ":1}")
        #expect(object[example.decoded] == .number("1"))
    }

    @Test func joinsASurrogatePairIntoOneScalar() throws {
        guard case .string(let s) = try J.parse(#""\ud83d\ude00""#) else { return }
        #expect(s.unicodeScalars.map { $0.value } == [0x1F600])
    }

    static let rejected: [(text: String, offset: Int)] = [
        ("", 0), (" ", 1), ("\u{FEFF}1", 0), ("[1,]", 3), ("{\"a\":1,}", 7), ("[1 2]", 3), ("{\"a\" 1}", 5),
        ("{a:1}", 1), ("01", 1), ("1.", 2), ("-", 1), ("1e+", 3), ("tru", 3), ("trUe", 2), ("\"abc", 4),
        (#""\x""#, 1), (#""\u12G4""#, 1), (#""\ud800""#, 1), (#""\udc00""#, 1), (#""\ud800\u0041""#, 1),
        (#"["ok","a\ud800x"]"#, 8), ("\"a\tb\"", 2), ("[1]]", 3), ("1 2", 2), ("{\"a\":1", 6), ("[", 1),
        ("{\"a\":1 \"b\":2}", 7), ("\u{0B}1", 0),
    ]

    @Test(arguments: Self.rejected)
    func rejectsWithTheOffsetOfTheProblem(_ example: (text: String, offset: Int)) {
        let error = J.parseError(Array(example.text.utf8))
        #expect(error?.offset == example.offset, "\(example.text): \(String(describing: error))")
        #expect(error?.message.isEmpty == false)
        #expect(!JSONValidator.isValid(Array(example.text.utf8)))
    }

    @Test func reportsIllFormedUTF8AtItsFirstByte() {
        #expect(J.parseError([0x22, 0x61, 0xC3, 0x28, 0x22])?.offset == 2)
        #expect(J.parseError([0x22, 0x61, 0xED, 0xA0, 0x80, 0x22])?.offset == 2)  // encoded surrogate
        #expect(J.parseError([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D])?.offset == 2)  // in a key
        // Ill-formed UTF-8 before an escape and before a control character is reported first.
        #expect(J.parseError([0x22, 0xC0, 0x80, 0x5C, 0x6E, 0x22])?.offset == 1)
        #expect(J.parseError([0x22, 0xC0, 0x80, 0x0A, 0x22])?.offset == 1)
    }

    @Test(arguments: JSONValidatorTests.illFormedUTF8)
    func rejectsIllFormedUTF8(_ sequence: [UInt8]) {
        #expect(J.parseError([0x22] + sequence + [0x22]) != nil)
        #expect(J.parseError(Array("{\"k".utf8) + sequence + Array("\":1}".utf8)) != nil)
        // A long string, so the bytes sit past the eight-byte fast path.
        #expect(J.parseError(Array("[\"0123456789abcdef".utf8) + sequence + Array("0123456789\"]".utf8)) != nil)
    }

    @Test(arguments: JSONValidatorTests.wellFormedUTF8)
    func acceptsWellFormedUTF8(_ sequence: [UInt8]) throws {
        let value = try JSONValue(parsing: [0x22] + sequence + [0x22])
        #expect(value == .string(String(decoding: sequence, as: UTF8.self)))
    }

    @Test(arguments: 0..<0x20)
    func rejectsRawControlCharacters(_ control: Int) {
        #expect(J.parseError([0x22, 0x61, UInt8(control), 0x62, 0x22])?.offset == 2)
        #expect(J.parseError(Array("\"0123456789ab".utf8) + [UInt8(control)] + [0x22])?.offset == 13)
        #expect(J.parseError(Array("\"\\n0123456789ab".utf8) + [UInt8(control)] + [0x22])?.offset == 15)
    }

    // MARK: - Numbers

    static let numbers = [
        "0", "-0", "12345678901234567890", "0.1", "1e400", "1E400", "1.0E-7", "-1.5e+3", "-0.0", "0e0",
        "123456789012345678901234567890.123456789e123", "9007199254740993", "1.7976931348623157e309",
    ]

    @Test(arguments: Self.numbers)
    func keepsNumbersExactlyAsWritten(_ text: String) throws {
        #expect(try J.parse(text) == .number(text))
        #expect(try J.compact(text) == text)
        #expect(try J.compact("[" + text + "]") == "[" + text + "]")
        #expect(try J.compact("{\"n\":" + text + "}") == "{\"n\":" + text + "}")
    }

    @Test func comparesNumbersByText() throws {
        #expect(try J.parse("1.0") != J.parse("1"))
    }

    // MARK: - Depth

    @Test func acceptsNestingAtTheLimitAndRejectsOneMore() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        let value = try J.parse(ok)
        #expect(J.text(value) == ok)
        let tooDeep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(J.parseError(Array(tooDeep.utf8))?.offset == 512)
        let objects = String(repeating: "{\"a\":", count: 511) + "[]" + String(repeating: "}", count: 511)
        #expect(try J.compact(objects) == objects)
        let deeperObjects = String(repeating: "{\"a\":", count: 513) + "1" + String(repeating: "}", count: 513)
        #expect(J.parseError(Array(deeperObjects.utf8)) != nil)
    }

    @Test func honoursACustomDepthLimit() {
        #expect(J.parseError(Array("7".utf8), maxDepth: 0) == nil)
        #expect(J.parseError(Array("[]".utf8), maxDepth: 0) != nil)
        #expect(J.parseError(Array("[{\"a\":1}]".utf8), maxDepth: 2) == nil)
        #expect(J.parseError(Array("[{\"a\":[]}]".utf8), maxDepth: 2) != nil)
        #expect(J.parseError(Array("[]".utf8), maxDepth: -3) != nil)
    }

    @Test func rejectsAHundredThousandOpenBracketsWithoutCrashing() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(J.parseError(deep)?.offset == 512)
        let deepObjects = Array(String(repeating: "{\"a\":", count: 100_000).utf8)
        #expect(J.parseError(deepObjects) != nil)
        let balanced = deep + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
        #expect(J.parseError(balanced) != nil)
    }

    @Test func parsesDeepNestingIterativelyWhenTheLimitIsLifted() throws {
        // 5 000 levels: the parser has no recursion; the tree is then torn down (recursively, by Swift) on
        // this thread's stack, which is why the default limit stays at 512.
        let depth = 5_000
        let bytes =
            [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
        let value = try JSONValue(parsing: bytes, maxDepth: .max)
        var level = 0
        var current = value
        while case .array(let elements) = current, let first = elements.first {
            current = first
            level += 1
        }
        #expect(level == depth - 1)
    }

    // MARK: - Duplicate keys

    @Test func lastDuplicateWinsAtTheFirstPosition() throws {
        #expect(try J.compact(#"{"a":1,"b":2,"a":3}"#) == #"{"a":3,"b":2}"#)
        #expect(try J.compact(#"{"a":1,"a":2,"a":{"x":[]}}"#) == #"{"a":{"x":[]}}"#)
        #expect(try J.compact(#"{"a":{"x":1},"b":[{"k":1,"k":2}],"a":null}"#) == #"{"a":null,"b":[{"k":2}]}"#)
        // Keys are compared decoded: an escaped spelling is the same key.
        #expect(try J.compact(#"{"é":1,"\u00e9":2,"\u0061":3,"a":4}"#) == #"{"é":2,"a":4}"#)
    }

    @Test func keysAreComparedByBytesNotCanonicalEquivalence() throws {
        // U+00E9 and e + U+0301 are canonically equivalent in Swift, but distinct JSON keys.
        let value = try J.parse(#"{"\u00e9":1,"e\u0301":2}"#)
        guard case .object(let members) = value else { return }
        #expect(members.count == 2)
        #expect(value["\u{E9}"] == .number("1"))
        #expect(value["e\u{301}"] == .number("2"))
        #expect(JSONValue.string("\u{E9}") != .string("e\u{301}"))
    }

    @Test func handlesDuplicatesInLargeObjectsLinearly() throws {
        // 20 000 distinct keys, then every key again: the hashed index keeps this fast and exact.
        let count = 20_000
        var text = "{"
        for k in 0..<count { text += "\"key\(k)\":\(k)," }
        for k in 0..<count { text += "\"key\(k)\":\(k + count)," }
        text += "\"last\":true}"
        let start = ContinuousClock.now
        let value = try J.parse(text)
        #expect(ContinuousClock.now - start < .seconds(2))
        guard case .object(let members) = value else { return }
        #expect(members.count == count + 1)
        for k in stride(from: 0, to: count, by: 97) {
            #expect(members[k].key == "key\(k)")
            #expect(members[k].value == .number("\(k + count)"))
        }
        #expect(members.last?.key == "last")
        // Just above and at the linear-scan limit, too.
        for size in [31, 32, 33, 34, 65] {
            var text = "{"
            for k in 0..<size { text += "\"k\(k)\":0," }
            for k in stride(from: size - 1, through: 0, by: -1) { text += "\"k\(k)\":\(k)," }
            text += "\"k0\":\"end\"}"
            let value = try J.parse(text)
            guard case .object(let members) = value else { return }
            #expect(members.map { $0.key } == (0..<size).map { "k\($0)" })
            #expect(members[0].value == .string("end"))
            #expect(members[size - 1].value == .number("\(size - 1)"))
        }
    }

    // MARK: - Inputs

    @Test func parsesSlicesAndRawBuffers() throws {
        let bytes = Array("xx[1,{\"a\":2}]yy".utf8)
        #expect(try J.text(JSONValue(parsing: bytes[2..<13])) == "[1,{\"a\":2}]")
        do {
            _ = try JSONValue(parsing: bytes[2..<12])
            Issue.record("a truncated slice parsed")
        } catch {
            #expect(error.offset == 10)  // counted from the slice start
        }
        let fromRaw = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) in try JSONValue(parsing: UnsafeRawBufferPointer(rebasing: raw[3..<4])) }
        }
        #expect(try fromRaw.get() == .number("1"))
    }

    @Test func rejectsEmptyInputAndTrailingGarbage() {
        #expect(J.parseError([]) == JSONParseError(offset: 0, message: "empty input"))
        #expect(J.parseError(Array("  \n".utf8))?.offset == 3)
        #expect(J.parseError(Array("{} x".utf8))?.offset == 3)
        #expect(J.parseError(Array("nullnull".utf8))?.offset == 4)
        #expect(J.parseError(Array("\"a\"\"b\"".utf8))?.offset == 3)
        #expect(J.parseError([0x31, 0x00])?.offset == 1)
    }
}
