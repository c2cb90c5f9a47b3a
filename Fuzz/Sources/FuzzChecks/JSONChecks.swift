import FanoutCore

/// Paths the shaping operations are applied with, besides the one read from the input.
let fixedPaths: [JSONPath] = ["id", "a.b", "items[].id", "items[0]", "[]", "[1].x", "a"].map {
    try! JSONPath(parsing: $0)
}

/// `JSONValidator` and `JSONValue(parsing:)` accept the same texts (at the default depth and at a small one);
/// an error's offset lies within the text; the slice overload reads like the array one.
@discardableResult
func checkAgreement(_ bytes: [UInt8]) -> JSONValue? {
    var parsed: JSONValue?
    for maxDepth in [512, 3] {
        let valid = JSONValidator.isValid(bytes, maxDepth: maxDepth)
        let result = Result { () throws(JSONParseError) -> JSONValue in
            try JSONValue(parsing: bytes, maxDepth: maxDepth)
        }
        switch result {
        case .success(let value):
            require(valid, "the parser accepts what the validator refuses (maxDepth \(maxDepth)): \(show(bytes))")
            if maxDepth == 512 { parsed = value }
        case .failure(let error):
            require(
                !valid, "the parser refuses what the validator accepts (maxDepth \(maxDepth)): \(error) \(show(bytes))")
            require(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) of \(bytes.count)")
        }
        let slice = ([0x20] + bytes)[1...]
        let sliceResult = Result { () throws(JSONParseError) -> JSONValue in
            try JSONValue(parsing: slice, maxDepth: maxDepth)
        }
        require(sliceResult == result, "slice parse \(sliceResult) differs from array parse \(result)")
    }
    return parsed
}

/// A value written compactly reads back as the same value and the same bytes, and is valid JSON without raw
/// control characters. Holds only for values whose objects have unique keys, which every operation must keep.
func checkRoundTrip(_ value: JSONValue, _ what: @autoclosure () -> String) {
    let compact = value.serialized
    require(!compact.contains { $0 < 0x20 }, "\(what()): serialization holds a raw control byte")
    require(
        JSONValidator.isValid(compact, maxDepth: 1024), "\(what()): serialization is not valid JSON: \(show(compact))")
    let again = try? JSONValue(parsing: compact, maxDepth: 1024)
    require(again == value, "\(what()): \(show(compact)) reads back differently")
    require(again?.serialized == compact, "\(what()): writing again gives different bytes")
}

/// `FuzzJSON`: the input is a JSON text; when it holds a newline, the part before the first one is also read as a
/// `JSONPath` and the part after it as a second document.
///
/// Properties: validator and parser agree; serialize → parse is the identity; picking, dropping, renaming,
/// nesting, merging and selecting with fixed paths and the input's path never crash and give values that
/// round-trip (unique keys kept); a parsed path's description parses back to the same path.
public func json(_ input: UnsafeBufferPointer<UInt8>) {
    let bytes = Array(input)
    let document = checkAgreement(bytes)
    var paths = fixedPaths
    var other: JSONValue = .object([JSONMember(key: "a", value: .array([.number("1")]))])
    if let newline = bytes.firstIndex(of: 0x0A) {
        let pathText = text(bytes[..<newline].prefix(64))
        if let path = try? JSONPath(parsing: pathText) {
            let reparsed = try? JSONPath(parsing: path.description)
            require(
                reparsed == path,
                "path '\(pathText)' writes as '\(path.description)', which reads as \(String(describing: reparsed))")
            paths.append(path)
        }
        if let second = checkAgreement(Array(bytes[(newline + 1)...])) { other = second }
    }
    guard let document else { return }
    checkRoundTrip(document, "the document")
    checkRoundTrip(document.picking(paths), "picking")
    checkRoundTrip(document.dropping(paths), "dropping")
    for path in paths {
        checkRoundTrip(document.picking([path]), "picking \(path)")
        checkRoundTrip(document.dropping([path]), "dropping \(path)")
        checkRoundTrip(document.renaming(path, to: "id"), "renaming \(path) to id")
        if let selected = document.select(path) { checkRoundTrip(selected, "selecting \(path)") }
    }
    checkRoundTrip(document.nested(under: "n"), "nesting")
    checkRoundTrip(document.wrappingArray(in: "items"), "wrapping")
    for policy in [JSONArrayMergePolicy.concat, .replace] {
        checkRoundTrip(document.merging(other, arrays: policy), "merging the second document (\(policy))")
        checkRoundTrip(other.merging(document, arrays: policy), "merging into the second document (\(policy))")
        checkRoundTrip(document.merging(document, arrays: policy), "merging with itself (\(policy))")
    }
}
