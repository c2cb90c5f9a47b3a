/// Matches request paths against the configured routes. Built once from the configuration, read-only
/// afterwards.
///
/// The table is a segment trie. At every position a literal child is tried first, then the parameter
/// child, then routes whose catch-all starts there; the first complete match whose method set accepts the
/// request wins, and routes sharing a trie node are tried in file order. `HEAD` is accepted by `GET` routes.
/// The search walks the raw path in place (no segment array), so a lookup allocates only its result.
public struct RouteTable: Sendable {
    private struct Node: Sendable {
        var literals: [(segment: String, node: Int)] = []
        var parameter: Int?
        /// Routes whose path ends at this node.
        var terminal: [Int] = []
        /// Routes whose catch-all starts right after this node.
        var catchAll: [Int] = []
    }

    private struct Route: Sendable {
        var methods: MethodSet
        var segments: [PathTemplate.Segment]
    }

    private let nodes: [Node]
    private let routes: [Route]

    /// Builds the trie.
    /// - Parameter routes: the routes in file order; `RouteMatch.matched` reports indices into this array.
    public init(_ routes: [RouteConfig]) {
        var nodes = [Node()]
        for (routeIndex, route) in routes.enumerated() {
            var current = 0
            for segment in route.path.segments {
                switch segment {
                case .literal(let text):
                    if let existing = nodes[current].literals.first(where: { $0.segment == text }) {
                        current = existing.node
                    } else {
                        nodes.append(Node())
                        nodes[current].literals.append((text, nodes.count - 1))
                        current = nodes.count - 1
                    }
                case .parameter:
                    if let existing = nodes[current].parameter {
                        current = existing
                    } else {
                        nodes.append(Node())
                        nodes[current].parameter = nodes.count - 1
                        current = nodes.count - 1
                    }
                case .catchAll:
                    nodes[current].catchAll.append(routeIndex)
                }
            }
            if case .catchAll = route.path.segments.last {
                continue
            }
            nodes[current].terminal.append(routeIndex)
        }
        self.nodes = nodes
        self.routes = routes.map { Route(methods: $0.methods, segments: $0.path.segments) }
    }

    /// Finds the route for a request.
    /// - Parameters:
    ///   - method: the request method, case-sensitive (`GET`).
    ///   - path: the raw, still percent-encoded path without the query.
    public func match(method: String, path: Substring) -> RouteMatch {
        guard path.utf8.first == UInt8(ascii: "/") else { return .badRequest("the path must start with '/'") }
        // The trie walked over the path's contiguous bytes by offset: over `Substring.UTF8View` indices (a
        // `firstIndex(of:)` and index arithmetic per segment, each node copied) the search cost about 1,100
        // instructions for `/overview` (callgrind).
        // `Substring.withUTF8`: the view's `withContiguousStorageIfAvailable` goes through `Slice`'s generic one
        // (about 200 instructions more).
        var contiguous = path
        return contiguous.withUTF8 { bytes in
            if let routeIndex = self.search(node: 0, path: bytes, start: 1, method: method) {
                return self.capture(routeIndex: routeIndex, path: bytes)
            }
            var matching: [Int] = []
            self.collect(node: 0, path: bytes, start: 1, into: &matching)
            guard !matching.isEmpty else { return .notFound }
            return .methodNotAllowed(allowed: self.allowedMethods(matching.sorted()))
        }
    }

    // MARK: - Search

    /// Depth-first search in precedence order, the node's fields read in place.
    /// - Parameters:
    ///   - path: the whole path's bytes (its leading `/` included).
    ///   - start: the offset of the current segment's first byte, or nil when every segment is consumed.
    private func search(node: Int, path: UnsafeBufferPointer<UInt8>, start: Int?, method: String) -> Int? {
        guard let start else {
            return self.firstAccepting(self.nodes[node].terminal, method: method)
                ?? self.firstAccepting(self.nodes[node].catchAll, method: method)
        }
        let (segment, next) = Self.segment(of: path, at: start)
        for index in self.nodes[node].literals.indices
        where Self.sameBytes(self.nodes[node].literals[index].segment, segment) {
            if let found = self.search(
                node: self.nodes[node].literals[index].node, path: path, start: next, method: method)
            {
                return found
            }
            break
        }
        if let parameter = self.nodes[node].parameter, !segment.isEmpty,
            let found = self.search(node: parameter, path: path, start: next, method: method)
        {
            return found
        }
        return self.firstAccepting(self.nodes[node].catchAll, method: method)
    }

    /// Every route matching the path, whatever its method (for the 405 `Allow` list).
    /// Over the path's bytes by offset, as ``search(node:path:start:method:)``.
    private func collect(node: Int, path: UnsafeBufferPointer<UInt8>, start: Int?, into matching: inout [Int]) {
        let current = self.nodes[node]
        matching.append(contentsOf: current.catchAll)
        guard let start else {
            matching.append(contentsOf: current.terminal)
            return
        }
        let (segment, next) = Self.segment(of: path, at: start)
        for literal in current.literals where Self.sameBytes(literal.segment, segment) {
            self.collect(node: literal.node, path: path, start: next, into: &matching)
        }
        if let parameter = current.parameter, !segment.isEmpty {
            self.collect(node: parameter, path: path, start: next, into: &matching)
        }
    }

    /// The segment of `path` that starts at offset `start`, and the offset of the next one (nil after the last).
    private static func segment(
        of path: UnsafeBufferPointer<UInt8>, at start: Int
    ) -> (bytes: UnsafeBufferPointer<UInt8>, next: Int?) {
        var end = start
        while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
        return (UnsafeBufferPointer(rebasing: path[start..<end]), end == path.count ? nil : end + 1)
    }

    private func firstAccepting(_ candidates: [Int], method: String) -> Int? {
        candidates.first { self.accepts(self.routes[$0].methods, method: method) }
    }

    private func accepts(_ methods: MethodSet, method: String) -> Bool {
        switch methods {
        case .any: return true
        case .only(let list): return list.contains(method) || (method == "HEAD" && list.contains("GET"))
        }
    }

    private func allowedMethods(_ routeIndices: [Int]) -> [String] {
        var allowed: [String] = []
        for index in routeIndices {
            guard case .only(let list) = self.routes[index].methods else { continue }
            for method in list where !allowed.contains(method) {
                allowed.append(method)
            }
        }
        if allowed.contains("GET") && !allowed.contains("HEAD") {
            allowed.insert("HEAD", at: allowed.firstIndex(of: "GET")! + 1)
        }
        return allowed
    }

    // MARK: - Captures

    /// Walks the winning route's segments again and decodes what its parameters captured, over the path's bytes
    /// by offset as ``search(node:path:start:method:)``.
    private func capture(routeIndex: Int, path: UnsafeBufferPointer<UInt8>) -> RouteMatch {
        var parameters: [String: [String]] = [:]
        var start: Int? = 1
        for segment in self.routes[routeIndex].segments {
            switch segment {
            case .literal:
                start = Self.segment(of: path, at: start!).next
            case .parameter(let name):
                let (bytes, next) = Self.segment(of: path, at: start!)
                switch Self.decodeSegment(bytes) {
                case .success(let value): parameters[name] = [value]
                case .failure(let reason): return .badRequest("invalid value for path parameter '\(name)': \(reason)")
                }
                start = next
            case .catchAll(let name):
                var values: [String] = []
                remaining: while let current = start {
                    let (bytes, next) = Self.segment(of: path, at: current)
                    if bytes.isEmpty {
                        // An empty segment is only allowed last: `/api/` (nothing captured) or `/api/a/`
                        // (trailing slash kept as a final "").
                        guard next == nil else {
                            return .badRequest("invalid value for path parameter '\(name)': empty segment ('//')")
                        }
                        if !values.isEmpty { values.append("") }
                        break remaining
                    }
                    switch Self.decodeSegment(bytes) {
                    case .success(let value): values.append(value)
                    case .failure(let reason):
                        return .badRequest("invalid value for path parameter '\(name)': \(reason)")
                    }
                    start = next
                }
                parameters[name] = values
            }
        }
        return .matched(routeIndex: routeIndex, parameters: parameters)
    }

    /// Whether `segment` holds exactly the bytes of `literal`, compared over contiguous memory: the generic
    /// `elementsEqual` over `Substring.UTF8View` cost about 280 instructions per comparison (callgrind).
    private static func sameBytes(_ literal: String, _ segment: UnsafeBufferPointer<UInt8>) -> Bool {
        guard literal.utf8.count == segment.count else { return false }
        let compared = literal.utf8.withContiguousStorageIfAvailable { expected in
            for index in 0..<expected.count where expected[index] != segment[index] { return false }
            return true
        }
        return compared ?? literal.utf8.elementsEqual(segment)
    }

    /// Hardening rule 4.3/2: decode once, valid UTF-8, no CTL, not empty, not `.` or `..`.
    static func decodeSegment(_ raw: UnsafeBufferPointer<UInt8>) -> Result<String, SegmentError> {
        if raw.isEmpty { return .failure(SegmentError("empty segment")) }
        switch PercentCoding.decodeComponent(raw) {
        case .failure(let failure):
            return .failure(SegmentError(failure.message))
        case .success(let value):
            if value == "." || value == ".." {
                return .failure(SegmentError("'.' and '..' segments are not allowed"))
            }
            return .success(value)
        }
    }

    /// Why a captured segment was refused.
    struct SegmentError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
