/// A route's call graph, as `fanout graph FILE [ROUTE]` draws it: the request, the calls grouped in stages
/// (a call's stage is one more than the latest stage it depends on; calls without dependencies are stage 1
/// and start together), the edges from chaining (`{CALL.FIELD}` references and `for_each` sources), and the
/// response with the calls that make it. Computed from the parsed configuration only: nothing runs.
///
/// Labels carry what decides a call's behaviour (method, upstream, path, `optional`, timeout, `for_each`
/// limits, cache, hedge, retries, `hidden`, `attach`) and never a header value or a URL's query (where
/// tokens tend to live); the renderers (``RouteGraph/mermaid(_:)``, ``RouteGraph/dot(_:)``) only escape.
public struct RouteGraph: Sendable, Equatable {
    public enum NodeKind: Sendable, Equatable {
        /// The client's request (the route).
        case request
        /// A composite call; optional ones are drawn dashed.
        case call(optional: Bool)
        /// A `proxy` route's upstream or a `respond` route's fixed answer.
        case action
        /// The answer to the client.
        case response
    }

    public struct Node: Sendable, Equatable {
        /// Unique within the graph: `request`, `c0`, `c1`, …, `action`, `response`.
        public var id: String
        public var kind: NodeKind
        /// Lines of the label, the first one the name.
        public var lines: [String]
    }

    public struct Edge: Sendable, Equatable {
        public var from: String
        public var to: String
        public var label: String?
        /// Drawn dashed: the edge carries an optional call's answer (its failure does not fail the request).
        public var dashed: Bool
    }

    /// The route's display name, `GET /demo`.
    public var title: String
    /// Request first, then the calls in file order (or the action), then the response.
    public var nodes: [Node]
    public var edges: [Edge]
    /// Per stage, in order, the ids of its calls (empty for proxy and respond routes).
    public var stages: [[String]]

    public init(route: RouteConfig, upstreams: [UpstreamConfig]) {
        let name = route.displayName
        switch route.action {
        case .composite(let composite):
            self = Self.composite(name: name, composite, upstreams: upstreams)
        case .proxy(let proxy):
            let upstream = upstreams[proxy.upstream]
            let target = proxy.target.map { Self.pathOnly($0.raw) } ?? "the client's path and query"
            let timeout =
                proxy.timeoutMs.map { "idle timeout \(Self.duration($0))" }
                ?? "idle timeout \(Self.duration(upstream.timeoutMs)) (upstream)"
            self.init(
                title: name,
                nodes: [
                    Node(id: "request", kind: .request, lines: ["request"]),
                    Node(id: "action", kind: .action, lines: ["proxy \(upstream.name)", target, timeout]),
                    Node(id: "response", kind: .response, lines: ["response", "the upstream's, streamed"]),
                ],
                edges: [
                    Edge(from: "request", to: "action", label: nil, dashed: false),
                    Edge(from: "action", to: "response", label: nil, dashed: false),
                ],
                stages: [])
        case .respond(let response):
            let delay = response.delayMs > 0 ? ["after \(Self.duration(response.delayMs))"] : []
            self.init(
                title: name,
                nodes: [
                    Node(id: "request", kind: .request, lines: ["request"]),
                    Node(id: "action", kind: .action, lines: ["respond \(response.status)"] + delay),
                ],
                edges: [Edge(from: "request", to: "action", label: nil, dashed: false)],
                stages: [])
        }
    }

    init(title: String, nodes: [Node], edges: [Edge], stages: [[String]]) {
        self.title = title
        self.nodes = nodes
        self.edges = edges
        self.stages = stages
    }

    // MARK: - Composite routes

    private static func composite(name: String, _ route: CompositeRoute, upstreams: [UpstreamConfig]) -> RouteGraph {
        let calls = route.calls
        let stage = Self.stages(calls)
        let deadline = "deadline \(Self.duration(route.deadlineMs))"
        var nodes = [Node(id: "request", kind: .request, lines: ["request", deadline])]
        var edges: [Edge] = []
        for (index, call) in calls.enumerated() {
            nodes.append(
                Node(
                    id: "c\(index)", kind: .call(optional: !call.required),
                    lines: Self.callLines(call, route: route, calls: calls, upstream: upstreams[call.upstream])))
            if call.dependencies.isEmpty {
                edges.append(Edge(from: "request", to: "c\(index)", label: nil, dashed: false))
            }
            for dependency in call.dependencies {
                edges.append(
                    Edge(
                        from: "c\(dependency)", to: "c\(index)",
                        label: Self.dependencyLabel(call, on: calls[dependency].name), dashed: false))
            }
        }
        nodes.append(Node(id: "response", kind: .response, lines: ["response", Self.combineLine(route, calls)]))
        for (index, call) in calls.enumerated() {
            guard let label = Self.responseLabel(index, route: route, calls: calls) else { continue }
            edges.append(
                Edge(from: "c\(index)", to: "response", label: label.isEmpty ? nil : label, dashed: !call.required))
        }
        let stageCount = stage.max() ?? 0
        let stages =
            stageCount == 0
            ? []
            : (1...stageCount).map { number in
                calls.indices.filter { stage[$0] == number }.map { "c\($0)" }
            }
        return RouteGraph(title: name, nodes: nodes, edges: edges, stages: stages)
    }

    /// Per call, its stage from 1: one more than the latest stage among its dependencies.
    static func stages(_ calls: [CallConfig]) -> [Int] {
        var stage = Array(repeating: 1, count: calls.count)
        // The parser rejects cycles, so `calls.count` rounds of relaxation settle every chain.
        for _ in calls.indices {
            var changed = false
            for (index, call) in calls.enumerated() {
                let needed = (call.dependencies.map { stage[$0] }.max() ?? 0) + 1
                if needed != stage[index] {
                    stage[index] = needed
                    changed = true
                }
            }
            if !changed { break }
        }
        return stage
    }

    private static func callLines(
        _ call: CallConfig, route: CompositeRoute, calls: [CallConfig], upstream: UpstreamConfig
    ) -> [String] {
        var lines = [call.required ? call.name : "\(call.name) (optional)"]
        lines.append("\(call.method) \(upstream.name) \(Self.pathOnly(call.target.raw))")
        if let forEach = call.forEach {
            let source: String
            switch forEach.source {
            case .query(let name): source = "query.\(name)"
            case .call(let name, let path): source = path.map { "\(name).\($0)" } ?? name
            }
            lines.append("for_each \(source): ≤ \(route.maxItems) items, \(route.maxConcurrency) at once")
        }
        if let shaping = Self.shapingLine(call.shape) { lines.append(shaping) }
        var facets: [String] = []
        facets.append(
            call.timeoutMs.map { "timeout \(Self.duration($0))" }
                ?? "timeout \(Self.duration(upstream.timeoutMs)) (upstream)")
        if let cache = call.cache {
            switch cache.lifetime {
            case .upTo(let ms): facets.append("cache \(Self.duration(ms))")
            case .upstream: facets.append("cache upstream")
            }
        }
        if let hedge = call.hedgeDelayMs ?? upstream.hedgeDelayMs, hedge > 0 {
            facets.append("hedge \(Self.duration(hedge))")
        }
        let retries = call.retries ?? upstream.retries
        if retries > 0 { facets.append("retries \(retries)") }
        if call.hidden { facets.append("hidden") }
        lines.append(facets.joined(separator: ", "))
        return lines
    }

    /// The call's reshaping in the order it applies (`extract data, pick id name`), nil when there is none.
    static func shapingLine(_ shape: CallShape) -> String? {
        var steps: [String] = []
        if let extract = shape.extract { steps.append("extract \(extract)") }
        if let wrap = shape.wrap { steps.append("wrap \(wrap)") }
        if !shape.pick.isEmpty { steps.append("pick " + shape.pick.map(\.description).joined(separator: " ")) }
        if !shape.drop.isEmpty { steps.append("drop " + shape.drop.map(\.description).joined(separator: " ")) }
        for rename in shape.renames { steps.append("rename \(rename.path) \(rename.name)") }
        if let nest = shape.nest { steps.append("nest \(nest)") }
        return steps.isEmpty ? nil : steps.joined(separator: ", ")
    }

    /// What flows along a dependency edge: the `for_each` source, and the `{CALL.FIELD}` references.
    private static func dependencyLabel(_ call: CallConfig, on source: String) -> String {
        var parts: [String] = []
        if let forEach = call.forEach, case .call(let name, let path) = forEach.source, name == source {
            parts.append("for_each " + (path.map { "\(name).\($0)" } ?? name))
        }
        var seen = Set<String>()
        for reference in call.references {
            guard case .call(let name, _) = reference, name == source else { continue }
            let text = "{\(reference)}"
            if seen.insert(text).inserted { parts.append(text) }
        }
        return parts.joined(separator: " ")
    }

    private static func combineLine(_ route: CompositeRoute, _ calls: [CallConfig]) -> String {
        switch route.combine {
        case .keyed: return "keyed by call name"
        case .merge(.concat): return "deep merge (arrays concatenated)"
        case .merge(.replace): return "deep merge (arrays replaced)"
        case .concat: return "one array (concat)"
        case .only(let index): return "only \(calls[index].name)"
        }
    }

    /// The label of a call's edge into the response (`""`: none), or nil when its answer is not part of it.
    private static func responseLabel(_ index: Int, route: CompositeRoute, calls: [CallConfig]) -> String? {
        let call = calls[index]
        if let forEach = call.forEach, let source = forEach.sourceCall {
            switch forEach.attachment {
            case .member(let name): return "attach \(name) into \(calls[source].name)"
            case .merge: return "attach merge into \(calls[source].name)"
            case .none: break
            }
        }
        if call.hidden { return nil }
        if case .only(let only) = route.combine { return only == index ? "" : nil }
        return ""
    }

    /// A target's path without its query (`/orders?user={user.id}` → `/orders?…`): a query may carry a token.
    static func pathOnly(_ raw: String) -> String {
        guard let question = raw.firstIndex(of: "?") else { return raw }
        return raw[..<question] + "?…"
    }

    /// `1s`, `1500ms`, `2m`.
    static func duration(_ milliseconds: Int) -> String {
        if milliseconds >= 60_000, milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds >= 1_000, milliseconds % 1_000 == 0 { return "\(milliseconds / 1_000)s" }
        return "\(milliseconds)ms"
    }
}
