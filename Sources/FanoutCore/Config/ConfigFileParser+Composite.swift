extension ConfigFileParser {
    // MARK: - Route settings of a composite

    /// combine := 'combine' ('keyed' | 'merge' ['concat' | 'replace'] | 'concat' | 'only' CALL)
    mutating func parseCombine(_ directive: ConfigToken) throws(ConfigError) -> (CombineMode, ConfigToken?) {
        let expected = "keyed, merge [concat|replace], concat or only CALL"
        let mode = try self.cursor.requireArgument(of: directive, expected: expected)
        switch mode.text {
        case "keyed":
            return (.keyed, nil)
        case "concat":
            return (.concat, nil)
        case "merge":
            guard let policy = self.cursor.nextArgument() else { return (.merge(.concat), nil) }
            switch policy.text {
            case "concat": return (.merge(.concat), nil)
            case "replace": return (.merge(.replace), nil)
            default:
                throw self.cursor.error(
                    "unknown array policy '\(policy.text)'; expected concat (arrays are joined) or replace "
                        + "(the later array wins)",
                    at: policy)
            }
        case "only":
            let name = try self.cursor.requireArgument(of: directive, expected: "the name of the call to answer with")
            return (.only(-1), name)
        default:
            let hint =
                Suggestion.closest(to: mode.text, among: ["keyed", "merge", "concat", "only"])
                .map { "did you mean '\($0)'?" } ?? "expected \(expected)"
            throw self.cursor.error("unknown combine mode '\(mode.text)'; \(hint)", at: mode)
        }
    }

    /// field := 'field' NAME JSON-VALUE
    mutating func parseStaticField(_ directive: ConfigToken, existing: [JSONMember]) throws(ConfigError)
        -> JSONMember
    {
        let name = try self.cursor.requireArgument(of: directive, expected: "a member name and a JSON value")
        let key = try self.memberName(name)
        if existing.contains(where: { $0.key == key }) {
            throw self.cursor.error("duplicate field '\(key)'; expected each static field once", at: name)
        }
        let value = try self.cursor.requireArgument(
            of: directive, expected: "a JSON value after '\(key)', like `\"v2\"`, 42, true or `{\"a\": 1}`")
        do throws(JSONParseError) {
            return JSONMember(key: key, value: try JSONValue(parsing: Array(value.text.utf8)))
        } catch {
            throw self.cursor.error(
                "invalid JSON value for field '\(key)': \(error.message); strings need quotes inside backticks, "
                    + "like `\"v2\"`",
                at: value, utf8Offset: error.offset)
        }
    }

    // MARK: - Linking the calls of a route

    /// Resolves call references, derives each call's dependencies and rejects what cannot run: unknown calls,
    /// cycles, `{item}` outside `for_each`, impossible `attach`, `combine only` naming no call, and so on.
    func link(
        _ route: inout CompositeRoute,
        sites: [CallSite],
        combineTarget: ConfigToken?,
        settings: [String: ConfigToken],
        context: String
    ) throws(ConfigError) {
        let names = route.calls.map(\.name)
        var index: [String: Int] = [:]
        for (position, name) in names.enumerated() { index[name] = position }

        for position in route.calls.indices {
            var call = route.calls[position]
            let site = sites[position]
            var dependencies = Set<Int>()
            for reference in site.references {
                switch reference.reference {
                case .call(let name, _):
                    dependencies.insert(
                        try self.resolveCall(
                            name, index: index, names: names, token: reference.token, offset: reference.scalarOffset))
                case .item:
                    if call.forEach == nil {
                        throw self.cursor.error(
                            "'{\(reference.reference)}' refers to the current item, but call '\(call.name)' has no "
                                + "'for_each'",
                            at: reference.token, scalarOffset: reference.scalarOffset)
                    }
                case .query, .header, .body:
                    break
                }
            }
            if var forEach = call.forEach, let token = site.forEachToken {
                if case .call(let name, let path) = forEach.source {
                    let source = try self.resolveCall(name, index: index, names: names, token: token, offset: 0)
                    if route.calls[source].forEach != nil {
                        throw self.cursor.error(
                            "'for_each' cannot read call '\(name)', which is itself a for_each call; "
                                + "expected a call with one answer",
                            at: token)
                    }
                    forEach.sourceCall = source
                    dependencies.insert(source)
                    if let attach = site.attachToken, path?.steps.contains(.each) == true {
                        throw self.cursor.error(
                            "'attach' needs for_each to name one array (no '[]' in '\(token.text)')", at: attach)
                    }
                } else if let attach = site.attachToken {
                    throw self.cursor.error(
                        "'attach' needs for_each over another call's answer; items of \(token.text) have no "
                            + "source element",
                        at: attach)
                }
                call.forEach = forEach
            }
            call.dependencies = dependencies.sorted()
            route.calls[position] = call
        }
        try self.rejectCycles(route.calls, sites: sites)

        if let target = combineTarget {
            route.combine = .only(
                try self.resolveCall(target.text, index: index, names: names, token: target, offset: 0))
        }
        if case .concat = route.combine, let field = settings["field"] {
            throw self.cursor.error(
                "'field' adds members to an object, but 'combine concat' answers with an array", at: field)
        }
        defer { route.prepare() }
        if route.passStatus, let token = settings["pass_status"] {
            if route.calls.count != 1 || route.calls[0].forEach != nil {
                throw self.cursor.error(
                    "'pass_status' needs a route with exactly one call without for_each; \(context) has "
                        + "\(route.calls.count) call(s)",
                    at: token)
            }
        }
    }

    private func resolveCall(_ name: String, index: [String: Int], names: [String], token: ConfigToken, offset: Int)
        throws(ConfigError) -> Int
    {
        if let position = index[name] { return position }
        let hint =
            Suggestion.closest(to: name, among: names).map { "did you mean '\($0)'?" }
            ?? "expected one of the route's calls: \(names.joined(separator: ", "))"
        throw self.cursor.error(
            "unknown call '\(name)' in '\(token.text)'; \(hint)", at: token, scalarOffset: offset)
    }

    /// Depth-first search over dependencies; the first cycle found is reported at the call that closes it.
    private func rejectCycles(_ calls: [CallConfig], sites: [CallSite]) throws(ConfigError) {
        enum Mark { case unvisited, active, done }
        var marks = Array(repeating: Mark.unvisited, count: calls.count)
        var stack: [Int] = []

        func visit(_ node: Int) -> [Int]? {
            marks[node] = .active
            stack.append(node)
            for next in calls[node].dependencies {
                switch marks[next] {
                case .active:
                    let start = stack.firstIndex(of: next)!
                    return Array(stack[start...]) + [next]
                case .unvisited:
                    if let cycle = visit(next) { return cycle }
                case .done:
                    continue
                }
            }
            stack.removeLast()
            marks[node] = .done
            return nil
        }

        for node in calls.indices where marks[node] == .unvisited {
            if let cycle = visit(node) {
                let path = cycle.map { calls[$0].name }.joined(separator: " → ")
                let blamed = cycle[cycle.count - 2]
                let target = calls[cycle[cycle.count - 1]].name
                let site = sites[blamed].references.first { $0.reference.callName == target }
                let message =
                    cycle.count == 2
                    ? "call '\(calls[blamed].name)' refers to its own answer; a call can only read calls that run "
                        + "before it"
                    : "calls form a cycle: \(path); expected each call to read only calls that can finish first"
                if let site {
                    throw self.cursor.error(message, at: site.token, scalarOffset: site.scalarOffset)
                }
                throw self.cursor.error(message, at: sites[blamed].forEachToken ?? sites[blamed].nameToken)
            }
        }
    }
}
