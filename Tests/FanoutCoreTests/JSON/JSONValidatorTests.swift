import Testing

@testable import FanoutCore

@Suite struct JSONValidatorTests {
    // MARK: - Accept / reject tables

    static let valid: [String] = [
        // RFC 8259 section 13 examples.
        #"""
        {
          "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
              "Url":    "http://www.example.com/image/481989943",
              "Height": 125,
              "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
        }
        """#,
        #"""
        [
          {
             "precision": "zip",
             "Latitude":  37.7668,
             "Longitude": -122.3959,
             "Address":   "",
             "City":      "SAN FRANCISCO",
             "State":     "CA",
             "Zip":       "94107",
             "Country":   "US"
          },
          {
             "precision": "zip",
             "Latitude":  37.371991,
             "Longitude": -122.026020,
             "Address":   "",
             "City":      "SUNNYVALE",
             "State":     "CA",
             "Zip":       "94085",
             "Country":   "US"
          }
        ]
        """#,
        #""Hello world!""#, "42", "true", "false", "null",
        // Numbers.
        "0", "-0", "1e5", "1E+2", "1e-2", "0.1", "-0.0", "0e0", "-1.5e-10", "12345678901234567890",
        "123456789012345678901234567890.123456789e123", "1E400",
        // Containers and whitespace.
        "[]", "{}", " [ ] ", "\t\n\r {\r\n} \n", "[1,[2,[3]],{\"a\":[]}]", #"{"a":[1,{"b":null}],"c":""}"#,
        #"{"":0}"#, #"{"a":1,"a":2}"#,
        // Strings and escapes.
        #""""#, #""\"\\\/\b\f\n\r\t""#, #""\u0000""#, #""\u00e9\u00C9""#, #""\uD834\uDD1E""#, #""\ud83d\ude00""#,
        #""\uFFFF""#, "\"é€😀\"", "\"\u{7F}\"", #""/""#,
    ]

    static let invalid: [String] = [
        "", " ", "\n",
        // Numbers.
        "01", "-01", "00", "1.", ".1", "-", "+1", "--1", "1.e5", "1e", "1e+", "1E-", "0x10", "NaN", "Infinity",
        "-Infinity", "1_000", "1.5.2", "- 1", "[-]",
        // Literals.
        "tru", "True", "nulll", "nul", "falsey", "undefined",
        // Structure.
        "[", "]", "{", "}", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1", "[,1]",
        "[1,,2]", ",", "{,}", "{\"a\":}", "{\"a\"}", "{1:2}", "[1]]", "{\"a\":1}}", "1 2", "[] []", "\"a\" x",
        // Strings.
        "\"abc", "\"\\\"", #""\x""#, #""\u12""#, #""\u12G4""#, #""\U0041""#, #""\'""#, "'a'",
        // Surrogate escapes: lone, mis-ordered, unpaired.
        #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\udc00\ud800""#, #""\ud800\ud800""#, #""\ud800x""#,
        #""\uDBFF\""#, #""a\uDFFFb""#,
        // Raw control characters, byte order mark, vertical tab as whitespace.
        "\"a\tb\"", "\"a\nb\"", "\u{FEFF}1", "\u{0B}1",
    ]

    @Test(arguments: Self.valid)
    func acceptsValidText(_ text: String) {
        #expect(JSONValidator.isValid(text.bytes))
    }

    @Test(arguments: Self.invalid)
    func rejectsInvalidText(_ text: String) {
        #expect(!JSONValidator.isValid(text.bytes))
    }

    @Test func tablesAgreeWithFoundationExceptForItsKnownLeniency() {
        // JSONSerialization accepts trailing commas and a BOM and rejects numbers that overflow a Double;
        // everywhere else it must agree with the tables.
        let foundationDiffers: Set<String> = ["[1,]", "{\"a\":1,}", "\u{FEFF}1", "1E400"]
        for text in Self.valid where !foundationDiffers.contains(text) {
            #expect(JSONOracle.accepts(text.bytes), "\(text)")
        }
        for text in Self.invalid where !foundationDiffers.contains(text) {
            #expect(!JSONOracle.accepts(text.bytes), "\(text)")
        }
    }

    // MARK: - UTF-8 and control characters

    static let wellFormedUTF8: [[UInt8]] = [
        [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x90, 0x80, 0x80], [0xF3, 0xBF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF],
    ]

    static let illFormedUTF8: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC3], [0xC3, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
        [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x9F, 0x98],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFE], [0xFF],
    ]

    @Test(arguments: Self.wellFormedUTF8)
    func acceptsWellFormedUTF8InStrings(_ sequence: [UInt8]) {
        #expect(JSONValidator.isValid([0x22] + sequence + [0x22]))
        #expect(JSONValidator.isValid("{\"k".bytes + sequence + "\":1}".bytes))
    }

    @Test(arguments: Self.illFormedUTF8)
    func rejectsIllFormedUTF8InStrings(_ sequence: [UInt8]) {
        #expect(!JSONValidator.isValid([0x22] + sequence + [0x22]))
        #expect(!JSONValidator.isValid("[\"ok\",\"".bytes + sequence + "\"]".bytes))
        #expect(!JSONOracle.accepts([0x22] + sequence + [0x22]))
    }

    @Test func rejectsNonASCIIBytesOutsideStrings() {
        #expect(!JSONValidator.isValid([0x5B, 0xC2, 0xA0, 0x5D]))  // U+00A0 is not JSON whitespace
    }

    @Test(arguments: 0..<0x20)
    func rejectsRawControlCharacterInString(_ control: Int) {
        #expect(!JSONValidator.isValid([0x22, 0x61, UInt8(control), 0x62, 0x22]))
    }

    @Test func acceptsEveryEscapedControlCharacter() {
        for control in 0..<0x20 {
            let hex = String(control, radix: 16)
            let text = "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\""
            #expect(JSONValidator.isValid(text.bytes), "\(text)")
        }
    }

    // MARK: - Depth

    @Test func acceptsNestingAtTheDepthLimit() {
        let arrays = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(JSONValidator.isValid(arrays.bytes))
        let objects = String(repeating: "{\"a\":", count: 511) + "[]" + String(repeating: "}", count: 511)
        #expect(JSONValidator.isValid(objects.bytes))
    }

    @Test func rejectsNestingOneLevelBeyondTheLimit() {
        let arrays = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(!JSONValidator.isValid(arrays.bytes))
        let objects = String(repeating: "{\"a\":", count: 513) + "1" + String(repeating: "}", count: 513)
        #expect(!JSONValidator.isValid(objects.bytes))
    }

    @Test func honoursACustomDepthLimit() {
        #expect(JSONValidator.isValid("7".bytes, maxDepth: 0))
        #expect(!JSONValidator.isValid("[]".bytes, maxDepth: 0))
        #expect(JSONValidator.isValid("[{\"a\":1}]".bytes, maxDepth: 2))
        #expect(!JSONValidator.isValid("[{\"a\":[]}]".bytes, maxDepth: 2))
    }

    @Test func tracksContainerKindsAcrossManyLevels() {
        // 300 alternating levels cross several 64-bit words of the bit stack; a wrong bit would accept
        // a mismatched closer.
        var open = ""
        var close = ""
        for level in 0..<300 {
            if level % 3 == 0 {
                open += "{\"k\":"
                close = "}" + close
            } else {
                open += "["
                close = "]" + close
            }
        }
        #expect(JSONValidator.isValid((open + "0" + close).bytes))
        var swapped = Array((open + "0" + close).utf8)
        let firstCloser = swapped.firstIndex { $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: "}") }!
        swapped[firstCloser] = swapped[firstCloser] == UInt8(ascii: "]") ? UInt8(ascii: "}") : UInt8(ascii: "]")
        #expect(!JSONValidator.isValid(swapped))
    }

    @Test func rejectsAHundredThousandOpenBracketsQuickly() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        let start = ContinuousClock.now
        #expect(!JSONValidator.isValid(deep))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func validatesVeryDeepNestingWithoutRecursion() {
        // With the limit lifted, 100k levels are checked on the explicit bit stack, not the call stack.
        let deep =
            [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
            + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
        #expect(JSONValidator.isValid(deep, maxDepth: .max))
        #expect(!JSONValidator.isValid(Array(deep.dropLast()), maxDepth: .max))
    }

    // MARK: - Buffer handling

    @Test func validatesExactlyTheGivenRawBuffer() {
        let bytes = "xx[1,2]yy".bytes
        bytes.withUnsafeBytes { raw in
            #expect(JSONValidator.isValid(UnsafeRawBufferPointer(rebasing: raw[2..<7])))
            #expect(!JSONValidator.isValid(UnsafeRawBufferPointer(rebasing: raw[2..<6])))
            #expect(!JSONValidator.isValid(UnsafeRawBufferPointer(rebasing: raw[2..<2])))
        }
    }

    @Test func rejectsTruncationAtEveryOffset() {
        let text = #"{"a":[1,-2.5e+3,"\ud83d\ude00é",true,false,null],"b":{}}"#.bytes
        #expect(JSONValidator.isValid(text))
        for length in 0..<text.count {
            #expect(!JSONValidator.isValid(Array(text[..<length])), "prefix of \(length) bytes")
        }
    }
}
