/// Walks the token list directive by directive (Caddy's `Dispenser`). Every error is built here, from a
/// token, so no message can lack a location.
struct ConfigCursor {
    private let tokens: [ConfigToken]
    private var position = 0
    var file: String
    /// Where the text ends, for "unexpected end of file" errors.
    private let end: (line: Int, column: Int)

    init(tokens: [ConfigToken], file: String, end: (line: Int, column: Int)) {
        self.tokens = tokens
        self.file = file
        self.end = end
    }

    /// Top-level directives that open a block: met inside another block, they mean that block lacks its `}`.
    static let blockDirectives: Set<String> = ["route", "upstream"]

    private func peek() -> ConfigToken? {
        self.position < self.tokens.count ? self.tokens[self.position] : nil
    }

    // MARK: - Directives

    /// Skips separators and returns the first token of the next top-level directive, or nil at the end.
    /// - Throws: for a stray `}` or `{`.
    mutating func nextDirective() throws(ConfigError) -> ConfigToken? {
        self.skipSeparators()
        guard let token = self.peek() else { return nil }
        self.position += 1
        switch token.kind {
        case .closeBrace:
            throw self.error("unexpected '}': no block is open; expected a directive", at: token)
        case .openBrace:
            throw self.error("unexpected '{'; expected a directive such as 'upstream' or 'route'", at: token)
        case .word, .quoted, .raw, .separator:
            return token
        }
    }

    /// Inside a block: the first token of the next directive, or nil once the closing `}` is consumed.
    /// - Parameter brace: the block's `{`, whose line the "not closed" errors name.
    /// - Throws: at the end of the file, or at a `route` or `upstream` line (those blocks never nest, so the
    ///   open block most likely lacks its `}`).
    mutating func nextInBlock(opened brace: ConfigToken, context: String) throws(ConfigError) -> ConfigToken? {
        self.skipSeparators()
        guard let token = self.peek() else {
            throw ConfigError(
                location: SourceLocation(file: self.file, line: self.end.line, column: self.end.column),
                message: "unexpected end of file: the block of \(context) opened at line \(brace.line) is not closed; "
                    + "add '}'"
            )
        }
        if token.kind == .word, token.text == "include" {
            throw self.error(
                "'include' cannot stand inside the block of \(context) opened at line \(brace.line); "
                    + "expected it at top level, outside every block",
                at: token
            )
        }
        if token.kind == .word, Self.blockDirectives.contains(token.text) {
            throw self.error(
                "'\(token.text)' cannot start inside the block of \(context) opened at line \(brace.line) "
                    + "(route and upstream blocks do not nest), so that block likely lacks its '}'; "
                    + "add '}' before line \(token.line)",
                at: token
            )
        }
        self.position += 1
        switch token.kind {
        case .closeBrace:
            return nil
        case .openBrace:
            throw self.error("unexpected '{' in \(context); blocks do not nest, expected a directive or '}'", at: token)
        case .word, .quoted, .raw, .separator:
            return token
        }
    }

    /// The next argument of the current directive, or nil (nothing consumed) at a separator, a brace or
    /// the end of the file.
    mutating func nextArgument() -> ConfigToken? {
        guard let token = self.peek(), token.isArgument else { return nil }
        self.position += 1
        return token
    }

    /// The next argument, which must be there.
    /// - Throws: "missing argument for 'DIRECTIVE'; expected EXPECTED", located at the directive.
    mutating func requireArgument(of directive: ConfigToken, expected: String) throws(ConfigError) -> ConfigToken {
        guard let token = self.nextArgument() else { throw self.argumentError(directive, expected: expected) }
        return token
    }

    /// All remaining arguments of the current directive.
    mutating func remainingArguments() -> [ConfigToken] {
        var arguments: [ConfigToken] = []
        while let token = self.nextArgument() { arguments.append(token) }
        return arguments
    }

    /// Ends the current directive: a separator (consumed), a `}` (left for the block) or the end of file.
    /// - Throws: for an extra argument or a `{` after a directive that takes no block.
    mutating func finishDirective(_ directive: ConfigToken) throws(ConfigError) {
        guard let token = self.peek() else { return }
        switch token.kind {
        case .separator:
            self.position += 1
        case .closeBrace:
            return
        case .openBrace:
            throw self.error("'\(directive.text)' does not take a block; expected end of line or ';'", at: token)
        case .word, .quoted, .raw:
            throw self.error(
                "unexpected extra argument '\(token.text)' for '\(directive.text)'; expected end of line or ';'",
                at: token
            )
        }
    }

    /// Consumes the `{` that opens the block of `directive`.
    /// - Parameter context: how the block is named in the error (`route GET /x`).
    mutating func openBlock(of directive: ConfigToken, context: String) throws(ConfigError) -> ConfigToken {
        guard let token = self.peek() else {
            throw self.error("expected '{' after '\(context)', found end of file", at: directive)
        }
        guard token.kind == .openBrace else {
            if token.isArgument {
                throw self.error(
                    "unexpected extra argument '\(token.text)' for '\(directive.text)'; "
                        + "expected '{' after '\(context)'",
                    at: token
                )
            }
            throw self.error("expected '{' after '\(context)', found \(token.display)", at: token)
        }
        self.position += 1
        return token
    }

    /// Consumes a `{` that opens an optional block of the current directive, if one follows.
    mutating func openOptionalBlock() -> ConfigToken? {
        guard let token = self.peek(), token.kind == .openBrace else { return nil }
        self.position += 1
        return token
    }

    private mutating func skipSeparators() {
        while let token = self.peek(), token.kind == .separator { self.position += 1 }
    }

    // MARK: - Errors

    /// Where `token` is written.
    func location(of token: ConfigToken) -> SourceLocation {
        SourceLocation(file: self.file, line: token.line, column: token.column)
    }

    /// An error at `token`'s first character.
    func error(_ message: String, at token: ConfigToken) -> ConfigError {
        ConfigError(
            location: SourceLocation(file: self.file, line: token.line, column: token.column),
            message: message
        )
    }

    /// An error at a position inside `token`'s text, `offset` Unicode scalars after its first content
    /// character, mapped back to where that character is written (inside a `${…}` value: at its `$`, and the
    /// message names the variable, whose value is not in the file).
    func error(_ message: String, at token: ConfigToken, scalarOffset offset: Int) -> ConfigError {
        let position = token.sourcePosition(ofScalarAt: offset)
        let variables = token.substitutions(at: offset).map { "${\($0)}" }.joined(separator: " and ")
        let origin = variables.isEmpty ? "" : " (the value here comes from \(variables) in the environment)"
        return ConfigError(
            location: SourceLocation(file: self.file, line: position.line, column: position.column),
            message: message + origin
        )
    }

    /// An error at a UTF-8 offset inside `token`'s text (template errors report UTF-8 offsets).
    func error(_ message: String, at token: ConfigToken, utf8Offset offset: Int) -> ConfigError {
        let prefix = token.text.utf8.prefix(offset)
        let scalars = String(decoding: prefix, as: UTF8.self).unicodeScalars.count
        return self.error(message, at: token, scalarOffset: scalars)
    }

    /// A warning at `token`'s first character.
    func warning(_ message: String, at token: ConfigToken) -> ConfigWarning {
        ConfigWarning(
            location: SourceLocation(file: self.file, line: token.line, column: token.column),
            message: message
        )
    }

    /// "missing argument for 'DIRECTIVE'; expected EXPECTED".
    func argumentError(_ directive: ConfigToken, expected: String) -> ConfigError {
        self.error("missing argument for '\(directive.text)'; expected \(expected)", at: directive)
    }

    /// "unknown directive 'X'[ in CONTEXT]; did you mean 'Y'?" or "…; expected one of: …".
    func unknownDirective(_ token: ConfigToken, context: String?, known: [String]) -> ConfigError {
        let place = context.map { " in \($0)" } ?? ""
        if let suggestion = Suggestion.closest(to: token.text, among: known) {
            return self.error("unknown directive '\(token.text)'\(place); did you mean '\(suggestion)'?", at: token)
        }
        return self.error(
            "unknown directive '\(token.text)'\(place); expected one of: \(known.joined(separator: ", "))",
            at: token
        )
    }

    /// "duplicate 'X'[ in CONTEXT]; it is already set at line N".
    func duplicateError(_ token: ConfigToken, first: ConfigToken, context: String?) -> ConfigError {
        let place = context.map { " in \($0)" } ?? ""
        return self.error(
            "duplicate '\(token.text)'\(place); it is already set at line \(first.line), expected it once",
            at: token
        )
    }
}
