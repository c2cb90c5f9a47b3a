/// A header value or JSON body with placeholders: `Bearer {header.x-token}`, `{"sku": {product.sku}}`.
///
/// A placeholder is `{` directly followed by a letter or `_`, up to the next `}`: a route parameter
/// (`{id}`) or a ``ValueReference``. Any other `{` is literal text, so JSON objects (`{"a": 1}`, `{ }`) need
/// no escaping.
///
/// - ``Kind/text`` (header values): a placeholder becomes its scalar text; a value holding a control
///   character is refused, so a partner's answer can never inject a header line.
/// - ``Kind/json`` (bodies): placeholders count only outside JSON strings, and each becomes its JSON value
///   (a string keeps its quotes, an object is written whole); query and header values are JSON strings.
///   The template must be valid JSON with every placeholder replaced by `null`.
public struct ValueTemplate: Sendable {
    public enum Kind: Sendable {
        case text
        case json
    }

    enum Piece: Sendable {
        case literal([UInt8])
        case routeParameter(String)
        case reference(ValueReference)
    }

    public let kind: Kind
    public let raw: String
    let pieces: [Piece]
    /// The placeholders in order, with the UTF-8 offset of each `{` in `raw`.
    public let placeholders: [(name: String, reference: ValueReference?, offset: Int)]

    /// - Throws: `TemplateSyntaxError` with the UTF-8 offset of the problem.
    public init(parsing raw: String, kind: Kind) throws(TemplateSyntaxError) {
        let bytes = Array(raw.utf8)
        var pieces: [Piece] = []
        var placeholders: [(name: String, reference: ValueReference?, offset: Int)] = []
        var literal: [UInt8] = []
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if kind == .json && inString {
                literal.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    literal.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if kind == .json && byte == UInt8(ascii: "\"") { inString = true }
            let startsPlaceholder =
                byte == UInt8(ascii: "{") && index + 1 < bytes.count
                && (TemplateName.isLetter(bytes[index + 1]) || bytes[index + 1] == UInt8(ascii: "_"))
            guard startsPlaceholder else {
                literal.append(byte)
                index += 1
                continue
            }
            guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else {
                throw TemplateSyntaxError(offset: index, message: "unterminated placeholder; expected '}'")
            }
            let inner = String(decoding: bytes[(index + 1)..<close], as: UTF8.self)
            let reference: ValueReference?
            do throws(TemplateSyntaxError) {
                reference = try ValueReference.parse(inner)
            } catch {
                throw TemplateSyntaxError(offset: index + 1 + error.offset, message: error.message)
            }
            if reference == nil && !TemplateName.isValidParameter(inner.utf8) {
                throw TemplateSyntaxError(
                    offset: index + 1,
                    message: "invalid placeholder '{\(inner)}'; expected {param}, {query.NAME}, {header.NAME}, "
                        + "{body.FIELD}, {item.FIELD} or {CALL.FIELD}")
            }
            if !literal.isEmpty {
                pieces.append(.literal(literal))
                literal = []
            }
            pieces.append(reference.map(Piece.reference) ?? .routeParameter(inner))
            placeholders.append((inner, reference, index))
            index = close + 1
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.kind = kind
        self.raw = raw
        self.pieces = pieces
        self.placeholders = placeholders
        if kind == .json {
            var probe: [UInt8] = []
            for piece in pieces {
                if case .literal(let bytes) = piece { probe += bytes } else { probe += "null".utf8 }
            }
            guard JSONValidator.isValid(probe) else {
                throw TemplateSyntaxError(
                    offset: 0,
                    message: "the body is not valid JSON (with each placeholder taken as null); "
                        + "expected a JSON text like {\"sku\": {product.sku}}")
            }
        }
    }

    /// Every reference the template uses.
    public var references: [ValueReference] { self.placeholders.compactMap(\.reference) }

    /// Renders the template.
    /// - Throws: `TemplateRenderError` for a missing value, an array or object in a text template, or a control
    ///   character in a header value.
    public func render(_ values: TemplateValues) throws(TemplateRenderError) -> [UInt8] {
        var output = JSONWriter(capacity: self.raw.utf8.count + 32)
        for piece in self.pieces {
            switch piece {
            case .literal(let bytes):
                output.appendRaw(bytes)
            case .routeParameter(let name):
                guard let elements = values.routeParameters[name] else { throw .missingRouteParameter(name) }
                let text = elements.joined(separator: "/")
                switch self.kind {
                case .text:
                    guard text.utf8.allSatisfy(ASCII.isFieldValueByte) else { throw .unsafeParameterValue(name) }
                    output.appendRaw(text.utf8)
                case .json: JSONValue.string(text).write(to: &output)
                }
            case .reference(let reference):
                switch self.kind {
                case .text:
                    let text = try values.text(of: reference)
                    guard text.utf8.allSatisfy(ASCII.isFieldValueByte) else { throw .unsafeHeaderValue(reference) }
                    output.appendRaw(text.utf8)
                case .json:
                    try values.value(of: reference).write(to: &output)
                }
            }
        }
        return output.bytes
    }
}
