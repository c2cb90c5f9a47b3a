import Foundation
import Testing

@testable import FanoutCore

/// Every configuration example in README.md and docs/ must pass the parser, so the documentation cannot drift
/// from it: a ```conf block is a whole file and parses as written; a ```conf-fragment block is part of one and
/// parses once placed in a block of the kind it belongs to (with the upstreams it names declared). Every other
/// fence has a language and holds no `route` or `upstream` block.
@Suite struct DocsExamplesTests {
    /// Values for the `${VAR}` a block reads without a default.
    static func environment(for text: String) -> [String: String] {
        var environment: [String: String] = [:]
        var rest = text[...]
        while let start = rest.range(of: "${") {
            let name = rest[start.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            rest = rest[start.upperBound...]
            if rest.dropFirst(name.count).first == "}" { environment[String(name)] = "token" }
        }
        return environment
    }

    /// `upstream NAME { url http://NAME.test:1 }` for every name used after a method in `call` or by `proxy`
    /// and not defined in `text`.
    static func declaringUpstreams(_ text: String) -> String {
        var names = Set<String>()
        var defined = Set<String>()
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.first == "call", words.count > 3, !words[3].contains(":") { names.insert(String(words[3])) }
            if words.first == "proxy", words.count > 1, !words[1].contains(":") { names.insert(String(words[1])) }
            if words.first == "upstream", words.count > 1 { defined.insert(String(words[1])) }
        }
        let declarations = names.subtracting(defined).sorted().map { "upstream \($0) { url http://\($0).test:1 }" }
        return (declarations + [text]).joined(separator: "\n")
    }

    /// The blocks a fragment may belong to, each with the fragment in place.
    static func placements(of fragment: String) -> [String] {
        let route = "route GET /example/{id} {"
        return [
            declaringUpstreams(fragment),
            "upstream example {\nurl https://example.test\n\(fragment)\n}",
            "upstream example {\n\(fragment)\n}",
            declaringUpstreams("\(route)\ncall example GET http://example.test:1/x\n\(fragment)\n}"),
            "\(route)\nproxy http://example.test:1\n\(fragment)\n}",
            "\(route)\nrespond 200\n\(fragment)\n}",
            declaringUpstreams("\(route)\n\(fragment)\n}"),
            declaringUpstreams("\(route)\ncall example GET http://example.test:1/x {\n\(fragment)\n}\n}"),
            "tracing {\notlp_endpoint http://collector.test:4318\n\(fragment)\n}",
            "tracing {\n\(fragment)\n}",
        ]
    }

    /// What an example's `include` reads: every plain path is an empty file, a glob matches nothing.
    struct EmptyIncludes: ConfigIncludeReader {
        func read(_ path: String) throws(ConfigIncludeReadError) -> String { "" }
        func entries(ofDirectory path: String) -> [String]? { nil }
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> FanoutConfig {
        try ConfigParser.parse(text, file: file, environment: environment(for: text), includes: EmptyIncludes())
    }

    @Test func everyConfBlockParsesWhole() throws {
        var blocks = 0
        for page in try MarkdownDocs.pages() {
            for fence in page.fences where fence.language == "conf" {
                blocks += 1
                do {
                    _ = try Self.parse(fence.body, file: "\(page.path):\(fence.line)")
                } catch {
                    Issue.record("\(page.path):\(fence.line): a conf block does not parse as a whole file: \(error)")
                }
            }
        }
        #expect(blocks >= 12, "found \(blocks) conf blocks")
    }

    @Test func everyFragmentParsesInABlock() throws {
        var fragments = 0
        for page in try MarkdownDocs.pages() {
            for fence in page.fences where fence.language == "conf-fragment" {
                fragments += 1
                var firstError: ConfigError?
                var parsed = false
                for text in Self.placements(of: fence.body) {
                    do {
                        _ = try Self.parse(text, file: page.path)
                        parsed = true
                        break
                    } catch {
                        firstError = firstError ?? error
                    }
                }
                if !parsed {
                    Issue.record(
                        "\(page.path):\(fence.line): a conf-fragment parses in no block: \(firstError.map { "\($0)" } ?? "")"
                    )
                }
            }
        }
        #expect(fragments >= 80, "found \(fragments) conf-fragment blocks")
    }

    @Test func everyFenceHasALanguageAndOnlyConfFencesHoldConfig() throws {
        for page in try MarkdownDocs.pages() {
            for fence in page.fences {
                if fence.language.isEmpty {
                    let hint = "use conf or conf-fragment for configuration, sh, console, text, json… otherwise"
                    Issue.record("\(page.path):\(fence.line): a fence without a language; \(hint)")
                    continue
                }
                if fence.language == "conf" || fence.language == "conf-fragment" { continue }
                for line in fence.body.split(separator: "\n") {
                    let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                    if let first = words.first, first == "route" || first == "upstream", words.last == "{" {
                        Issue.record(
                            "\(page.path):\(fence.line): a \(fence.language) block holds configuration: \(line)")
                    }
                }
            }
        }
    }

    /// The README's quick start is what CI and newcomers run: the install line, then these exact commands.
    @Test func readmeKeepsTheQuickStartCommands() throws {
        let readme = try MarkdownDocs.page("README.md")
        let shell = readme.fences.filter { $0.language == "sh" }.map(\.body)
        #expect(shell.contains { $0.hasPrefix("sudo apt-get install -y libcurl4-openssl-dev") })
        #expect(shell.contains("swift run fanout\nswift test"))
    }
}
