import Testing

@testable import FanoutCore

@Suite struct JSONMergeTests {
    private func merge(_ a: String, _ b: String, _ arrays: JSONArrayMergePolicy = .concat) throws -> String {
        J.text(try J.parse(a).merging(try J.parse(b), arrays: arrays))
    }

    @Test func mergesObjectsRecursively() throws {
        #expect(try merge(#"{"a":1,"b":2}"#, #"{"c":3,"a":4}"#) == #"{"a":4,"b":2,"c":3}"#)
        #expect(
            try merge(#"{"p":{"x":1,"y":{"z":1}},"q":0}"#, #"{"p":{"y":{"w":2},"v":3},"r":1}"#)
                == #"{"p":{"x":1,"y":{"z":1,"w":2},"v":3},"q":0,"r":1}"#
        )
        #expect(try merge("{}", #"{"a":1}"#) == #"{"a":1}"#)
        #expect(try merge(#"{"a":1}"#, "{}") == #"{"a":1}"#)
    }

    @Test func mergesArraysPerPolicy() throws {
        #expect(try merge("[1,2]", "[3]", .concat) == "[1,2,3]")
        #expect(try merge("[1,2]", "[3]", .replace) == "[3]")
        #expect(try merge(#"{"l":[{"a":1}]}"#, #"{"l":[{"b":2}]}"#, .concat) == #"{"l":[{"a":1},{"b":2}]}"#)
        #expect(try merge(#"{"l":[{"a":1}]}"#, #"{"l":[{"b":2}]}"#, .replace) == #"{"l":[{"b":2}]}"#)
        #expect(try merge("[]", "[]") == "[]")
    }

    @Test func otherWinsOnTypeConflicts() throws {
        #expect(try merge(#"{"a":{"x":1}}"#, #"{"a":[1]}"#) == #"{"a":[1]}"#)
        #expect(try merge(#"{"a":[1]}"#, #"{"a":{"x":1}}"#) == #"{"a":{"x":1}}"#)
        #expect(try merge(#"{"a":{"x":1}}"#, #"{"a":null}"#) == #"{"a":null}"#)
        #expect(try merge(#"{"a":null}"#, #"{"a":{"x":1}}"#) == #"{"a":{"x":1}}"#)
        #expect(try merge(#"{"a":1}"#, #"{"a":"1"}"#) == #"{"a":"1"}"#)
        #expect(try merge(#"{"a":1}"#, "[1]") == "[1]")
        #expect(try merge("1", "2") == "2")
        #expect(try merge("[1]", "null") == "null")
    }

    @Test func mergesLargeObjectsByKey() throws {
        let left = "{" + (0..<100).map { "\"k\($0)\":{\"l\":\($0)}" }.joined(separator: ",") + "}"
        let right = "{" + (50..<150).reversed().map { "\"k\($0)\":{\"r\":\($0)}" }.joined(separator: ",") + "}"
        let merged = try J.parse(left).merging(try J.parse(right), arrays: .concat)
        guard case .object(let members) = merged else { return }
        #expect(members.count == 150)
        #expect(members.prefix(100).map { $0.key } == (0..<100).map { "k\($0)" })
        #expect(members.suffix(50).map { $0.key } == (100..<150).reversed().map { "k\($0)" })
        #expect(J.text(members[60].value) == #"{"l":60,"r":60}"#)
        #expect(J.text(members[10].value) == #"{"l":10}"#)
        #expect(J.text(members[149].value) == #"{"r":100}"#)
    }

    @Test func mergesKeysByBytes() throws {
        let merged = try J.parse(#"{"\u00e9":1}"#).merging(try J.parse(#"{"e\u0301":2,"\u00e9":3}"#), arrays: .concat)
        #expect(J.text(merged) == "{\"\u{E9}\":3,\"e\u{301}\":2}")
    }
}
