import Foundation
import Testing

@testable import FanoutCore

/// Helpers shared by the JSON, composition and access-log tests: Foundation as an independent JSON oracle.
enum JSONOracle {
    /// Whether Foundation's `JSONSerialization` parses `bytes` (top-level scalars allowed).
    static func accepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
    }

    /// Parses `bytes` with `JSONSerialization`.
    static func parse(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)
    }

    /// Checks `bytes` with both `JSONValidator` and `JSONSerialization`, and returns the parsed object.
    static func object(_ bytes: [UInt8], sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [String:
        Any]
    {
        #expect(
            JSONValidator.isValid(bytes),
            "JSONValidator rejects \(String(decoding: bytes, as: UTF8.self))",
            sourceLocation: sourceLocation
        )
        let parsed = try JSONSerialization.jsonObject(with: Data(bytes))
        return try #require(parsed as? [String: Any], sourceLocation: sourceLocation)
    }
}

extension String {
    /// The string's UTF-8 bytes.
    var bytes: [UInt8] { Array(self.utf8) }
}

/// SplitMix64: a tiny seeded generator so random test inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
