import Testing

@testable import FanoutCore

@Suite struct JSONShapingTests {
    private func pick(_ json: String, _ paths: String...) throws -> String {
        J.text(try J.parse(json).picking(paths.map { try J.path($0) }))
    }

    private func drop(_ json: String, _ paths: String...) throws -> String {
        J.text(try J.parse(json).dropping(paths.map { try J.path($0) }))
    }

    private func rename(_ json: String, _ path: String, _ newName: String) throws -> String {
        J.text(try J.parse(json).renaming(try J.path(path), to: newName))
    }

    // MARK: - pick

    @Test func picksNestedPathsKeepingEnclosingStructureAndOrder() throws {
        let product = #"{"id":1,"price":{"amount":5,"cur":"EUR"},"x":2}"#
        #expect(try pick(product, "id", "price.amount") == #"{"id":1,"price":{"amount":5}}"#)
        #expect(try pick(product, "price.amount", "id") == #"{"id":1,"price":{"amount":5}}"#)
        #expect(try pick(product, "x", "price") == #"{"price":{"amount":5,"cur":"EUR"},"x":2}"#)
        #expect(try pick(product, "price", "price.amount") == #"{"price":{"amount":5,"cur":"EUR"}}"#)
        #expect(try pick(product, "price.cur", "price.amount") == #"{"price":{"amount":5,"cur":"EUR"}}"#)
        #expect(try pick(product, "id", "id") == #"{"id":1}"#)
    }

    @Test func picksThroughArrays() throws {
        #expect(try pick(#"[{"id":1,"x":2}]"#, "id") == #"[{"id":1}]"#)
        #expect(try pick(#"[{"id":1,"x":2},{"x":3}]"#, "id") == #"[{"id":1},{}]"#)
        let list = #"{"total":2,"items":[{"id":1,"n":"a","p":{"v":1,"w":2}},{"id":2,"n":"b","p":{"v":3}}]}"#
        #expect(try pick(list, "items.id") == #"{"items":[{"id":1},{"id":2}]}"#)
        #expect(try pick(list, "items[].id", "total") == #"{"total":2,"items":[{"id":1},{"id":2}]}"#)
        #expect(try pick(list, "items.p.v") == #"{"items":[{"p":{"v":1}},{"p":{"v":3}}]}"#)
        #expect(try pick(list, "items[1]") == #"{"items":[{"id":2,"n":"b","p":{"v":3}}]}"#)
        #expect(try pick(list, "items[0].n", "items.id") == #"{"items":[{"id":1,"n":"a"},{"id":2}]}"#)
        #expect(
            try pick(list, "items[]") == #"{"items":[{"id":1,"n":"a","p":{"v":1,"w":2}},{"id":2,"n":"b","p":{"v":3}}]}"#
        )
        #expect(try pick(list, "items[5]") == #"{"items":[]}"#)
        #expect(try pick(#"{"m":[[{"a":1,"b":2}],[{"a":3}]]}"#, "m.a") == #"{"m":[[{"a":1}],[{"a":3}]]}"#)
        // Scalars inside an array have no members: they are left out under a key path.
        #expect(try pick(#"[1,{"id":2},"s"]"#, "id") == #"[{"id":2}]"#)
        #expect(try pick(#"[1,{"id":2},"s"]"#, "[0]", "[1].id") == #"[1,{"id":2}]"#)
    }

    @Test func ignoresMissingPaths() throws {
        #expect(try pick(#"{"a":1}"#, "b", "c.d", "a.x", "[0]") == "{}")
        #expect(try pick(#"{"a":1,"p":{"c":2}}"#, "p.amount") == #"{"p":{}}"#)
        #expect(try pick(#"{"a":1,"p":5}"#, "p.amount", "a") == #"{"a":1}"#)
        #expect(try pick("[]", "a") == "[]")
    }

    @Test func leavesScalarsUnchanged() throws {
        #expect(try pick("5", "a") == "5")
        #expect(try pick(#""s""#, "a") == #""s""#)
        #expect(try pick("null", "a") == "null")
        #expect(try J.parse(#"{"a":1}"#).picking([]) == .object([]))
        #expect(try J.parse(#"{"a":1}"#).picking([JSONPath(steps: [])]) == J.parse(#"{"a":1}"#))
    }

    @Test func picksByDecodedKeysAndInLargeObjects() throws {
        #expect(try pick(#"{"caf\u00e9":1,"b":2}"#, "b") == #"{"b":2}"#)
        let value = try J.parse(#"{"caf\u00e9":1,"cafe\u0301":2}"#)
        #expect(J.text(value.picking([JSONPath(steps: [.key("café")])])) == #"{"café":1}"#)
        // Many paths (hashed lookup in the path tree) over a large object.
        let keys = (0..<40).map { "k\($0)" }
        let json = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
        let picked = try J.parse(json).picking(keys.filter { $0.hasSuffix("3") }.map { try J.path($0) })
        #expect(J.text(picked) == #"{"k3":1,"k13":1,"k23":1,"k33":1}"#)
    }

    // MARK: - drop

    @Test func dropsNestedPathsAndThroughArrays() throws {
        let product = #"{"id":1,"price":{"amount":5,"cur":"EUR"},"internal":{"cost":3},"x":2}"#
        #expect(try drop(product, "internal", "price.cur") == #"{"id":1,"price":{"amount":5},"x":2}"#)
        #expect(try drop(product, "price", "price.cur") == #"{"id":1,"internal":{"cost":3},"x":2}"#)
        let list = #"{"items":[{"id":1,"secret":"s","p":{"v":1,"w":2}},{"id":2},3]}"#
        #expect(try drop(list, "items.secret", "items.p.w") == #"{"items":[{"id":1,"p":{"v":1}},{"id":2},3]}"#)
        #expect(try drop(list, "items[0]") == #"{"items":[{"id":2},3]}"#)
        #expect(try drop(list, "items[]") == #"{"items":[]}"#)
        #expect(try drop(list, "items[0].secret", "items[2]") == #"{"items":[{"id":1,"p":{"v":1,"w":2}},{"id":2}]}"#)
        #expect(try drop(#"[{"id":1,"x":2},{"x":3}]"#, "x") == #"[{"id":1},{}]"#)
        #expect(try drop(#"[[1,2],[3]]"#, "[][0]") == #"[[2],[]]"#)
    }

    @Test func dropIgnoresMissingPathsAndScalars() throws {
        let product = #"{"id":1,"p":{"a":1}}"#
        #expect(try drop(product, "nope", "p.nope", "id.x", "[0]", "p[]") == product)
        #expect(try drop("5", "a") == "5")
        #expect(try drop("[]", "a") == "[]")
    }

    // MARK: - rename

    @Test func renamesInPlace() throws {
        #expect(try rename(#"{"a":1,"b":2,"c":3}"#, "b", "z") == #"{"a":1,"z":2,"c":3}"#)
        #expect(
            try rename(#"{"p":{"amount":5,"cur":"EUR"}}"#, "p.amount", "value") == #"{"p":{"value":5,"cur":"EUR"}}"#)
        #expect(try rename(#"{"a":1}"#, "a", "a") == #"{"a":1}"#)
        #expect(try rename(#"{"a":1}"#, "a", "with space \"q\"") == #"{"with space \"q\"":1}"#)
    }

    @Test func renameReplacesAnExistingMemberOfTheNewName() throws {
        #expect(try rename(#"{"a":1,"b":2,"c":3}"#, "c", "a") == #"{"b":2,"a":3}"#)
        #expect(try rename(#"{"a":1,"b":2,"c":3}"#, "a", "c") == #"{"c":1,"b":2}"#)
    }

    @Test func renamesThroughArrays() throws {
        let list = #"{"items":[{"name":"a","id":1},{"id":2},{"name":"c"},4]}"#
        #expect(
            try rename(list, "items.name", "title") == #"{"items":[{"title":"a","id":1},{"id":2},{"title":"c"},4]}"#)
        #expect(
            try rename(list, "items[].name", "title") == #"{"items":[{"title":"a","id":1},{"id":2},{"title":"c"},4]}"#)
        #expect(
            try rename(list, "items[2].name", "title") == #"{"items":[{"name":"a","id":1},{"id":2},{"title":"c"},4]}"#)
        #expect(try rename(#"[{"a":1},{"a":2,"b":0}]"#, "a", "b") == #"[{"b":1},{"b":2}]"#)
    }

    @Test func renameIgnoresMissingPathsAndNonKeyTargets() throws {
        let doc = #"{"a":{"b":1},"l":[1]}"#
        for path in ["x", "a.x", "x.y", "a.b.c", "l[5].a", "l[0].a"] {
            #expect(try rename(doc, path, "n") == doc, "\(path)")
        }
        #expect(try J.parse(doc).renaming(try J.path("l[0]"), to: "n") == J.parse(doc))
        #expect(try J.parse(doc).renaming(try J.path("l[]"), to: "n") == J.parse(doc))
    }

    // MARK: - nest / wrap

    @Test func nestsAndWraps() throws {
        #expect(J.text(try J.parse("[1]").nested(under: "data")) == #"{"data":[1]}"#)
        #expect(J.text(try J.parse(#"{"a":1}"#).nested(under: "d")) == #"{"d":{"a":1}}"#)
        #expect(J.text(JSONValue.null.nested(under: "d")) == #"{"d":null}"#)
        #expect(J.text(try J.parse("[1,2]").wrappingArray(in: "items")) == #"{"items":[1,2]}"#)
        #expect(J.text(try J.parse(#"{"a":1}"#).wrappingArray(in: "items")) == #"{"a":1}"#)
        #expect(J.text(try J.parse("7").wrappingArray(in: "items")) == "7")
    }

    @Test func shapingDoesNotChangeTheOriginal() throws {
        let original = try J.parse(#"{"a":{"b":1,"c":2},"l":[{"x":1}]}"#)
        let copy = original
        _ = original.picking(try J.paths("a.b"))
        _ = original.dropping(try J.paths("a.b", "l.x"))
        _ = original.renaming(try J.path("l.x"), to: "y")
        _ = original.merging(try J.parse(#"{"a":{"b":9}}"#), arrays: .concat)
        #expect(original == copy)
        #expect(J.text(original) == #"{"a":{"b":1,"c":2},"l":[{"x":1}]}"#)
    }
}
