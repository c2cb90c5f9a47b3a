import Foundation
import Testing

@testable import FanoutCore

/// Every directive and call option the parser knows has an entry in docs/reference: a `###` heading naming it
/// (in backticks) in the page of its block, with its syntax, default, context and an example. And every
/// relative link in the documentation leads to a file, and every `#anchor` to a heading of that file.
@Suite struct DocsReferenceTests {
    /// Each block's table (``ConfigFileParser/directiveTables``) names its page; the call page also holds the
    /// options of a `call` line.
    static let pages: [(path: String, names: [String])] = ConfigFileParser.directiveTables.map { table in
        (table.referencePage, table.block.hasPrefix("call ") ? ConfigFileParser.callOptions + table.names : table.names)
    }

    /// The names a heading gives in backticks: "`timeout=`, `timeout`" → ["timeout=", "timeout"].
    static func names(in heading: String) -> [String] {
        heading.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    @Test(arguments: pages.map(\.path)) func everyDirectiveHasAReferenceEntry(_ path: String) throws {
        let names = Self.pages.first { $0.path == path }!.names
        let page = try MarkdownDocs.page(path)
        let entries = page.headings.filter { $0.level == 3 }
        for name in names {
            guard let entry = entries.first(where: { Self.names(in: $0.text).contains(name) }) else {
                Issue.record("\(path) has no '### `\(name)`' entry for the directive '\(name)'")
                continue
            }
            let section = page.section(of: entry)
            for field in ["- Syntax:", "- Default:", "- Context:"]
            where !section.contains(where: { $0.hasPrefix(field) }) {
                Issue.record("\(path):\(entry.line): the entry of '\(name)' has no '\(field)' line")
            }
            if !section.contains(where: { $0.hasPrefix("```conf") }) {
                Issue.record("\(path):\(entry.line): the entry of '\(name)' has no conf or conf-fragment example")
            }
        }
    }

    /// The packaged man page proxy.conf(5) names every directive too (as roff text, where `_` is plain and `-`
    /// is written `\-`), so `man proxy.conf` never lags behind the parser.
    @Test func theManPageNamesEveryDirective() throws {
        let page = try String(
            contentsOf: MarkdownDocs.root.appendingPathComponent("deploy/debian/proxy.conf.5"), encoding: .utf8
        )
        .replacingOccurrences(of: "\\-", with: "-")
        for name in Self.pages.flatMap(\.names) {
            let word = name.hasSuffix("=") ? String(name.dropLast()) : name
            #expect(
                Self.containsWord(word, in: page), "deploy/debian/proxy.conf.5 does not name the directive '\(name)'")
        }
    }

    /// Whether `word` stands in `text` as a whole word (not inside a longer name: `url` in `curl` does not count).
    static func containsWord(_ word: String, in text: String) -> Bool {
        func isNamePart(_ character: Character?) -> Bool {
            guard let character else { return false }
            return character.isLetter || character.isNumber || character == "_"
        }
        var searchFrom = text.startIndex
        while let found = text.range(of: word, range: searchFrom..<text.endIndex) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            if !isNamePart(before) && !isNamePart(after) { return true }
            searchFrom = found.upperBound
        }
        return false
    }

    /// `path` relative to `directory` (both relative to the repository root), `..` resolved.
    static func resolve(_ path: String, from directory: String) -> String {
        var components: [Substring] = directory.split(separator: "/")
        for component in path.split(separator: "/") {
            if component == ".." {
                _ = components.popLast()
            } else if component != "." {
                components.append(component)
            }
        }
        return components.joined(separator: "/")
    }

    @Test func everyRelativeLinkResolves() throws {
        let pages = try MarkdownDocs.pages()
        var anchors: [String: Set<String>] = [:]
        for page in pages { anchors[page.path] = page.anchors }
        var checked = 0
        for page in pages {
            let directory = (page.path as NSString).deletingLastPathComponent
            for link in page.links {
                if link.target.contains("://") || link.target.hasPrefix("mailto:") { continue }
                checked += 1
                let parts = link.target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                var target = page.path
                if !parts[0].isEmpty {
                    target = Self.resolve(String(parts[0]), from: directory)
                    guard
                        FileManager.default.fileExists(
                            atPath: MarkdownDocs.root.appendingPathComponent(target).path)
                    else {
                        Issue.record("\(page.path):\(link.line): link to '\(link.target)': no file \(target)")
                        continue
                    }
                }
                guard parts.count == 2 else { continue }
                if anchors[target] == nil, target.hasSuffix(".md") {
                    anchors[target] = try MarkdownDocs.page(target).anchors
                }
                if let known = anchors[target], !known.contains(String(parts[1])) {
                    Issue.record(
                        "\(page.path):\(link.line): link to '\(link.target)': no heading #\(parts[1]) in \(target)")
                }
            }
        }
        #expect(checked >= 100, "checked \(checked) links")
    }
}
