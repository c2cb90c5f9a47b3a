import Testing

@testable import FanoutCore

/// Random small documents, checked against Foundation's `JSONSerialization`.
@Suite struct JSONValidatorCrossCheckTests {
    /// Builds random JSON texts from a seeded generator.
    struct DocumentGenerator {
        var rng: SeededGenerator

        mutating func document() -> String {
            self.whitespace() + self.value(depth: 0) + self.whitespace()
        }

        mutating func value(depth: Int) -> String {
            let pick = Int.random(in: 0..<(depth < 4 ? 8 : 5), using: &self.rng)
            switch pick {
            case 0: return self.number()
            case 1: return self.string()
            case 2: return ["true", "false", "null"].randomElement(using: &self.rng)!
            case 3: return self.number()
            case 4: return self.string()
            case 5, 6:
                let count = Int.random(in: 0...4, using: &self.rng)
                let items = (0..<count).map { _ in
                    self.whitespace() + self.value(depth: depth + 1) + self.whitespace()
                }
                return "[" + (count == 0 ? self.whitespace() : items.joined(separator: ",")) + "]"
            default:
                let count = Int.random(in: 0...4, using: &self.rng)
                let members = (0..<count).map { _ in
                    self.whitespace() + self.string() + self.whitespace() + ":" + self.whitespace()
                        + self.value(depth: depth + 1) + self.whitespace()
                }
                return "{" + (count == 0 ? self.whitespace() : members.joined(separator: ",")) + "}"
            }
        }

        mutating func whitespace() -> String {
            guard Int.random(in: 0..<3, using: &self.rng) == 0 else { return "" }
            return String(
                (0..<Int.random(in: 1...2, using: &self.rng)).map { _ in
                    [" ", "\t", "\n", "\r"].randomElement(using: &self.rng)!
                }
            )
        }

        mutating func number() -> String {
            var text = Bool.random(using: &self.rng) ? "-" : ""
            switch Int.random(in: 0..<4, using: &self.rng) {
            case 0: text += "0"
            case 1: text += String(Int.random(in: 1...9, using: &self.rng))
            case 2: text += String(UInt64.random(in: 10...UInt64.max, using: &self.rng))
            default: text += "12345678901234567890"
            }
            if Bool.random(using: &self.rng) { text += "." + String(Int.random(in: 0...999, using: &self.rng)) }
            if Int.random(in: 0..<3, using: &self.rng) == 0 {
                text += ["e", "E"].randomElement(using: &self.rng)!
                text += ["", "+", "-"].randomElement(using: &self.rng)!
                text += String(Int.random(in: 0...9, using: &self.rng))
            }
            return text
        }

        mutating func string() -> String {
            let pieces = [
                "a", "Z", "0", " ", "é", "€", "😀", "\u{7F}", #"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#,
                #"\r"#, #"\t"#, #"\u0000"#, #"\u001F"#, #"\u00e9"#, #"\uFFFD"#, #"\ud83d\ude00"#, #"\uD834\uDD1E"#,
            ]
            let count = Int.random(in: 0...5, using: &self.rng)
            return "\"" + (0..<count).map { _ in pieces.randomElement(using: &self.rng)! }.joined() + "\""
        }
    }

    /// Bytes a mutation may insert or substitute: JSON syntax, number parts, a raw control character,
    /// and bytes that break UTF-8.
    static let mutationBytes: [UInt8] = Array("{}[],:\"\\ 0-1.eE+tfnu\u{01}\n".utf8) + [0x80, 0xC3, 0xED, 0xFF]

    /// Where Foundation knowingly departs from RFC 8259: it accepts a `,` directly (modulo whitespace)
    /// before `]` or `}`, and it rejects a number whose exponent overflows a `Double` (3+ exponent digits
    /// here). Documents with either are left out of the comparison.
    static func foundationDeparts(_ bytes: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var pendingComma = false
        var exponentDigits: Int? = nil  // digits seen since an `e`/`E` outside strings
        var previous: UInt8 = 0
        for byte in bytes {
            defer { previous = byte }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            if let count = exponentDigits {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    exponentDigits = count + 1
                    if count + 1 >= 3 { return true }
                } else if !(count == 0 && (byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-"))) {
                    exponentDigits = nil
                }
            } else if (byte | 0x20) == UInt8(ascii: "e") && previous >= UInt8(ascii: "0")
                && previous <= UInt8(ascii: "9")
            {
                exponentDigits = 0
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                pendingComma = false
            case UInt8(ascii: ","): pendingComma = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if pendingComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: pendingComma = false
            }
        }
        return false
    }

    @Test func acceptsEveryGeneratedDocumentLikeFoundation() {
        var generator = DocumentGenerator(rng: SeededGenerator(seed: 0x5EED_0001))
        for _ in 0..<2_000 {
            let document = generator.document().bytes
            #expect(JSONValidator.isValid(document), "\(String(decoding: document, as: UTF8.self))")
            #expect(JSONOracle.accepts(document), "\(String(decoding: document, as: UTF8.self))")
        }
    }

    @Test func agreesWithFoundationOnMutatedDocuments() {
        var generator = DocumentGenerator(rng: SeededGenerator(seed: 0x5EED_0002))
        var compared = 0
        var rejected = 0
        for _ in 0..<4_000 {
            var document = generator.document().bytes
            let position = Int.random(in: 0...document.count, using: &generator.rng)
            let byte = Self.mutationBytes.randomElement(using: &generator.rng)!
            switch Int.random(in: 0..<4, using: &generator.rng) {
            case 0 where position < document.count: document.remove(at: position)
            case 1: document.insert(byte, at: position)
            case 2 where position < document.count: document[position] = byte
            default: document.removeLast(min(document.count, Int.random(in: 1...3, using: &generator.rng)))
            }
            guard !Self.foundationDeparts(document) else { continue }
            let ours = JSONValidator.isValid(document)
            #expect(
                ours == JSONOracle.accepts(document),
                "validator says \(ours) for \(String(decoding: document, as: UTF8.self)) \(document)"
            )
            compared += 1
            if !ours { rejected += 1 }
        }
        // The mutations must exercise both answers, not just one.
        #expect(compared > 3_000)
        #expect(rejected > compared / 3)
        #expect(rejected < compared - 300)
    }
}
