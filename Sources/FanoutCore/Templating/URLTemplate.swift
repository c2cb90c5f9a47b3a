/// An upstream path-and-query template: `/v1/users/{id}/orders?lang={query.lang}&x=1`.
///
/// Placeholders:
/// - `{name}`: a route parameter, in the path or the query;
/// - `{name...}`: a route catch-all, in the path only, as a whole segment;
/// - `{query.name}`: the first value of the client's query parameter `name`, in the path or the query;
/// - any other ``ValueReference`` (`{header.x}`, `{body.f}`, `{item.id}`, `{product.sku}`), in the path or the
///   query: its scalar value, strictly encoded like a query value.
///
/// Literal text must already be valid URL syntax: unreserved characters, sub-delimiters, `:`, `@`, `%XX`
/// escapes and `/` (plus `?` in the query); no spaces, controls, `#`, or braces outside placeholders, and no
/// literal `.`/`..` path segments.
///
/// Rendering never lets a value change the scheme, host, port or path structure (docs/design/hardening.md,
/// "URL templates"): every value byte outside unreserved `A-Z a-z 0-9 - . _ ~` becomes `%XX` (uppercase hex),
/// so a placeholder is
/// always part of exactly one segment (a catch-all renders one encoded segment per element, joined by `/`),
/// and a segment that would end up empty, `.` or `..` is refused.
public struct URLTemplate: Sendable {
    /// A placeholder and where it was written.
    struct Placeholder: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case routeParameter
            case catchAll
            case reference(ValueReference)
        }

        var kind: Kind
        var name: String
        /// UTF-8 offset of the `{` in `raw`.
        var offset: Int
    }

    enum Part: Sendable {
        case literal([UInt8])
        case placeholder(Placeholder)
    }

    /// The template as written.
    public let raw: String
    /// The path after its leading `/`, split on `/`.
    let pathSegments: [[Part]]
    /// The query after `?`, or nil when the template has no `?`.
    let queryParts: [Part]?
    /// Every placeholder in order.
    let placeholders: [Placeholder]
    /// What a template without placeholders renders to, made once by `init` (after the parts it is rendered
    /// from): rendering it per call built the same String from its parts on every call.
    private var fixedRendering: String?

    /// Parses a template.
    /// - Throws: `TemplateSyntaxError` with the UTF-8 offset of the offending character.
    public init(parsing raw: String) throws(TemplateSyntaxError) {
        var parser = Parser(bytes: Array(raw.utf8))
        try parser.parse()
        self.raw = raw
        self.pathSegments = parser.pathSegments
        self.queryParts = parser.inQuery ? parser.current : nil
        self.placeholders = parser.placeholders
        if self.placeholders.isEmpty {
            // Literals only: nothing to look up, nothing that can fail.
            self.fixedRendering = try? self.renderParts(TemplateValues(routeParameters: [:], query: QueryParameters()))
        }
    }

    /// Route parameters (`{name}` and `{name...}`) the template uses, with the UTF-8 offset of each `{`.
    public var routeParameterReferences: [(name: String, offset: Int)] {
        self.placeholders.compactMap { placeholder in
            if case .reference = placeholder.kind { return nil }
            return (placeholder.name, placeholder.offset)
        }
    }

    /// Query parameters (`{query.name}`) the template uses, in order.
    public var queryParameterReferences: [String] {
        self.references.compactMap { reference in
            if case .query(let name) = reference.reference { return name }
            return nil
        }
    }

    /// The template has no placeholder: it renders to the same path and query for every request.
    public var isFixed: Bool { self.placeholders.isEmpty }

    /// Every reference placeholder, with the UTF-8 offset of its `{`.
    public var references: [(reference: ValueReference, offset: Int)] {
        self.placeholders.compactMap { placeholder in
            if case .reference(let reference) = placeholder.kind { return (reference, placeholder.offset) }
            return nil
        }
    }

    // MARK: - Rendering

    /// Renders the path and query for one request, e.g. `/v1/users/42/orders?lang=en&x=1`.
    /// - Throws: `TemplateRenderError` when a value is missing or would produce an unsafe segment.
    public func render(_ values: TemplateValues) throws(TemplateRenderError) -> String {
        if let fixedRendering { return fixedRendering }
        return try self.renderParts(values)
    }

    private func renderParts(_ values: TemplateValues) throws(TemplateRenderError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(self.raw.utf8.count + 32)
        for (segmentIndex, segment) in self.pathSegments.enumerated() {
            output.append(UInt8(ascii: "/"))
            // Only the template's last segment may end empty (a trailing slash the client wrote).
            let isLastSegment = segmentIndex == self.pathSegments.count - 1
            let segmentStart = output.count
            var placeholderName: String?
            for part in segment {
                switch part {
                case .literal(let bytes):
                    output.append(contentsOf: bytes)
                case .placeholder(let placeholder) where placeholder.kind == .catchAll:
                    // Parsing guarantees a catch-all is alone in its segment.
                    let elements = try self.routeValue(placeholder.name, values)
                    if elements.isEmpty && !isLastSegment { throw .invalidPathSegment(placeholder.name) }
                    for (index, element) in elements.enumerated() {
                        if index > 0 { output.append(UInt8(ascii: "/")) }
                        let elementStart = output.count
                        PercentCoding.appendEncoded(element.utf8, to: &output)
                        let isLast = index == elements.count - 1 && isLastSegment
                        if (output.count == elementStart && !isLast)
                            || PercentCoding.isDotSegment(output[elementStart...])
                        {
                            throw .invalidPathSegment(placeholder.name)
                        }
                    }
                case .placeholder(let placeholder):
                    placeholderName = placeholder.name
                    try self.appendValue(of: placeholder, values, to: &output)
                }
            }
            if let placeholderName {
                let rendered = output[segmentStart...]
                if rendered.isEmpty || PercentCoding.isDotSegment(rendered) {
                    throw .invalidPathSegment(placeholderName)
                }
            }
        }
        if let queryParts = self.queryParts {
            output.append(UInt8(ascii: "?"))
            for part in queryParts {
                switch part {
                case .literal(let bytes): output.append(contentsOf: bytes)
                case .placeholder(let placeholder): try self.appendValue(of: placeholder, values, to: &output)
                }
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private func routeValue(_ name: String, _ values: TemplateValues) throws(TemplateRenderError) -> [String] {
        guard let value = values.routeParameters[name] else { throw .missingRouteParameter(name) }
        return value
    }

    /// Appends one strictly encoded value. A `{name}` given several elements (a catch-all written without
    /// `...`, which configuration validation refuses) is joined with `/`, encoded as `%2F`.
    private func appendValue(
        of placeholder: Placeholder,
        _ values: TemplateValues,
        to output: inout [UInt8]
    ) throws(TemplateRenderError) {
        switch placeholder.kind {
        case .reference(.query(let name)):
            guard let value = values.query.first(name) else { throw .missingQueryParameter(name) }
            PercentCoding.appendEncoded(value.utf8, to: &output)
        case .reference(let reference):
            PercentCoding.appendEncoded(try values.text(of: reference).utf8, to: &output)
        case .routeParameter, .catchAll:
            let elements = try self.routeValue(placeholder.name, values)
            for (index, element) in elements.enumerated() {
                if index > 0 { PercentCoding.appendEncoded(CollectionOfOne(UInt8(ascii: "/")), to: &output) }
                PercentCoding.appendEncoded(element.utf8, to: &output)
            }
        }
    }
}

// MARK: - Parsing

extension URLTemplate {
    fileprivate struct Parser {
        let bytes: [UInt8]
        var index = 0
        var pathSegments: [[Part]] = []
        var current: [Part] = []
        var literal: [UInt8] = []
        var segmentStart = 1
        var inQuery = false
        var placeholders: [Placeholder] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func parse() throws(TemplateSyntaxError) {
            guard self.bytes.first == UInt8(ascii: "/") else {
                throw TemplateSyntaxError(offset: 0, message: "an upstream path must start with '/'")
            }
            self.index = 1
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                switch byte {
                case UInt8(ascii: "{"):
                    try self.parsePlaceholder()
                    continue
                case UInt8(ascii: "}"):
                    throw self.error("unexpected '}'; placeholders are written {name}, {name...} or {query.name}")
                case UInt8(ascii: "#"):
                    throw self.error("a fragment ('#') is not allowed in an upstream URL")
                case UInt8(ascii: "/") where !self.inQuery:
                    try self.finishSegment()
                    self.segmentStart = self.index + 1
                case UInt8(ascii: "?") where !self.inQuery:
                    try self.finishSegment()
                    self.inQuery = true
                case UInt8(ascii: "%"):
                    guard self.index + 2 < self.bytes.count,
                        PercentCoding.hexValue(self.bytes[self.index + 1]) != nil,
                        PercentCoding.hexValue(self.bytes[self.index + 2]) != nil
                    else {
                        throw self.error("malformed percent-encoding; expected '%' followed by two hex digits")
                    }
                    self.literal.append(contentsOf: self.bytes[self.index...(self.index + 2)])
                    self.index += 3
                    continue
                default:
                    let allowed =
                        PercentCoding.isPathCharacter(byte)
                        || (self.inQuery && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?")))
                    guard allowed else {
                        throw self.error(
                            "invalid character in upstream URL; expected letters, digits, '-._~', "
                                + "sub-delimiters, ':', '@' or %XX escapes"
                        )
                    }
                    self.literal.append(byte)
                }
                self.index += 1
            }
            if self.inQuery {
                self.flushLiteral()
            } else {
                try self.finishSegment()
            }
        }

        private mutating func parsePlaceholder() throws(TemplateSyntaxError) {
            let open = self.index
            guard let close = self.bytes[open...].firstIndex(of: UInt8(ascii: "}")) else {
                throw self.error("unterminated placeholder; expected '}'")
            }
            let inner = self.bytes[(open + 1)..<close]
            if inner.contains(UInt8(ascii: "{")) {
                throw self.error("unterminated placeholder; expected '}'")
            }
            let placeholder: Placeholder
            if inner.contains(UInt8(ascii: ".")) && !inner.suffix(3).elementsEqual("...".utf8)
                || inner.elementsEqual("body".utf8) || inner.elementsEqual("item".utf8)
            {
                let text = String(decoding: inner, as: UTF8.self)
                let reference: ValueReference?
                do throws(TemplateSyntaxError) {
                    reference = try ValueReference.parse(text)
                } catch {
                    throw TemplateSyntaxError(offset: open + 1 + error.offset, message: error.message)
                }
                guard let reference else { throw self.nameError(open) }
                var name = text
                if case .query(let queryName) = reference { name = queryName }
                placeholder = Placeholder(kind: .reference(reference), name: name, offset: open)
            } else if inner.count > 3 && inner.suffix(3).elementsEqual("...".utf8) {
                let name = inner.dropLast(3)
                guard TemplateName.isValidParameter(name) else { throw self.nameError(open) }
                guard !self.inQuery else {
                    throw self.error("a catch-all '{name...}' may only be used in the path")
                }
                let nextIndex = close + 1
                let endsSegment =
                    nextIndex == self.bytes.count || self.bytes[nextIndex] == UInt8(ascii: "/")
                    || self.bytes[nextIndex] == UInt8(ascii: "?")
                guard open == self.segmentStart, endsSegment else {
                    throw self.error("a catch-all '{name...}' must be a whole path segment, like /files/{rest...}")
                }
                placeholder = Placeholder(kind: .catchAll, name: String(decoding: name, as: UTF8.self), offset: open)
            } else {
                guard TemplateName.isValidParameter(inner) else { throw self.nameError(open) }
                placeholder = Placeholder(
                    kind: .routeParameter,
                    name: String(decoding: inner, as: UTF8.self),
                    offset: open
                )
            }
            self.flushLiteral()
            self.current.append(.placeholder(placeholder))
            self.placeholders.append(placeholder)
            self.index = close + 1
        }

        private mutating func flushLiteral() {
            if !self.literal.isEmpty {
                self.current.append(.literal(self.literal))
                self.literal = []
            }
        }

        private mutating func finishSegment() throws(TemplateSyntaxError) {
            let isLiteralOnly = self.current.isEmpty
            if isLiteralOnly && PercentCoding.isDotSegment(self.literal) {
                throw TemplateSyntaxError(
                    offset: self.segmentStart,
                    message: "'.' and '..' segments are not allowed in an upstream path"
                )
            }
            self.flushLiteral()
            self.pathSegments.append(self.current)
            self.current = []
        }

        private func error(_ message: String) -> TemplateSyntaxError {
            TemplateSyntaxError(offset: self.index, message: message)
        }

        private func nameError(_ open: Int) -> TemplateSyntaxError {
            TemplateSyntaxError(
                offset: open + 1,
                message: "invalid placeholder; expected {name}, {name...} or {query.name} with a name of "
                    + "letters, digits and '_'"
            )
        }
    }
}
