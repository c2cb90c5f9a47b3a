import Foundation
import Testing

@testable import FanoutCore

/// The directive tables are the parser's only list of names: each name once per block, each documented (see
/// also ``DocsReferenceTests``), each "expected one of" list and suggestion drawn from them, and the grammar
/// summary of docs/reference/syntax.md generated from them.
@Suite struct DirectiveTableTests {
    @Test(arguments: ConfigFileParser.directiveTables.map(\.block))
    func noNameTwiceInABlock(_ block: String) {
        let table = ConfigFileParser.directiveTables.first { $0.block == block }!
        var met: Set<String> = []
        for name in table.names {
            #expect(met.insert(name).inserted, "\(block) lists '\(name)' twice")
        }
        #expect(Set(table.repeatable).isSubset(of: met))
    }

    @Test func everyBlockHasAReferencePage() {
        let pages = ConfigFileParser.directiveTables.map(\.referencePage)
        for page in pages {
            #expect(
                FileManager.default.fileExists(atPath: MarkdownDocs.root.appendingPathComponent(page).path),
                "no page \(page)")
        }
        #expect(Set(DocsReferenceTests.pages.map(\.path)).isSuperset(of: pages))
    }

    /// An unknown directive in each block: the list in the error is the table's, in its order.
    @Test(arguments: [
        ("frobnicate 1", "top level"),
        ("upstream a {\n url http://a:1\n frobnicate 1\n}", "upstream NAME"),
        ("upstream a {\n url http://a:1\n oauth2 {\n frobnicate 1\n }\n}", "oauth2"),
        ("route GET /x {\n frobnicate 1\n}", "route METHODS PATH"),
        ("route GET /x {\n call a GET http://a:1/ {\n frobnicate 1\n }\n}", "call NAME METHOD TARGET"),
        ("tracing {\n frobnicate 1\n}", "tracing"),
        ("cors {\n frobnicate 1\n}", "cors"),
        ("store {\n frobnicate 1\n}", "store"),
    ])
    func everyExpectedListComesFromTheTable(_ text: String, _ block: String) {
        let table = ConfigFileParser.directiveTables.first { $0.block == block }!
        do {
            _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
            Issue.record("\(block): parsed without an error")
        } catch {
            #expect(error.message.hasSuffix("; expected one of: \(table.names.joined(separator: ", "))"), "\(error)")
        }
    }

    /// A misspelling one edit away from each directive of each block is answered with that directive.
    @Test(arguments: ConfigFileParser.directiveTables.map(\.block))
    func everySuggestionComesFromTheTable(_ block: String) {
        let table = ConfigFileParser.directiveTables.first { $0.block == block }!
        for name in table.names {
            let typo = name + "x"
            #expect(Suggestion.closest(to: typo, among: table.names) == name, "\(block): \(typo)")
        }
    }

    /// docs/reference/syntax.md holds the grammar summary generated from the tables, between its markers.
    @Test func theGrammarSummaryInTheDocsIsGenerated() throws {
        let text = try String(
            contentsOf: MarkdownDocs.root.appendingPathComponent("docs/reference/syntax.md"), encoding: .utf8)
        let begin = "<!-- grammar: generated from the directive tables, see DirectiveTableTests -->\n```grammar\n"
        let end = "\n```\n<!-- end of grammar -->"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex)
        else {
            Issue.record(
                "docs/reference/syntax.md has no grammar section; expected:\n\(begin)\(ConfigFileParser.grammarSummary)\(end)"
            )
            return
        }
        let written = String(text[start.upperBound..<stop.lowerBound])
        #expect(
            written == ConfigFileParser.grammarSummary,
            "replace the grammar section with:\n\(ConfigFileParser.grammarSummary)")
    }

    /// The call block checks its own duplicates (shared with the options of the call's line): what its table
    /// says does not repeat is refused on a second line.
    @Test func theCallTableTellsWhatRepeats() {
        let arguments = [
            "for_each": "query.ids", "key_by": "item", "attach": "x", "extract": "a", "wrap": "w", "nest": "n",
            "body": "forward", "timeout": "1s", "optional": "", "required": "", "hidden": "", "cache": "1s",
            "stale_while_revalidate": "1s", "stale_if_error": "1s", "hedge": "off", "retries": "1",
        ]
        let table = ConfigFileParser.directiveTables.first { $0.block.hasPrefix("call ") }!
        for name in table.names where !table.repeatable.contains(name) {
            let line = "\(name) \(arguments[name] ?? "")"
            let text = "route GET /x {\n call a GET http://a:1/ {\n \(line)\n \(line)\n }\n}"
            do {
                _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
                Issue.record("a second '\(name)' line parsed")
            } catch {
                #expect(
                    error.location.line == 4
                        && (error.message.contains("duplicate") || error.message.contains("conflicts")),
                    "\(name): \(error)")
            }
        }
    }
}
