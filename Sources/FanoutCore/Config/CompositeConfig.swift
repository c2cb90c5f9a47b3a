/// A composite endpoint: several upstream calls, one combined answer.
public struct CompositeRoute: Sendable {
    /// `deadline`: bounds the whole request; calls still running then are cancelled as timeouts. Default 5 s.
    public var deadlineMs: Int = 5_000
    /// Calls in file order. Each call's `dependencies` index into this array and precede nothing circular.
    public var calls: [CallConfig]
    /// `combine`: how the call answers become one response. Default `.keyed`.
    public var combine: CombineMode = .keyed
    /// `field NAME JSON`: static members added to an object result, after the calls.
    public var staticFields: [JSONMember] = []
    /// `max_items`: items a `for_each` call may have; more fail the call (or the request, for a query list).
    /// Default 100.
    public var maxItems: Int = 100
    /// `max_concurrency`: item calls of one `for_each` call running at once; the rest wait. Default 16.
    public var maxConcurrency: Int = 16
    /// `pass_status`: a one-call route answers with the upstream's own status.
    public var passStatus: Bool = false
    /// `error_body SIZE`: failure reports include up to this many bytes of the upstream's error body; 0 = off.
    public var errorBodyBytes: Int = 0
    /// `min_success N`: the route fails (502, or 504/503 by the failures' kinds) when fewer than N of its calls
    /// succeed, even if every failed call is optional. A call succeeds when it has no failure (for a `for_each`
    /// call: none of its items failed). nil: off, any number of optional calls may fail.
    public var minSuccess: Int?
    /// Facts derived from the calls, computed once when the configuration is read (``prepare()``) rather than
    /// per request.
    public private(set) var plan: CompositePlan?

    public init(deadlineMs: Int = 5_000, calls: [CallConfig]) {
        self.deadlineMs = deadlineMs
        self.calls = calls
    }

    /// Derives ``plan`` from the calls as they are now; call it after the last change to `calls` or `combine`.
    public mutating func prepare() {
        self.plan = CompositePlan(self)
    }

    /// Whether any call reads a field of the client's body (`{body…}`): the body is then parsed as JSON once
    /// per request. `body forward` sends the bytes as they are and needs no parsing.
    public var readsClientJSONBody: Bool {
        self.calls.contains { call in call.references.contains { if case .body = $0 { true } else { false } } }
    }
}

/// What every request of a composite route shares: which answers must be parsed, who attaches into whom.
public struct CompositePlan: Sendable {
    /// Per call: the answer is shaped, read by another call, attached into, or not keyed-combined, so it is
    /// parsed into a tree. The others are embedded verbatim.
    public let needsTree: [Bool]
    /// Per call: the `for_each` calls that attach their item answers into it.
    public let attachedBy: [[Int]]
    /// Whether any call reads a field of the client's JSON body.
    public let readsClientJSONBody: Bool

    init(_ route: CompositeRoute) {
        var readers = Array(repeating: false, count: route.calls.count)
        var attachedBy = Array(repeating: [Int](), count: route.calls.count)
        for (index, call) in route.calls.enumerated() {
            for dependency in call.dependencies { readers[dependency] = true }
            if let forEach = call.forEach, forEach.attachment != .none, let source = forEach.sourceCall {
                attachedBy[source].append(index)
            }
        }
        let keyed: Bool
        switch route.combine {
        case .keyed, .only: keyed = true
        case .merge, .concat: keyed = false
        }
        self.needsTree = route.calls.indices.map { index in
            let call = route.calls[index]
            return readers[index] || !attachedBy[index].isEmpty || !call.shape.isIdentity || !keyed
                || call.forEach != nil
        }
        self.attachedBy = attachedBy
        self.readsClientJSONBody = route.readsClientJSONBody
    }
}

/// How a composite route combines its answers.
public enum CombineMode: Sendable, Equatable {
    /// `{"<call>": answer, …}` (calls with `hidden` or `attach` left out).
    case keyed
    /// Deep merge of the answers in call order; later calls win on conflicts; arrays concatenated or replaced.
    case merge(JSONArrayMergePolicy)
    /// One array: array answers contribute their elements, any other answer itself.
    case concat
    /// One call's answer is the whole response (index into `calls`).
    case only(Int)
}

/// One `call` line, with its optional block.
public struct CallConfig: Sendable {
    /// Member name in the combined answer. Unique within the route; a letter, then letters, digits, `_`, `-`.
    public var name: String
    /// Upstream method, uppercase.
    public var method: String
    /// Index into `FanoutConfig.upstreams`.
    public var upstream: Int
    /// Path and query, relative to the upstream's origin and base path.
    public var target: URLTemplate
    /// `timeout=`: this call's own limit; the upstream's `timeout` when nil. Always also bounded by the
    /// route deadline.
    public var timeoutMs: Int?
    /// `cache=DUR` or `cache=upstream`, with `stale_while_revalidate=` and `stale_if_error=`: how a 2xx answer
    /// of this call (a GET or HEAD without a body) is served from the worker's cache; the upstream's headers
    /// may shorten or forbid it (``CacheFreshness``). nil: not cached.
    public var cache: CachePolicy?
    /// `hedge=DUR|off`: overrides the upstream's `hedge`; 0 is `off`. nil: the upstream's.
    public var hedgeDelayMs: Int?
    /// `retries=N`: overrides the upstream's `retries`. nil: the upstream's.
    public var retries: Int?
    /// `required` (default) or `optional`.
    public var required: Bool = true
    /// Per-call headers (`header=Name:value` or `header Name value`), sent after the upstream's own headers.
    public var headers: [HeaderTemplate] = []
    /// `body`: what the call sends. Default: nothing.
    public var body: CallBody?
    /// `for_each`: one call per element of a list.
    public var forEach: ForEachConfig?
    /// Shaping applied to the answer (to each item's answer for a `for_each` call).
    public var shape = CallShape()
    /// `hidden`: the answer feeds other calls but is not part of the response.
    public var hidden = false
    /// Indices of the calls whose answers this call reads, ascending, without duplicates.
    public var dependencies: [Int] = []
    /// The call's whole URL when its target has no placeholder (``FanoutConfig/numberFixedURLs(_:)``); nil
    /// otherwise, or before the configuration was numbered.
    public var fixedURL: FixedURL?
    public var location: SourceLocation

    public init(name: String, method: String, upstream: Int, target: URLTemplate, location: SourceLocation) {
        self.name = name
        self.method = method
        self.upstream = upstream
        self.target = target
        self.location = location
    }

    /// Every reference in the URL, headers and body (the `for_each` source aside).
    public var references: [ValueReference] {
        var all = self.target.references.map(\.reference)
        for header in self.headers { all += header.value.references }
        if case .template(let template) = self.body { all += template.references }
        return all
    }
}

/// A header whose value may hold placeholders.
public struct HeaderTemplate: Sendable {
    public var name: String
    public var value: ValueTemplate

    public init(name: String, value: ValueTemplate) {
        self.name = name
        self.value = value
    }
}

/// What a call sends as its body.
public enum CallBody: Sendable {
    /// `body forward`: the client's body and Content-Type, unchanged.
    case forward
    /// `body JSON-TEMPLATE`: JSON built from references, sent as `application/json`.
    case template(ValueTemplate)
}

/// `for_each SOURCE [key_by PATH]`, plus where item answers go.
public struct ForEachConfig: Sendable {
    public enum Source: Sendable, Equatable {
        /// `for_each query.NAME`: every value of NAME, each split on commas (`?ids=1,2&ids=3` → 1, 2, 3).
        case query(String)
        /// `for_each CALL.PATH` or `for_each CALL`: the elements of an array in another call's answer.
        case call(String, JSONPath?)
    }

    /// Where item answers go.
    public enum Attachment: Sendable, Equatable {
        /// The call's own member: an array in item order, or an object when `key_by` is set.
        case none
        /// `attach NAME`: each answer becomes member NAME of its source element.
        case member(String)
        /// `attach merge`: each answer is deep-merged into its source element.
        case merge
    }

    /// How item answers are collected in the call's own member.
    public enum Collect: Sendable, Equatable {
        /// An array in item order (default).
        case array
        /// `key_by item.PATH` (`keyPath`) or `key_by item` (nil): an object keyed by that value of each item;
        /// an item whose key was already seen is not called again.
        case object(keyPath: JSONPath?)
    }

    public var source: Source
    public var collect: Collect = .array
    public var attachment: Attachment = .none
    /// Index of the source call (for `.call` sources), resolved at check time.
    public var sourceCall: Int?

    public init(source: Source) {
        self.source = source
    }
}

/// Per-call reshaping, applied in this order: extract, wrap, pick, drop, rename, nest.
public struct CallShape: Sendable {
    /// `extract PATH`: the answer becomes the value at PATH.
    public var extract: JSONPath?
    /// `wrap NAME`: an array answer becomes `{"NAME": [...]}`.
    public var wrap: String?
    /// `pick PATH…`: keep only these fields.
    public var pick: [JSONPath] = []
    /// `drop PATH…`: remove these fields.
    public var drop: [JSONPath] = []
    /// `rename PATH NAME`: rename a field in place.
    public var renames: [(path: JSONPath, name: String)] = []
    /// `nest NAME`: the answer becomes `{"NAME": answer}`.
    public var nest: String?

    public init() {}

    /// Whether the answer is used as received.
    public var isIdentity: Bool {
        self.extract == nil && self.wrap == nil && self.pick.isEmpty && self.drop.isEmpty && self.renames.isEmpty
            && self.nest == nil
    }

    /// Applies the shaping to a parsed answer.
    public func apply(to value: JSONValue) -> JSONValue {
        var value = value
        if let extract = self.extract { value = value.select(extract) ?? .null }
        if let wrap = self.wrap { value = value.wrappingArray(in: wrap) }
        if !self.pick.isEmpty { value = value.picking(self.pick) }
        if !self.drop.isEmpty { value = value.dropping(self.drop) }
        for rename in self.renames { value = value.renaming(rename.path, to: rename.name) }
        if let nest = self.nest { value = value.nested(under: nest) }
        return value
    }
}
