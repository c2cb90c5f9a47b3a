import Foundation

/// The repository's Markdown documentation as the documentation tests read it: README.md, CONTRIBUTING.md,
/// CHANGELOG.md and every `.md` file under docs/, split into fenced blocks, headings and links.
struct MarkdownDocs {
    /// One fenced code block.
    struct Fence {
        /// The info string after the opening backticks (`conf`, `conf-fragment`, `sh`…), empty when none.
        var language: String
        var body: String
        /// 1-based line of the opening fence.
        var line: Int
    }

    /// One ATX heading outside fences.
    struct Heading {
        var level: Int
        var text: String
        var line: Int
    }

    /// One inline link `[text](target)` outside fences.
    struct Link {
        var target: String
        var line: Int
    }

    /// One Markdown file.
    struct Page {
        /// Path relative to the repository root, `docs/reference/upstream.md`.
        var path: String
        var lines: [Substring]
        var fences: [Fence] = []
        var headings: [Heading] = []
        var links: [Link] = []

        init(path: String, text: String) {
            self.path = path
            self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var open: (language: String, line: Int, body: [Substring])?
            for (index, line) in self.lines.enumerated() {
                if var fence = open {
                    if line.trimmingCharacters(in: .whitespaces) == "```" {
                        self.fences.append(
                            Fence(language: fence.language, body: fence.body.joined(separator: "\n"), line: fence.line))
                        open = nil
                    } else {
                        fence.body.append(line)
                        open = fence
                    }
                    continue
                }
                if line.hasPrefix("```") {
                    open = (String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces), index + 1, [])
                    continue
                }
                if line.hasPrefix("#") {
                    let level = line.prefix { $0 == "#" }.count
                    if level <= 6, line.dropFirst(level).first == " " {
                        self.headings.append(
                            Heading(level: level, text: String(line.dropFirst(level + 1)), line: index + 1))
                    }
                }
                self.links += Self.links(in: line, line: index + 1)
            }
        }

        /// `[text](target)` targets on one line, skipping inline code spans.
        static func links(in line: Substring, line number: Int) -> [Link] {
            var links: [Link] = []
            var inCode = false
            var index = line.startIndex
            while index < line.endIndex {
                let character = line[index]
                if character == "`" {
                    inCode.toggle()
                } else if !inCode, character == "]", line[line.index(after: index)...].hasPrefix("(") {
                    let start = line.index(index, offsetBy: 2)
                    if let end = line[start...].firstIndex(of: ")") {
                        links.append(Link(target: String(line[start..<end]), line: number))
                        index = end
                    }
                }
                index = line.index(after: index)
            }
            return links
        }

        /// GitHub's anchors for the headings: lowercased, characters other than letters, digits, spaces, `-` and
        /// `_` removed, spaces made `-`, a repeated anchor suffixed `-1`, `-2`…
        var anchors: Set<String> {
            var seen: [String: Int] = [:]
            var anchors = Set<String>()
            for heading in self.headings {
                let base = String(
                    heading.text.lowercased().unicodeScalars.compactMap { scalar -> Character? in
                        if scalar == " " { return "-" }
                        if scalar == "-" || scalar == "_" || scalar.properties.isAlphabetic
                            || ("0"..."9").contains(scalar)
                        {
                            return Character(scalar)
                        }
                        return nil
                    })
                let count = seen[base, default: 0]
                seen[base] = count + 1
                anchors.insert(count == 0 ? base : "\(base)-\(count)")
            }
            return anchors
        }

        /// The lines of the section a heading opens: up to the next heading of the same or a higher level.
        func section(of heading: Heading) -> [Substring] {
            let end =
                self.headings.first { $0.line > heading.line && $0.level <= heading.level }.map { $0.line - 1 }
                ?? self.lines.count
            return Array(self.lines[heading.line..<end])
        }
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md, in path order.
    static func pages() throws -> [Page] {
        var paths = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]
        let docs = root.appendingPathComponent("docs")
        if let walker = FileManager.default.enumerator(atPath: docs.path) {
            for case let relative as String in walker where relative.hasSuffix(".md") {
                paths.append("docs/" + relative)
            }
        }
        return try paths.sorted().map { path in
            Page(path: path, text: try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
        }
    }

    static func page(_ path: String) throws -> Page {
        Page(path: path, text: try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
    }
}
