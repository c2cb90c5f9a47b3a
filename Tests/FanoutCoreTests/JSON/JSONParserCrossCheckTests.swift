import Testing

@testable import FanoutCore

/// The parser must accept exactly what `JSONValidator` accepts.
@Suite struct JSONParserCrossCheckTests {
    private func agrees(
        _ bytes: [UInt8], maxDepth: Int = 512, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let valid = JSONValidator.isValid(bytes, maxDepth: maxDepth)
        let error = J.parseError(bytes, maxDepth: maxDepth)
        #expect(
            valid == (error == nil),
            "validator \(valid), parser \(String(describing: error)) for \(String(decoding: bytes, as: UTF8.self)) \(bytes)",
            sourceLocation: sourceLocation
        )
        if let error {
            #expect(error.offset >= 0 && error.offset <= bytes.count, sourceLocation: sourceLocation)
        }
    }

    @Test func agreesOnTheValidatorTables() {
        for text in JSONValidatorTests.valid + JSONValidatorTests.invalid { self.agrees(Array(text.utf8)) }
        for sequence in JSONValidatorTests.wellFormedUTF8 + JSONValidatorTests.illFormedUTF8 {
            self.agrees([0x22] + sequence + [0x22])
            self.agrees(Array("{\"k".utf8) + sequence + Array("\":1}".utf8))
            self.agrees(Array("[\"ok\",\"".utf8) + sequence + Array("\"]".utf8))
        }
        self.agrees([0x5B, 0xC2, 0xA0, 0x5D])
        for control in 0..<0x20 {
            self.agrees([0x22, 0x61, UInt8(control), 0x62, 0x22])
            let hex = String(control, radix: 16)
            self.agrees(Array(("\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\"").utf8))
        }
    }

    @Test func agreesOnEveryPrefixOfDocuments() {
        let texts = [
            #"{"a":[1,-2.5e+3,"\ud83d\ude00é",true,false,null],"b":{}}"#,
            #"[{"id":12345678901234567890,"name":"caf\u00e9 \"x\"","price":{"amount":0.1,"cur":"EUR"}}]"#,
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            for length in 0...bytes.count { self.agrees(Array(bytes[..<length])) }
        }
    }

    @Test func agreesOnDepthLimits() {
        for limit in [0, 1, 2, 3, 64, 65] {
            for depth in [0, 1, 2, 3, 63, 64, 65, 66] {
                let arrays = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
                self.agrees(Array(arrays.utf8), maxDepth: limit)
                let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
                self.agrees(Array(objects.utf8), maxDepth: limit)
            }
        }
    }

    @Test func agreesOnGeneratedDocumentsAndTheirMutations() throws {
        var generator = JSONValidatorCrossCheckTests.DocumentGenerator(rng: SeededGenerator(seed: 0x5EED_0103))
        var rejected = 0
        for _ in 0..<6_000 {
            let original = Array(generator.document().utf8)
            self.agrees(original)
            var document = original
            let position = Int.random(in: 0...document.count, using: &generator.rng)
            let byte = JSONValidatorCrossCheckTests.mutationBytes.randomElement(using: &generator.rng)!
            switch Int.random(in: 0..<4, using: &generator.rng) {
            case 0 where position < document.count: document.remove(at: position)
            case 1: document.insert(byte, at: position)
            case 2 where position < document.count: document[position] = byte
            default: document.removeLast(min(document.count, Int.random(in: 1...3, using: &generator.rng)))
            }
            self.agrees(document)
            if !JSONValidator.isValid(document) { rejected += 1 }
        }
        #expect(rejected > 1_000)
    }

    @Test func roundTripsGeneratedDocuments() throws {
        var generator = JSONValidatorCrossCheckTests.DocumentGenerator(rng: SeededGenerator(seed: 0x5EED_0104))
        for _ in 0..<2_000 {
            let text = generator.document()
            let value = try JSONValue(parsing: Array(text.utf8))
            let compact = value.serialized
            #expect(JSONValidator.isValid(compact))
            #expect(
                !compact.contains(where: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D })
                    || text.contains("\""))
            let again = try JSONValue(parsing: compact)
            #expect(again == value, "\(text)")
            #expect(again.serialized == compact, "\(text)")
            // Foundation reads the same data from both texts.
            let original = try JSONOracle.parse(Array(text.utf8))
            let rewritten = try JSONOracle.parse(compact)
            #expect(
                String(describing: original) == String(describing: rewritten) || !Self.comparable(text),
                "\(text)"
            )
        }
    }

    /// Foundation's descriptions of dictionaries depend on hash order; compare only documents without objects.
    private static func comparable(_ text: String) -> Bool { !text.contains("{") }
}
