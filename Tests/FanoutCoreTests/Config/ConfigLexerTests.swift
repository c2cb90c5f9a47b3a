import Testing

@testable import FanoutCore

@Suite struct ConfigLexerTests {
    private func lex(_ text: String, environment: [String: String] = [:]) throws -> [ConfigToken] {
        var lexer = ConfigLexer(text: text, file: "proxy.conf", environment: environment)
        return try lexer.tokenize()
    }

    private func summary(_ tokens: [ConfigToken]) -> [String] {
        tokens.map { token in
            switch token.kind {
            case .word: return token.text
            case .quoted: return "q(\(token.text))"
            case .raw: return "r(\(token.text))"
            case .openBrace: return "{"
            case .closeBrace: return "}"
            case .separator: return token.text == ";" ? ";" : "NL"
            }
        }
    }

    @Test func splitsWordsBracesAndSeparators() throws {
        let tokens = try lex("route GET /a/{id} {\n\tproxy x; timeout 1s; }\n")
        #expect(
            summary(tokens) == [
                "route", "GET", "/a/{id}", "{", "NL", "proxy", "x", ";", "timeout", "1s", ";", "}", "NL",
            ]
        )
    }

    @Test func recordsLineAndColumnOfEachToken() throws {
        let tokens = try lex("a bb\n  \"c\" `d`")
        let positions = tokens.filter(\.isArgument).map { [$0.line, $0.column] }
        #expect(positions == [[1, 1], [1, 3], [2, 3], [2, 7]])
        #expect(tokens.filter(\.isArgument).map(\.contentColumn) == [1, 3, 4, 8])
    }

    @Test func countsColumnsInUnicodeScalars() throws {
        let tokens = try lex("é ü x")
        #expect(tokens.map(\.column) == [1, 3, 5])
    }

    @Test func skipsCommentsOnlyAtTokenStart() throws {
        let tokens = try lex("a # comment { }\nb#c \"#d\" `#e`")
        #expect(summary(tokens) == ["a", "NL", "b#c", "q(#d)", "r(#e)"])
    }

    @Test func resolvesEscapesInDoubleQuotes() throws {
        let tokens = try lex(#""a\"b\\c\nd\te""#)
        #expect(tokens.map(\.text) == ["a\"b\\c\nd\te"])
    }

    @Test func keepsBacktickStringsVerbatimAcrossLines() throws {
        let tokens = try lex("x `{\"a\": \"#{b}\\n\",\n ${NOPE}}` y")
        #expect(summary(tokens) == ["x", "r({\"a\": \"#{b}\\n\",\n ${NOPE}})", "y"])
        #expect(tokens[2].line == 2)
    }

    @Test func quotedBracesAreWordsNotBlocks() throws {
        let tokens = try lex("\"{\" `}` {x}")
        #expect(tokens.map(\.kind) == [.quoted, .raw, .word])
    }

    @Test func interpolatedBraceIsAWord() throws {
        let tokens = try lex("${B}", environment: ["B": "{"])
        #expect(tokens.map(\.kind) == [.word])
    }

    @Test func treatsCRLFAsNewline() throws {
        let tokens = try lex("a b\r\nc\r\n")
        #expect(summary(tokens) == ["a", "b", "NL", "c", "NL"])
        #expect(tokens[3].line == 2)
    }

    @Test func dollarWithoutBraceIsLiteral() throws {
        let tokens = try lex("$HOME a$ \"$x\"")
        #expect(tokens.map(\.text) == ["$HOME", "a$", "$x"])
    }

    @Test func requiresSeparatorAfterClosingQuote() {
        #expect(throws: ConfigError.self) { try lex("\"a\"b") }
    }

    @Test func rejectsInvalidVariableName() {
        do {
            _ = try lex("a ${1X}")
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.location.column == 5)
            #expect(error.message.contains("invalid environment variable name"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
