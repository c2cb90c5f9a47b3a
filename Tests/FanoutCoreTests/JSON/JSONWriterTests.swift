import Foundation
import Testing

@testable import FanoutCore

@Suite struct JSONWriterTests {
    private func written(_ body: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        body(&writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    // MARK: - Strings

    static let escapes: [(input: String, output: String)] = [
        ("", #""""#),
        ("plain text", #""plain text""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"back\slash"#, #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("line\nfeed\rreturn\ttab", #""line\nfeed\rreturn\ttab""#),
        ("\u{08}\u{0C}", #""\b\f""#),
        ("\u{00}\u{01}\u{1F}\u{0B}", #""\u0000\u0001\u001f\u000b""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("é€😀", "\"é€😀\""),
        ("</script>", #""</script>""#),
    ]

    @Test(arguments: Self.escapes)
    func escapesQuotesBackslashesAndControlCharacters(_ example: (input: String, output: String)) throws {
        #expect(self.written { $0.appendString(example.input) } == example.output)
        #expect(self.written { $0.appendString(Array(example.input.utf8)) } == example.output)
        let bytes = self.written { $0.appendString(example.input) }.bytes
        #expect(JSONValidator.isValid(bytes))
        #expect(try JSONOracle.parse(bytes) as? String == example.input)
    }

    @Test func escapesEveryControlCharacterSoTheOutputParses() throws {
        let allControls = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        var writer = JSONWriter()
        writer.appendString(allControls)
        #expect(writer.bytes.allSatisfy { $0 >= 0x20 })
        #expect(JSONValidator.isValid(writer.bytes))
        #expect(try JSONOracle.parse(writer.bytes) as? String == allControls)
    }

    static let illFormed: [(input: [UInt8], output: String)] = [
        ([0x61, 0xFF, 0x62], "a\u{FFFD}b"),
        ([0xC3], "\u{FFFD}"),
        ([0xC3, 0x41], "\u{FFFD}A"),
        ([0xE2, 0x82], "\u{FFFD}"),  // truncated "€": one maximal subpart
        ([0xE2, 0x82, 0xAC, 0xE2], "€\u{FFFD}"),
        ([0xE0, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // overlong: no valid prefix
        ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),
        ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // encoded surrogate
        ([0xF0, 0x9F, 0x98], "\u{FFFD}"),
        ([0xF0, 0x9F, 0x98, 0x22], "\u{FFFD}\""),
        ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),  // above U+10FFFF
        ([0x80, 0xBF], "\u{FFFD}\u{FFFD}"),
        ([0x0A, 0xFE, 0x5C], "\n\u{FFFD}\\"),
    ]

    @Test(arguments: Self.illFormed)
    func replacesIllFormedUTF8WithReplacementCharacter(_ example: (input: [UInt8], output: String)) throws {
        var writer = JSONWriter()
        writer.appendString(example.input)
        #expect(JSONValidator.isValid(writer.bytes))
        #expect(try JSONOracle.parse(writer.bytes) as? String == example.output)
    }

    @Test func repairsRandomBytesExactlyLikeTheStandardLibrary() throws {
        // String(decoding:as:) substitutes maximal subparts too, so it is an independent oracle.
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<1_000 {
            let input = (0..<Int.random(in: 0...24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var writer = JSONWriter()
            writer.appendString(input)
            #expect(JSONValidator.isValid(writer.bytes), "\(input)")
            let expected = String(decoding: input, as: UTF8.self)
            #expect(try JSONOracle.parse(writer.bytes) as? String == expected, "\(input)")
        }
    }

    @Test func acceptsNonContiguousCollections() {
        let reversed = "ab\"c".utf8.reversed()  // ReversedCollection has no contiguous storage
        #expect(self.written { $0.appendString(reversed) } == #""c\"ba""#)
    }

    // MARK: - Raw, literals, numbers

    @Test func copiesRawJSONVerbatim() {
        let raw = #"{"n":12345678901234567890,"f":0.1,"s":"\u00e9"}"#
        #expect(self.written { $0.appendRaw(raw.bytes) } == raw)
        #expect(self.written { $0.appendRaw(raw.bytes[5...24]) } == "12345678901234567890")
    }

    @Test func appendsStaticLiterals() {
        #expect(
            self.written {
                $0.append("{")
                $0.append(#""a":"#)
                $0.append("null")
                $0.append("}")
            } == #"{"a":null}"#
        )
    }

    @Test(arguments: [0, 7, -1, 42, 200, 504, -9_876_543_210, Int.max, Int.min])
    func writesIntegersInDecimal(_ value: Int) {
        #expect(self.written { $0.appendInt(value) } == String(value))
    }

    static let durations: [(Double, String)] = [
        (0, "0.0"), (12.3, "12.3"), (400.2, "400.2"), (1.04, "1.0"), (12.25, "12.3"), (9.96, "10.0"),
        (-3.26, "-3.3"), (-0.01, "0.0"), (1_234_567.89, "1234567.9"), (.nan, "0.0"),
        (.infinity, "1000000000000000.0"), (-.infinity, "-1000000000000000.0"),
    ]

    @Test(arguments: Self.durations)
    func writesMillisecondsWithOneDecimal(_ example: (Double, String)) throws {
        let text = self.written { $0.appendDouble(milliseconds: example.0) }
        #expect(text == example.1)
        #expect(JSONValidator.isValid(text.bytes))
        #expect(JSONOracle.accepts(text.bytes))
    }

    @Test func reservesTheRequestedCapacity() {
        #expect(JSONWriter(capacity: 1_000).bytes.capacity >= 1_000)
        #expect(JSONWriter().bytes.isEmpty)
    }
}
