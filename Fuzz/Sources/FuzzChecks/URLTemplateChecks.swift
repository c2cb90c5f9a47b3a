import FanoutCore

/// The byte that separates values in a `FuzzURLTemplate` input. 0xFF never occurs in UTF-8, so a value
/// still reaches every other byte (and invalid UTF-8, through the other invalid lead bytes).
let valueSeparator: UInt8 = 0xFF

/// `A-Z a-z 0-9 - . _ ~`: the only bytes of a value a rendered template keeps as they are.
func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "~")
    }
}

/// The expected encoding of a value, written independently of FanoutCore: unreserved bytes kept, every other
/// byte `%XX` with uppercase hex.
func strictlyEncoded(_ value: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in value.utf8 {
        if isUnreserved(byte) {
            out.append(byte)
        } else {
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// `.` or `..`, raw or written with `%2e`/`%2E` (RFC 3986 §6.2.2.2).
func isDotSegment(_ segment: Substring) -> Bool {
    var rest = segment
    var dots = 0
    while !rest.isEmpty {
        if rest.hasPrefix(".") {
            rest = rest.dropFirst()
        } else if rest.hasPrefix("%2e") || rest.hasPrefix("%2E") {
            rest = rest.dropFirst(3)
        } else {
            return false
        }
        dots += 1
    }
    return dots == 1 || dots == 2
}

/// The `/` and `?` written in a template outside its placeholders: what fixes the rendered URL's structure.
func structuralCounts(_ template: String) -> (slashesInPath: Int, questionMarks: Int) {
    var slashes = 0
    var questionMarks = 0
    var inPlaceholder = false
    for byte in template.utf8 {
        switch byte {
        case UInt8(ascii: "{"): inPlaceholder = true
        case UInt8(ascii: "}"): inPlaceholder = false
        case UInt8(ascii: "/") where !inPlaceholder && questionMarks == 0: slashes += 1
        case UInt8(ascii: "?") where !inPlaceholder: questionMarks += 1
        default: break
        }
    }
    return (slashes, questionMarks)
}

/// Facts every rendered upstream path-and-query must satisfy, whatever the values were.
/// - Parameter hasCatchAll: a `{name...}` may render several segments, so the `/` count is not fixed.
func checkRendered(_ output: String, template: String, hasCatchAll: Bool) {
    let bytes = Array(output.utf8)
    require(bytes.first == UInt8(ascii: "/"), "'\(output)' does not start with '/'")
    let allowedMarks = Array("!$&'()*+,;=:@/?%".utf8)
    for byte in bytes where !isUnreserved(byte) && !allowedMarks.contains(byte) {
        require(false, "'\(show(bytes))' from template '\(template)' holds byte \(byte) (CR, LF, NUL, space, '#'…)")
    }
    for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "%") {
        let escape = bytes.dropFirst(index + 1).prefix(2)
        require(
            escape.count == 2 && escape.allSatisfy { PercentDigits.isHex($0) },
            "'\(output)' has a '%' without two hex digits")
    }
    let (slashes, questionMarks) = structuralCounts(template)
    let path = output.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
    require(
        output.utf8.filter { $0 == UInt8(ascii: "?") }.count == questionMarks,
        "'\(output)' has a '?' the template '\(template)' does not")
    if !hasCatchAll {
        require(
            path.utf8.filter { $0 == UInt8(ascii: "/") }.count == slashes,
            "'\(output)' has a path '/' the template '\(template)' does not")
    }
    for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
        require(!isDotSegment(segment), "'\(output)' from template '\(template)' has a '.' or '..' segment")
    }
}

enum PercentDigits {
    static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

/// A raw query that decodes to exactly `value` for each name (every byte `%XX`-escaped), or the raw bytes
/// as the client might send them when that is refused (invalid UTF-8 or a control character).
func query(_ names: [String], value: [UInt8]) -> QueryParameters {
    let encodedValue = value.map { "%" + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined()
    let raw = names.map { name in
        name.utf8.map { "%" + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined() + "=" + encodedValue
    }.joined(separator: "&")
    if let parsed = try? QueryParameters(parsing: raw[...]) { return parsed }
    return (try? QueryParameters(parsing: text(value)[...])) ?? QueryParameters()
}

/// A JSON value from fuzzed bytes: the document they hold, or the bytes as a string.
func jsonValue(_ bytes: [UInt8]) -> JSONValue {
    (try? JSONValue(parsing: bytes)) ?? .string(text(bytes))
}

/// `FuzzURLTemplate`: the input is values separated by 0xFF.
///
/// 1. The first value is parsed as a template; a syntax error's offset lies within it. A template that parses
///    is rendered with the other values for its route parameters, query parameters, headers, body, item and
///    call answers; the result passes `checkRendered` or rendering throws a `TemplateRenderError`.
/// 2. Fixed templates are rendered with the values and compared with an independent oracle:
///    `/v1/users/{id}/orders?q={query.q}`, `/v2/{rest...}` and `/v1/{id}.json?h={header.x-v}&b={body.k}&n=1`.
public func urlTemplate(_ input: UnsafeBufferPointer<UInt8>) {
    var values = pieces(input, separator: valueSeparator)
    while values.count < 6 { values.append([]) }
    fuzzedTemplate(values)
    fixedTemplates(values)
}

private func fuzzedTemplate(_ values: [[UInt8]]) {
    let raw = text(values[0])
    let template: URLTemplate
    do {
        template = try URLTemplate(parsing: raw)
    } catch {
        require(error.offset >= 0 && error.offset <= raw.utf8.count, "syntax error offset \(error.offset) in '\(raw)'")
        return
    }
    var routeParameters: [String: [String]] = [:]
    var hasCatchAll = false
    for (name, offset) in template.routeParameterReferences {
        let placeholder = raw.utf8.dropFirst(offset).prefix { $0 != UInt8(ascii: "}") }
        let isCatchAll = placeholder.suffix(3).elementsEqual("...".utf8)
        hasCatchAll = hasCatchAll || isCatchAll
        routeParameters[name] = isCatchAll ? values[5...].map(text) : [text(values[1])]
    }
    var headers = HTTPHeaders()
    var calls: [String: JSONValue] = [:]
    let json = jsonValue(values[4])
    for (reference, _) in template.references {
        switch reference {
        case .header(let name): headers.append(name: name, value: text(values[3]))
        case .call(let name, _): calls[name] = json
        case .query, .body, .item: break
        }
    }
    let templateValues = TemplateValues(
        routeParameters: routeParameters,
        query: query(template.queryParameterReferences, value: values[2]),
        headers: headers,
        body: json,
        calls: calls,
        item: json
    )
    guard let output = try? template.render(templateValues) else { return }
    checkRendered(output, template: raw, hasCatchAll: hasCatchAll)
}

private func fixedTemplates(_ values: [[UInt8]]) {
    let id = text(values[1])
    let encodedID = strictlyEncoded(id)
    let idIsUnsafe = encodedID.isEmpty || isDotSegment(encodedID[...])

    // The template of the task: a route parameter in the path, a query parameter in the query.
    let orders = try! URLTemplate(parsing: "/v1/users/{id}/orders?q={query.q}")
    let clientQuery = query(["q"], value: values[2])
    let ordersValues = TemplateValues(routeParameters: ["id": [id]], query: clientQuery)
    let expectedOrders: Result<String, TemplateRenderError>
    if idIsUnsafe {
        expectedOrders = .failure(.invalidPathSegment("id"))
    } else if let q = clientQuery.first("q") {
        expectedOrders = .success("/v1/users/\(encodedID)/orders?q=\(strictlyEncoded(q))")
    } else {
        expectedOrders = .failure(.missingQueryParameter("q"))
    }
    let ordersResult = Result { () throws(TemplateRenderError) -> String in try orders.render(ordersValues) }
    require(ordersResult == expectedOrders, "id \(show(id.utf8)): \(ordersResult), expected \(expectedOrders)")
    if case .success(let output) = ordersResult { checkRendered(output, template: orders.raw, hasCatchAll: false) }

    // A catch-all: one encoded segment per element; an empty element only last; no dot segment.
    let rest = try! URLTemplate(parsing: "/v2/{rest...}")
    let elements = values[5...].map(text)
    let encodedElements = elements.map(strictlyEncoded)
    let restIsUnsafe = encodedElements.enumerated().contains { index, element in
        (element.isEmpty && index < encodedElements.count - 1) || isDotSegment(element[...])
    }
    let expectedRest: Result<String, TemplateRenderError> =
        restIsUnsafe ? .failure(.invalidPathSegment("rest")) : .success("/v2/" + encodedElements.joined(separator: "/"))
    let restResult = Result { () throws(TemplateRenderError) -> String in
        try rest.render(TemplateValues(routeParameters: ["rest": elements], query: QueryParameters()))
    }
    require(restResult == expectedRest, "elements \(elements): \(restResult), expected \(expectedRest)")
    if case .success(let output) = restResult { checkRendered(output, template: rest.raw, hasCatchAll: true) }

    // A parameter sharing its segment with a literal, a header value and a body field in the query.
    let mixed = try! URLTemplate(parsing: "/v1/{id}.json?h={header.x-v}&b={body.k}&n=1")
    let header = text(values[3])
    let field = jsonValue(values[4])
    let mixedValues = TemplateValues(
        routeParameters: ["id": [id]],
        query: QueryParameters(),
        headers: HTTPHeaders([(name: "X-V", value: header)]),
        body: .object([JSONMember(key: "k", value: field)])
    )
    let bodyReference = ValueReference.body(try! JSONPath(parsing: "k"))
    let expectedMixed: Result<String, TemplateRenderError>
    switch field {
    case .null: expectedMixed = .failure(.missing(bodyReference))
    case .array, .object: expectedMixed = .failure(.notScalar(bodyReference))
    default:
        expectedMixed = .success(
            "/v1/\(encodedID).json?h=\(strictlyEncoded(header))&b=\(strictlyEncoded(field.scalarText!))&n=1")
    }
    let mixedResult = Result { () throws(TemplateRenderError) -> String in try mixed.render(mixedValues) }
    require(mixedResult == expectedMixed, "id \(show(id.utf8)): \(mixedResult), expected \(expectedMixed)")
    if case .success(let output) = mixedResult { checkRendered(output, template: mixed.raw, hasCatchAll: false) }
}
