import Testing

@testable import FanoutCore

@Suite struct QueryParametersTests {
    private func pairs(_ raw: Substring?) throws -> [String] {
        try QueryParameters(parsing: raw).entries.map { "\($0.name)=\($0.value)" }
    }

    @Test func decodesPlusAndPercentOnce() throws {
        #expect(try pairs("q=a+b%2Bc%20d&lang=caf%C3%A9&x=%252F") == ["q=a b+c d", "lang=café", "x=%2F"])
    }

    @Test func keepsRepeatedKeysInOrder() throws {
        let query = try QueryParameters(parsing: "a=1&b=2&a=3")
        #expect(query.entries.map(\.name) == ["a", "b", "a"])
        #expect(query.first("a") == "1")
        #expect(query.first("b") == "2")
        #expect(query.first("c") == nil)
    }

    @Test func handlesEmptyPiecesAndMissingValues() throws {
        #expect(try pairs("&&a&b=&=x&c=d=e&") == ["a=", "b=", "=x", "c=d=e"])
        #expect(try pairs(nil).isEmpty)
        #expect(try pairs("").isEmpty)
        #expect(QueryParameters().entries.isEmpty)
    }

    @Test(arguments: ["a=%", "a=%4", "a=%zz", "%zz=1", "a=%00", "a=%0A", "a=%7F", "a=%C0%AE", "a=%FF", "a=b%0d%0aX"])
    func rejectsMalformedOrUnsafeValues(raw: String) {
        #expect(throws: RequestTargetError.self) { try QueryParameters(parsing: raw[...]) }
    }
}
