/// One lexical token of `proxy.conf`.
struct ConfigToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// A bare word, `${VAR}` already interpolated.
        case word
        /// A `"double quoted"` string: escapes resolved, `${VAR}` interpolated.
        case quoted
        /// A `` `backtick raw` `` string: taken verbatim.
        case raw
        /// A bare `{` opening a block.
        case openBrace
        /// A bare `}` closing a block.
        case closeBrace
        /// A newline or `;`: the end of a directive.
        case separator
    }

    var kind: Kind
    /// The token's value (for strings, without the quotes).
    var text: String
    /// 1-based line of the token's first character.
    var line: Int
    /// 1-based column (in Unicode scalars) of the token's first character, quote included.
    var column: Int

    /// True for tokens that can be a directive argument.
    var isArgument: Bool {
        switch self.kind {
        case .word, .quoted, .raw: return true
        case .openBrace, .closeBrace, .separator: return false
        }
    }

    /// Column of the first character of `text` (after an opening quote).
    var contentColumn: Int {
        switch self.kind {
        case .quoted, .raw: return self.column + 1
        case .word, .openBrace, .closeBrace, .separator: return self.column
        }
    }

    /// How the token reads in a message.
    var display: String {
        switch self.kind {
        case .separator: return self.text == ";" ? "';'" : "end of line"
        case .word, .quoted, .raw, .openBrace, .closeBrace: return "'\(self.text)'"
        }
    }
}
