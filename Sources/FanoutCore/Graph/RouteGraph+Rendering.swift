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
            out += "    subgraph r\(number)[\"\(mermaidText([graph.title]))\"]\n"
            out += "        direction LR\n"
            out += drawNodes(
                of: graph,
                stage: { ("        subgraph \(prefix)s\($0)[\"stage \($0)\"]\n", "        end\n") },
                node: { node, indent in
                    let text = mermaidText(node.lines)
                    switch node.kind {
                    case .request: return "\(indent)\(prefix)\(node.id)([\"\(text)\"])\n"
                    case .response: return "\(indent)\(prefix)\(node.id)[[\"\(text)\"]]\n"
                    case .call(let isOptional):
                        if isOptional { optional.append(prefix + node.id) }
                        return "\(indent)\(prefix)\(node.id)[\"\(text)\"]\n"
                    case .action: return "\(indent)\(prefix)\(node.id)[\"\(text)\"]\n"
                    }
                })
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
            out += "    subgraph cluster_r\(number) {\n        label=\(dotString([graph.title]));\n"
            out += drawNodes(
                of: graph,
                stage: { number in
                    let open =
                        "        subgraph cluster_\(prefix)s\(number) {\n"
                        + "            label=\"stage \(number)\"; style=dashed; color=gray60;\n"
                    return (open, "        }\n")
                },
                node: { node, indent in
                    let attributes: String
                    switch node.kind {
                    case .request: attributes = ", shape=oval"
                    case .response: attributes = ", style=\"rounded,bold\""
                    case .call(let isOptional): attributes = isOptional ? ", style=\"rounded,dashed\"" : ""
                    case .action: attributes = ""
                    }
                    return "\(indent)\(prefix)\(node.id) [label=\(dotString(node.lines))\(attributes)];\n"
                })
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

    /// A DOT quoted string: `"` and `\` escaped, lines joined with DOT's `\n`. These are exactly the escapes of
    /// a Prometheus label value, so the exposition's function serves both.
    static func dotString(_ lines: [String]) -> String {
        "\"" + MetricsExposition.escapeLabelValue(lines.joined(separator: "\n")) + "\""
    }

    // MARK: - Drawing order

    /// The nodes of one route in drawing order: the request, then each stage between the `open` and `close`
    /// text `stage` gives for its number (from 1) with its calls inside, then the others. `node` draws one node
    /// at an indentation.
    private static func drawNodes(
        of graph: RouteGraph, stage: (Int) -> (open: String, close: String),
        node: (Node, _ indent: String) -> String
    ) -> String {
        let byID = Dictionary(graph.nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let staged = Set(graph.stages.joined())
        var out = ""
        for item in graph.nodes where item.kind == .request { out += node(item, "        ") }
        for (index, ids) in graph.stages.enumerated() {
            let text = stage(index + 1)
            out += text.open
            for id in ids { if let item = byID[id] { out += node(item, "            ") } }
            out += text.close
        }
        for item in graph.nodes where item.kind != .request && !staged.contains(item.id) {
            out += node(item, "        ")
        }
        return out
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
