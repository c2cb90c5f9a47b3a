/// The two text forms of route graphs: Mermaid (`flowchart LR`, renders in GitHub's ```mermaid blocks) and
/// Graphviz DOT (`dot -Tpng`). Each route is a box of its own (a subgraph, a DOT cluster) holding one box per
/// stage; node ids are prefixed with the route's position (`r0_c1`). Optional calls and the edges carrying
/// their answers are dashed.
extension RouteGraph {
    /// The output formats of `fanout graph`.
    public enum Format: String, Sendable, CaseIterable {
        case mermaid
        case dot
    }

    public static func render(_ graphs: [RouteGraph], as format: Format) -> String {
        switch format {
        case .mermaid: return mermaid(graphs)
        case .dot: return dot(graphs)
        }
    }

    // MARK: - Mermaid

    public static func mermaid(_ graphs: [RouteGraph]) -> String {
        var out = "flowchart LR\n"
        var optional: [String] = []
        for (number, graph) in graphs.enumerated() {
            let prefix = "r\(number)_"
            let byID = Dictionary(graph.nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            out += "    subgraph r\(number)[\"\(mermaidText([graph.title]))\"]\n"
            out += "        direction LR\n"
            func node(_ node: Node, indent: String) {
                let text = mermaidText(node.lines)
                switch node.kind {
                case .request: out += "\(indent)\(prefix)\(node.id)([\"\(text)\"])\n"
                case .response: out += "\(indent)\(prefix)\(node.id)[[\"\(text)\"]]\n"
                case .call(let isOptional):
                    out += "\(indent)\(prefix)\(node.id)[\"\(text)\"]\n"
                    if isOptional { optional.append(prefix + node.id) }
                case .action: out += "\(indent)\(prefix)\(node.id)[\"\(text)\"]\n"
                }
            }
            let staged = Set(graph.stages.joined())
            for item in graph.nodes where item.kind == .request { node(item, indent: "        ") }
            for (index, stage) in graph.stages.enumerated() {
                out += "        subgraph \(prefix)s\(index + 1)[\"stage \(index + 1)\"]\n"
                for id in stage { if let item = byID[id] { node(item, indent: "            ") } }
                out += "        end\n"
            }
            for item in graph.nodes where item.kind != .request && !staged.contains(item.id) {
                node(item, indent: "        ")
            }
            out += "    end\n"
            for edge in graph.edges {
                let arrow = edge.dashed ? "-.->" : "-->"
                let label = edge.label.map { "|\"\(mermaidText([$0]))\"|" } ?? ""
                out += "    \(prefix)\(edge.from) \(arrow)\(label) \(prefix)\(edge.to)\n"
            }
        }
        if !optional.isEmpty {
            out += "    classDef optional stroke-dasharray: 5 4\n"
            out += "    class \(optional.joined(separator: ",")) optional\n"
        }
        return out
    }

    /// Label text inside Mermaid's `"…"`: lines joined with `<br/>`, and the characters Mermaid or HTML would
    /// read as syntax written as Mermaid entity codes (`#quot;`, `#lt;`, …).
    static func mermaidText(_ lines: [String]) -> String {
        lines.map { line in
            var escaped = ""
            for character in line {
                switch character {
                case "#": escaped += "#35;"
                case "\"": escaped += "#quot;"
                case "<": escaped += "#lt;"
                case ">": escaped += "#gt;"
                case "&": escaped += "#amp;"
                default: escaped.append(character)
                }
            }
            return escaped
        }.joined(separator: "<br/>")
    }

    // MARK: - DOT

    public static func dot(_ graphs: [RouteGraph]) -> String {
        var out = """
            digraph fanout {
                rankdir=LR;
                graph [fontname="Helvetica", fontsize=12];
                node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];
                edge [fontname="Helvetica", fontsize=10];

            """
        for (number, graph) in graphs.enumerated() {
            let prefix = "r\(number)_"
            let byID = Dictionary(graph.nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            out += "    subgraph cluster_r\(number) {\n        label=\(dotString([graph.title]));\n"
            func node(_ node: Node, indent: String) {
                let attributes: String
                switch node.kind {
                case .request: attributes = "shape=oval"
                case .response: attributes = "style=\"rounded,bold\""
                case .call(let isOptional): attributes = isOptional ? "style=\"rounded,dashed\"" : ""
                case .action: attributes = ""
                }
                let extra = attributes.isEmpty ? "" : ", " + attributes
                out += "\(indent)\(prefix)\(node.id) [label=\(dotString(node.lines))\(extra)];\n"
            }
            let staged = Set(graph.stages.joined())
            for item in graph.nodes where item.kind == .request { node(item, indent: "        ") }
            for (index, stage) in graph.stages.enumerated() {
                out += "        subgraph cluster_\(prefix)s\(index + 1) {\n"
                out += "            label=\"stage \(index + 1)\"; style=dashed; color=gray60;\n"
                for id in stage { if let item = byID[id] { node(item, indent: "            ") } }
                out += "        }\n"
            }
            for item in graph.nodes where item.kind != .request && !staged.contains(item.id) {
                node(item, indent: "        ")
            }
            out += "    }\n"
            for edge in graph.edges {
                var attributes: [String] = []
                if let label = edge.label { attributes.append("label=\(dotString([label]))") }
                if edge.dashed { attributes.append("style=dashed") }
                let list = attributes.isEmpty ? "" : " [\(attributes.joined(separator: ", "))]"
                out += "    \(prefix)\(edge.from) -> \(prefix)\(edge.to)\(list);\n"
            }
        }
        out += "}\n"
        return out
    }

    /// A DOT quoted string: `"` and `\` escaped, lines joined with DOT's `\n`.
    static func dotString(_ lines: [String]) -> String {
        let escaped = lines.map { line in
            var text = ""
            for character in line {
                switch character {
                case "\\": text += "\\\\"
                case "\"": text += "\\\""
                case "\n": text += "\\n"
                default: text.append(character)
                }
            }
            return text
        }
        return "\"" + escaped.joined(separator: "\\n") + "\""
    }

    // MARK: - Choosing routes

    /// The routes `fanout graph FILE ROUTE` draws: all of them without `selector`, else those whose display
    /// name (`GET /demo`) or path (`/demo`) is `selector`.
    /// - Throws: ``RouteSelectionError`` naming the routes there are (and the closest, when one is close).
    public static func routes(in config: FanoutConfig, matching selector: String?) throws(RouteSelectionError)
        -> [RouteConfig]
    {
        guard let selector else { return config.routes }
        let chosen = config.routes.filter { $0.displayName == selector || $0.path.raw == selector }
        if !chosen.isEmpty { return chosen }
        let names = config.routes.map(\.path.raw)
        throw RouteSelectionError(
            selector: selector, routes: config.routes.map(\.displayName),
            suggestion: Suggestion.closest(to: selector, among: names))
    }
}

/// `fanout graph FILE ROUTE` named no route of FILE.
public struct RouteSelectionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var selector: String
    /// Every route's display name, in file order.
    public var routes: [String]
    public var suggestion: String?

    public var description: String {
        var text = "no route '\(selector)'"
        if let suggestion { text += "; did you mean '\(suggestion)'?" }
        text += " Routes: " + (routes.isEmpty ? "none" : routes.joined(separator: ", "))
        return text
    }
}
