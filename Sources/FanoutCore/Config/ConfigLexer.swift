/// Splits `proxy.conf` into tokens (Caddy's `lexer.go` shape: one pass, tokens carry their position).
///
/// - Spaces, tabs and carriage returns separate tokens; a newline or `;` becomes a `.separator` token.
/// - `#` starts a comment when it begins a token (outside quotes); it runs to the end of the line.
/// - `"…"` strings resolve `\"`, `\\`, `\n`, `\t` and end on the same line; `` `…` `` strings are verbatim
///   and may span lines. Quotes are recognized only at the start of a token.
/// - `${VAR}` and `${VAR:-default}` are replaced in bare words and double-quoted strings (not in backticks)
///   from the given environment; `:-` uses the default when the variable is unset or empty. The value is
///   inserted as-is and never re-lexed, so it cannot start a comment, close a block or split a token. A
///   variable that is set but empty, used without `:-`, is a warning (``warnings``), once per variable.
/// - A bare `{` or `}` (a whole token, not interpolated) is a brace; elsewhere braces are ordinary
///   characters, so `/users/{id}` stays one word.
struct ConfigLexer {
    private let scalars: [Unicode.Scalar]
    private let file: String
    private let environment: [String: String]
    private var index = 0
    private var line = 1
    private var column = 1
    /// Warnings found while lexing, in file order: one per variable set to the empty string and used
    /// without a default.
    private(set) var warnings: [ConfigWarning] = []
    private var warnedVariables: Set<String> = []

    init(text: String, file: String, environment: [String: String]) {
        self.scalars = Array(text.unicodeScalars)
        self.file = file
        self.environment = environment
    }

    /// Lexes the whole text.
    /// - Throws: `ConfigError` for an unterminated string, an unknown escape or an undefined variable.
    mutating func tokenize() throws(ConfigError) -> [ConfigToken] {
        var tokens: [ConfigToken] = []
        while let scalar = self.peek() {
            switch scalar {
            case " ", "\t", "\r":
                self.advance()
            case "\n", ";":
                tokens.append(ConfigToken(kind: .separator, text: String(scalar), line: self.line, column: self.column))
                self.advance()
            case "#":
                while let next = self.peek(), next != "\n" { self.advance() }
            case "\"":
                tokens.append(try self.quoted())
            case "`":
                tokens.append(try self.raw())
            default:
                tokens.append(try self.bare())
            }
        }
        return tokens
    }

    /// Where the text ends (after `tokenize()`): the line and column an end-of-file error points at.
    var endPosition: (line: Int, column: Int) { (self.line, self.column) }

    // MARK: - Tokens

    private mutating func bare() throws(ConfigError) -> ConfigToken {
        let line = self.line
        let column = self.column
        var text = ""
        var columns: [Int] = []
        var substitutions: [ConfigToken.Substitution] = []
        while let scalar = self.peek(), !Self.endsBareWord(scalar) {
            if scalar == "$" && self.peek(1) == "{" {
                try self.interpolate(into: &text, columns: &columns, substitutions: &substitutions)
            } else {
                text.unicodeScalars.append(scalar)
                columns.append(self.column)
                self.advance()
            }
        }
        columns.append(self.column)
        let interpolated = !substitutions.isEmpty
        var kind = ConfigToken.Kind.word
        if !interpolated && text == "{" { kind = .openBrace }
        if !interpolated && text == "}" { kind = .closeBrace }
        return ConfigToken(
            kind: kind, text: text, line: line, column: column, sourceColumns: interpolated ? columns : nil,
            substitutions: substitutions)
    }

    private mutating func quoted() throws(ConfigError) -> ConfigToken {
        let line = self.line
        let column = self.column
        self.advance()
        var text = ""
        var columns: [Int] = []
        var substitutions: [ConfigToken.Substitution] = []
        var rewritten = false
        while true {
            guard let scalar = self.peek(), scalar != "\n" else {
                throw self.error(
                    "unterminated string; expected a closing '\"' on the same line (use \\n for a newline)",
                    line: line,
                    column: column
                )
            }
            switch scalar {
            case "\"":
                columns.append(self.column)
                self.advance()
                try self.expectTokenEnd(after: "a closing '\"'")
                return ConfigToken(
                    kind: .quoted, text: text, line: line, column: column, sourceColumns: rewritten ? columns : nil,
                    substitutions: substitutions)
            case "\\":
                let escapeColumn = self.column
                columns.append(escapeColumn)
                rewritten = true
                self.advance()
                switch self.peek() {
                case "\"": text += "\""
                case "\\": text += "\\"
                case "n": text += "\n"
                case "t": text += "\t"
                default:
                    throw self.error(
                        "unknown escape in string; expected \\\", \\\\, \\n or \\t",
                        line: self.line,
                        column: escapeColumn
                    )
                }
                self.advance()
            case "$" where self.peek(1) == "{":
                try self.interpolate(into: &text, columns: &columns, substitutions: &substitutions)
                rewritten = true
            default:
                text.unicodeScalars.append(scalar)
                columns.append(self.column)
                self.advance()
            }
        }
    }

    private mutating func raw() throws(ConfigError) -> ConfigToken {
        let line = self.line
        let column = self.column
        self.advance()
        var text = ""
        while let scalar = self.peek() {
            self.advance()
            if scalar == "`" {
                try self.expectTokenEnd(after: "a closing '`'")
                return ConfigToken(kind: .raw, text: text, line: line, column: column)
            }
            text.unicodeScalars.append(scalar)
        }
        throw self.error("unterminated raw string; expected a closing '`'", line: line, column: column)
    }

    /// Appends the value of the `${…}` starting here to `text`, each of its scalars at the `$`'s column, and
    /// records which variable it came from.
    private mutating func interpolate(
        into text: inout String,
        columns: inout [Int],
        substitutions: inout [ConfigToken.Substitution]
    ) throws(ConfigError) {
        let dollarColumn = self.column
        let (name, value) = try self.interpolation()
        let start = columns.count
        text += value
        columns += repeatElement(dollarColumn, count: value.unicodeScalars.count)
        substitutions.append(ConfigToken.Substitution(name: name, scalars: start..<columns.count))
    }

    /// `${NAME}` or `${NAME:-default}`, starting at `$`: the name and the text that replaces it.
    private mutating func interpolation() throws(ConfigError) -> (name: String, value: String) {
        let line = self.line
        let column = self.column
        self.advance()
        self.advance()
        var name = ""
        while let scalar = self.peek(), scalar == "_" || Self.isASCIIAlphanumeric(scalar) {
            name.unicodeScalars.append(scalar)
            self.advance()
        }
        if name.isEmpty || ("0"..."9").contains(name.unicodeScalars.first!) {
            throw self.error(
                "invalid environment variable name; expected ${NAME} with letters, digits and '_'",
                line: self.line,
                column: self.column - name.unicodeScalars.count
            )
        }
        var fallback: String?
        if self.peek() == ":" && self.peek(1) == "-" {
            self.advance()
            self.advance()
            var value = ""
            while let scalar = self.peek(), scalar != "}", scalar != "\n" {
                value.unicodeScalars.append(scalar)
                self.advance()
            }
            fallback = value
        }
        guard self.peek() == "}" else {
            throw self.error(
                "unterminated '${\(name)'; expected '}' (or ':-default}')",
                line: line,
                column: column
            )
        }
        self.advance()
        if let value = self.environment[name], !(fallback != nil && value.isEmpty) {
            if value.isEmpty && self.warnedVariables.insert(name).inserted {
                self.warnings.append(
                    ConfigWarning(
                        location: SourceLocation(file: self.file, line: line, column: column),
                        message: "environment variable '\(name)' is set but empty, so ${\(name)} is replaced by "
                            + "nothing; give it a value, or write ${\(name):-default} (${\(name):-} if empty is meant)"
                    ))
            }
            return (name, value)
        }
        if let fallback { return (name, fallback) }
        throw self.error(
            "environment variable '\(name)' is not set; set it or write ${\(name):-default}",
            line: line,
            column: column
        )
    }

    private mutating func expectTokenEnd(after what: String) throws(ConfigError) {
        if let next = self.peek(), !Self.endsBareWord(next) {
            throw self.error("expected a space, ';' or end of line after \(what)", line: self.line, column: self.column)
        }
    }

    // MARK: - Characters

    private static func endsBareWord(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" || scalar == ";"
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return false
        }
    }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        self.index + ahead < self.scalars.count ? self.scalars[self.index + ahead] : nil
    }

    private mutating func advance() {
        if self.scalars[self.index] == "\n" {
            self.line += 1
            self.column = 1
        } else {
            self.column += 1
        }
        self.index += 1
    }

    private func error(_ message: String, line: Int, column: Int) -> ConfigError {
        ConfigError(location: SourceLocation(file: self.file, line: line, column: column), message: message)
    }
}
