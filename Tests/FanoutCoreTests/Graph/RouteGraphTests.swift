import Foundation
import Testing

@testable import FanoutCore

/// `fanout graph`'s model and renderers, on the routes of the shipped `proxy.conf`.
@Suite struct RouteGraphTests {
    static let shipped = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("proxy.conf")

    static func graph(_ selector: String, in text: String? = nil) throws -> RouteGraph {
        let config = try ConfigParser.parse(
            try text ?? String(contentsOf: shipped, encoding: .utf8), file: "proxy.conf", environment: [:])
        let routes = try RouteGraph.routes(in: config, matching: selector)
        try #require(routes.count == 1)
        return RouteGraph(route: routes[0], upstreams: config.upstreams)
    }

    static func edge(_ graph: RouteGraph, _ from: String, _ to: String) -> RouteGraph.Edge? {
        graph.edges.first { $0.from == from && $0.to == to }
    }

    @Test func demoRunsItsThreeCallsInOneStageAndDashesTheOptionalOne() throws {
        let graph = try Self.graph("/demo")
        #expect(graph.title == "GET /demo")
        #expect(graph.stages == [["c0", "c1", "c2"]])
        #expect(graph.nodes[0].lines == ["request", "deadline 1s"])
        #expect(graph.nodes[1].lines == ["profile", "GET self /partners/profile", "timeout 2s (upstream)"])
        #expect(graph.nodes[3].kind == .call(optional: true))
        #expect(graph.nodes[3].lines == ["score (optional)", "GET self /partners/score", "timeout 500ms"])
        for call in ["c0", "c1", "c2"] { #expect(Self.edge(graph, "request", call) != nil) }
        #expect(Self.edge(graph, "c0", "response")?.dashed == false)
        #expect(Self.edge(graph, "c2", "response")?.dashed == true)
        #expect(graph.nodes.last?.lines == ["response", "keyed by call name"])
    }

    @Test func statsFansOutOverTheProductListInASecondStageAndAttachesIntoIt() throws {
        let graph = try Self.graph("GET /demo/stats")
        #expect(graph.stages == [["c0"], ["c1"]])
        #expect(Self.edge(graph, "c0", "c1")?.label == "for_each products.items")
        #expect(Self.edge(graph, "request", "c1") == nil)
        let stock = try #require(graph.nodes.first { $0.id == "c1" })
        #expect(stock.lines.contains("for_each products.items: ≤ 100 items, 16 at once"))
        #expect(stock.lines.contains("pick available warehouse"))
        let products = try #require(graph.nodes.first { $0.id == "c0" })
        #expect(products.lines.contains("drop items[].cost_price items[].supplier_ref"))
        #expect(
            Self.edge(graph, "c1", "response")
                == RouteGraph.Edge(
                    from: "c1", to: "response", label: "attach merge into products", dashed: true))
        #expect(graph.nodes.last?.lines == ["response", "only products"])
    }

    @Test func chainPutsTheReadingCallAfterTheOneItReads() throws {
        let graph = try Self.graph("/demo/chain")
        #expect(graph.stages == [["c0"], ["c1"]])
        #expect(Self.edge(graph, "c0", "c1")?.label == "{profile.tier}")
        #expect(
            graph.nodes[2].lines == [
                "tier", "GET self /partners/tiers/{profile.tier}", "extract benefits", "timeout 2s (upstream)",
            ])
        let expected = """
            flowchart LR
                subgraph r0["GET /demo/chain"]
                    direction LR
                    r0_request(["request<br/>deadline 1s"])
                    subgraph r0_s1["stage 1"]
                        r0_c0["profile<br/>GET self /partners/profile<br/>timeout 2s (upstream)"]
                    end
                    subgraph r0_s2["stage 2"]
                        r0_c1["tier<br/>GET self /partners/tiers/{profile.tier}<br/>extract benefits<br/>timeout 2s (upstream)"]
                    end
                    r0_response[["response<br/>keyed by call name"]]
                end
                r0_request --> r0_c0
                r0_c0 -->|"{profile.tier}"| r0_c1
                r0_c0 --> r0_response
                r0_c1 --> r0_response

            """
        #expect(RouteGraph.mermaid([graph]) == expected)
    }

    @Test func dotHasAClusterPerRouteAndStageAndDashesOptionalCalls() throws {
        let dot = RouteGraph.dot([try Self.graph("/demo")])
        #expect(dot.hasPrefix("digraph fanout {\n"))
        #expect(dot.contains("subgraph cluster_r0 {\n        label=\"GET /demo\";"))
        #expect(dot.contains("subgraph cluster_r0_s1 {"))
        let score =
            #"r0_c2 [label="score (optional)\nGET self /partners/score\ntimeout 500ms", style="rounded,dashed"];"#
        #expect(dot.contains(score))
        #expect(dot.contains("r0_c2 -> r0_response [style=dashed];"))
        #expect(dot.hasSuffix("}\n"))
    }

    @Test func deeperChainsGetOneStagePerStepAndHiddenCallsFeedNoResponse() throws {
        let graph = try Self.graph(
            "/deep",
            in: """
                upstream u { url http://u.test; }
                route GET /deep {
                    call token GET u /token {
                        hidden
                    }
                    call user GET u /users/me?auth={token.value}
                    call orders GET u /orders?user={user.id}&auth={token.value} optional timeout=300ms cache=30s
                    call flags GET u /flags
                }
                """)
        #expect(graph.stages == [["c0", "c3"], ["c1"], ["c2"]])
        #expect(Self.edge(graph, "c0", "response") == nil)
        #expect(Self.edge(graph, "c0", "c2")?.label == "{token.value}")
        #expect(Self.edge(graph, "c1", "c2")?.label == "{user.id}")
        let orders = try #require(graph.nodes.first { $0.id == "c2" })
        // The query (where tokens tend to be) is not shown; what it reads is, on the edges.
        #expect(orders.lines == ["orders (optional)", "GET u /orders?…", "timeout 300ms, cache 30s"])
        #expect(graph.nodes[1].lines.last == "timeout 10s (upstream), hidden")
    }

    @Test func proxyAndRespondRoutesHaveOneActionAndNoStages() throws {
        let config = try ConfigParser.parse(
            "upstream u { url http://u.test; }\nroute * /api/{rest...} { proxy u /v2/{rest...}; timeout 5s; }\n"
                + "route GET /ok { respond 204; delay 20ms; }\n",
            file: "t.conf", environment: [:])
        let proxy = RouteGraph(route: config.routes[0], upstreams: config.upstreams)
        #expect(proxy.stages.isEmpty)
        #expect(
            proxy.nodes.map(\.lines) == [
                ["request"], ["proxy u", "/v2/{rest...}", "idle timeout 5s"], ["response", "the upstream's, streamed"],
            ])
        let respond = RouteGraph(route: config.routes[1], upstreams: config.upstreams)
        #expect(respond.nodes.map(\.lines) == [["request"], ["respond 204", "after 20ms"]])
    }

    @Test func escapesLabelsForMermaidAndDOT() {
        #expect(RouteGraph.mermaidText([#"a "b" <c> & #d"#, "e"]) == "a #quot;b#quot; #lt;c#gt; #amp; #35;d<br/>e")
        #expect(RouteGraph.dotString([#"a "b" \c"#, "d"]) == #""a \"b\" \\c\nd""#)
    }

    /// docs/guide/graphs.md shows `fanout graph proxy.conf ROUTE` for three routes: each ```mermaid block is
    /// what the renderer prints for the route named in the heading above it.
    @Test func theGuidesGraphsAreWhatTheRendererPrints() throws {
        let guide = Self.shipped.deletingLastPathComponent().appendingPathComponent("docs/guide/graphs.md")
        let text = try String(contentsOf: guide, encoding: .utf8)
        var route: String?
        var block: String?
        var checked = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## `"), let end = line.dropFirst(4).firstIndex(of: "`") {
                route = String(line.dropFirst(4)[..<end])
            } else if line == "```mermaid" {
                block = ""
            } else if line == "```", let finished = block, let name = route {
                #expect(finished == RouteGraph.mermaid([try Self.graph(name)]), "block under \(name)")
                checked += 1
                block = nil
            } else if block != nil {
                block! += line + "\n"
            }
        }
        #expect(checked == 3)
    }

    @Test func anUnknownRouteNamesTheRoutesAndTheClosestOne() throws {
        let config = try ConfigParser.parse(
            try String(contentsOf: Self.shipped, encoding: .utf8), file: "proxy.conf", environment: [:])
        #expect(try RouteGraph.routes(in: config, matching: nil).count == config.routes.count)
        #expect(throws: RouteSelectionError.self) { try RouteGraph.routes(in: config, matching: "/demo/chian") }
        do {
            _ = try RouteGraph.routes(in: config, matching: "/demo/chian")
        } catch {
            #expect(error.suggestion == "/demo/chain")
            #expect(
                error.description.hasPrefix("no route '/demo/chian'; did you mean '/demo/chain'? Routes: GET /demo,"))
        }
    }
}
