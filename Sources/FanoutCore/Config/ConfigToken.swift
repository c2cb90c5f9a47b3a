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
    /// When `text` is not the source as written (an escape resolved or a `${…}` substituted): the source column
    /// of each scalar of `text`, then the column just after it (a closing quote, or the end of the word). Every
    /// scalar of a substituted value maps to its `$`. Nil when `text` is written as is.
    var sourceColumns: [Int]? = nil
    /// The `${…}` values substituted into `text`, in order, so an error inside one can name its variable.
    var substitutions: [Substitution] = []

    /// One `${NAME}` (or `${NAME:-default}`) whose value became part of a token.
    struct Substitution: Sendable, Equatable {
        /// The variable's name, without `${` and `}`.
        var name: String
        /// Where its value (or default) sits in the token's `text`, in Unicode scalars.
        var scalars: Range<Int>
    }

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

    /// The line and column where the scalar at `offset` of `text` is written (for an offset at or past the end,
    /// where the text ends), so an error inside a token always points into the file. Backtick strings may span
    /// lines: their newlines are counted.
    func sourcePosition(ofScalarAt offset: Int) -> (line: Int, column: Int) {
        if let columns = self.sourceColumns {
            return (self.line, columns[max(0, min(offset, columns.count - 1))])
        }
        var line = self.line
        var column = self.contentColumn
        for scalar in self.text.unicodeScalars.prefix(max(0, offset)) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    /// The variables whose value covers the scalar at `offset` of `text`, or ends just before it (an error
    /// at the end of a value, like a missing port, is about that value).
    func substitutions(at offset: Int) -> [String] {
        self.substitutions.filter { $0.scalars.lowerBound <= offset && offset <= $0.scalars.upperBound }.map(\.name)
    }

    /// How the token reads in a message.
    var display: String {
        switch self.kind {
        case .separator: return self.text == ";" ? "';'" : "end of line"
        case .word, .quoted, .raw, .openBrace, .closeBrace: return "'\(self.text)'"
        }
    }
}
