import Foundation
import Testing

@testable import FanoutCore

/// Every `route` example in README.md must pass `fanout check`, so the documentation cannot drift from the
/// parser. Upstreams the examples name without defining are declared first.
@Suite struct ReadmeExamplesTests {
    static let readme = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    /// The fenced code blocks without a language that hold at least one `route`.
    static func routeExamples() throws -> [String] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        var examples: [String] = []
        var current: [Substring]?
        var inFence = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !inFence && line.hasPrefix("```") {
                inFence = true
                current = line == "```" ? [] : nil  // only blocks without a language
            } else if inFence && line == "```" {
                inFence = false
                if let block = current, block.contains(where: { $0.hasPrefix("route ") }) {
                    examples.append(block.joined(separator: "\n"))
                }
                current = nil
            } else if inFence {
                current?.append(line)
            }
        }
        return examples
    }

    /// `upstream NAME { url http://NAME.test:1 }` for every name used after a method in `call` or by `proxy`.
    static func declaringUpstreams(_ example: String) -> String {
        var names = Set<String>()
        for line in example.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.first == "call", words.count > 3, !words[3].contains(":") { names.insert(String(words[3])) }
            if words.first == "proxy", words.count > 1, !words[1].contains(":") { names.insert(String(words[1])) }
        }
        let defined = Set(example.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            return words.first == "upstream" && words.count > 1 ? String(words[1]) : nil
        })
        let declarations = names.subtracting(defined).sorted().map { "upstream \($0) { url http://\($0).test:1 }" }
        return (declarations + [example]).joined(separator: "\n")
    }

    @Test func everyRouteExampleParses() throws {
        let examples = try Self.routeExamples()
        var routes = 0
        for example in examples {
            do {
                routes += try ConfigParser.parse(
                    Self.declaringUpstreams(example), file: "README.md", environment: ["PARTNER_TOKEN": "t"]).routes.count
            } catch {
                Issue.record("README example does not parse: \(error)\n\(example)")
            }
        }
        #expect(routes >= 13, "found \(routes) routes in \(examples.count) examples")
    }
}
