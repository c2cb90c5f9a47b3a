/// What the client sent that a composite route may read.
public struct CompositeInput: Sendable {
    public var routeParameters: [String: [String]]
    public var query: QueryParameters
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var contentType: String?

    public init(
        routeParameters: [String: [String]],
        query: QueryParameters,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        contentType: String? = nil
    ) {
        self.routeParameters = routeParameters
        self.query = query
        self.headers = headers
        self.body = body
        self.contentType = contentType
    }
}

/// One upstream request the runtime must send.
public struct CallLaunch: Sendable {
    /// Unique within the run; hand it back to ``CompositeRun/finished(_:_:elapsedMs:nowMs:)``.
    public var id: Int
    /// Index of the call in the route.
    public var call: Int
    /// Index of the item, for a `for_each` call.
    public var item: Int?
    public var method: String
    /// Rendered path and query, relative to the upstream's URL prefix.
    public var pathAndQuery: String
    /// The call's own headers, rendered (the upstream's and forwarded headers are the runtime's business).
    public var headers: [HeaderField]
    public var body: [UInt8]?
    /// Content type of `body`.
    public var contentType: String?
}

/// The client's request cannot be served as sent (→ 400).
public struct CompositeRejection: Error, Sendable, Equatable {
    public var message: String
}

/// One composite request in flight, as a state machine without I/O: it says which calls to launch, takes
/// their results, and builds the response. The runtime only moves bytes and timers.
///
/// - A call starts once every call it reads has finished; independent calls start together, so a graph of
///   two chains takes the time of the longer chain.
/// - A call whose input call failed, or whose input lacks a referenced field, is skipped (kind `skipped`).
/// - A `for_each` call launches one request per item, at most `max_concurrency` at a time.
/// - Every answer that is shaped, merged or read by another call is parsed once; the others are embedded
///   verbatim.
public struct CompositeRun: Sendable {
    /// The route as dispatched (the runtime reads its calls through the run rather than keeping a copy).
    public let route: CompositeRoute
    let plan: CompositePlan
    var values: TemplateValues
    var states: [CallState]
    /// Indexed by launch id (ids count up from 0): the call and item of each launch still in flight.
    var running: [(call: Int, item: Int?)?]
    let clientBody: (bytes: [UInt8], contentType: String?)
    let maxDepth: Int

    var needsTree: [Bool] { self.plan.needsTree }
    var attachedBy: [[Int]] { self.plan.attachedBy }

    /// - Throws: ``CompositeRejection`` when the route reads the client's JSON body and it is not JSON, or
    ///   a `for_each` query list is longer than `max_items`.
    ///
    /// Everything that may throw is decided in locals, and the run is then made by an init that only stores
    /// them: set field by field here, with throws and changes (`reserveCapacity`, an item list) after the first
    /// field, the run was built in a temporary and copied out (its copy and the temporary's destruction about
    /// 800 instructions per request, callgrind).
    public init(route: CompositeRoute, input: CompositeInput, maxDepth: Int = 512) throws(CompositeRejection) {
        let plan = route.plan ?? CompositePlan(route)
        var body: JSONValue?
        if plan.readsClientJSONBody && !input.body.isEmpty {
            do throws(JSONParseError) {
                body = try JSONValue(parsing: input.body, maxDepth: maxDepth)
            } catch {
                throw CompositeRejection(message: "the request body is not valid JSON: \(error.message)")
            }
        }
        var states = [CallState](filling: CallState(), count: route.calls.count)
        // By index, the source read in place: `enumerated()` copied each call's whole `CallConfig`.
        for index in route.calls.indices {
            guard case .query(let name)? = route.calls[index].forEach?.source else { continue }
            let items = input.query.entries.filter { $0.name == name }
                .flatMap { $0.value.split(separator: ",", omittingEmptySubsequences: true) }
                .map { JSONValue.string(String($0)) }
            if items.count > route.maxItems {
                throw CompositeRejection(
                    message: "query parameter '\(name)' lists \(items.count) items; the limit is \(route.maxItems)")
            }
            states[index].items = ItemsState(elements: items)
        }
        var running: [(call: Int, item: Int?)?] = []
        running.reserveCapacity(route.calls.count)
        self.init(
            route: route, plan: plan,
            values: TemplateValues(
                routeParameters: input.routeParameters, query: input.query, headers: input.headers, body: body),
            states: states, running: running, clientBody: (input.body, input.contentType), maxDepth: maxDepth)
    }

    private init(
        route: CompositeRoute, plan: CompositePlan, values: TemplateValues, states: [CallState],
        running: [(call: Int, item: Int?)?], clientBody: (bytes: [UInt8], contentType: String?), maxDepth: Int
    ) {
        self.route = route
        self.plan = plan
        self.values = values
        self.states = states
        self.running = running
        self.clientBody = clientBody
        self.maxDepth = maxDepth
    }

    /// True once every call has finished (answered, failed or been skipped).
    public var isComplete: Bool { self.states.allSatisfy { $0.phase == .done } }

    /// Launch ids of the requests still in flight.
    public var runningLaunches: [Int] { self.running.indices.filter { self.running[$0] != nil } }

    /// Whether launch `id` is still in flight.
    public func isRunning(_ id: Int) -> Bool { self.running.indices.contains(id) && self.running[id] != nil }

    // MARK: - Driving

    /// Launches every call that needs no other call's answer.
    /// - Throws: ``CompositeRejection`` when a template cannot be rendered from the client's input; nothing is
    ///   launched then.
    public mutating func start(nowMs: Double) throws(CompositeRejection) -> [CallLaunch] {
        try self.advance(nowMs: nowMs)
    }

    /// Records the result of a launch and returns the launches it unblocks.
    /// - Throws: ``CompositeRejection`` when a call that just became ready cannot be rendered from the
    ///   client's input; the runtime then cancels ``runningLaunches`` and answers 400.
    public mutating func finished(_ id: Int, _ result: CallResult, elapsedMs: Double, nowMs: Double)
        throws(CompositeRejection) -> [CallLaunch]
    {
        guard self.running.indices.contains(id), let (call, item) = self.running[id] else { return [] }
        self.running[id] = nil
        if let item {
            self.itemFinished(call, item, result)
        } else {
            self.callFinished(call, self.judge(call, result), elapsedMs: elapsedMs)
        }
        return try self.advance(nowMs: nowMs)
    }

    /// The route deadline passed: everything unfinished fails as a timeout (calls that never started are
    /// skipped). Returns the launch ids to cancel.
    public mutating func expire(nowMs: Double) -> [Int] {
        let cancelled = self.runningLaunches
        self.running = self.running.map { _ in nil }
        for index in self.states.indices where self.states[index].phase != .done {
            let elapsed = self.states[index].phase == .running ? nowMs - self.states[index].startedAtMs : 0
            if var items = self.states[index].items, self.states[index].phase == .running {
                self.states[index].items = nil  // taken out: the writes below would copy `outcomes` otherwise
                for position in items.outcomes.indices where items.outcomes[position] == nil {
                    items.outcomes[position] = .failed(.timeout, body: nil)
                }
                self.states[index].items = items
                self.states[index].elapsedMs = elapsed
                self.states[index].phase = .done
            } else if self.states[index].phase == .running {
                self.states[index].outcome = .failed(.timeout, body: nil)
                self.states[index].elapsedMs = elapsed
                self.states[index].phase = .done
            } else {
                self.states[index].outcome = .failed(.skipped("the route deadline passed first"), body: nil)
                self.states[index].phase = .done
            }
        }
        return cancelled
    }

    // MARK: - Scheduling

    /// Starts calls whose inputs are ready, skips calls whose inputs failed, and fills `for_each` slots,
    /// until nothing changes.
    private mutating func advance(nowMs: Double) throws(CompositeRejection) -> [CallLaunch] {
        var launches: [CallLaunch] = []
        var changed = true
        while changed {
            changed = false
            for index in self.states.indices where self.states[index].phase == .waiting {
                // Fields read in place: a copy of the whole `CallConfig` (about 30 references) cost about 450
                // instructions, twice per call here (callgrind).
                let dependencies = self.route.calls[index].dependencies
                guard dependencies.allSatisfy({ self.states[$0].phase == .done }) else { continue }
                changed = true
                if let failed = dependencies.first(where: { self.states[$0].isFailure }) {
                    self.skip(index, "input call '\(self.route.calls[failed].name)' failed")
                    continue
                }
                self.states[index].startedAtMs = nowMs
                if self.route.calls[index].forEach != nil {
                    self.startItems(index)
                } else {
                    switch self.render(index, item: nil) {
                    case .success(let launch):
                        self.states[index].phase = .running
                        // Sized for every call at the first launch (grown one by one, three calls took three
                        // allocations); a turn that launches nothing allocates nothing.
                        if launches.isEmpty { launches.reserveCapacity(self.route.calls.count) }
                        // Numbered in its place in the array: numbered first, the launch bound here was copied
                        // into the array (its Strings retained and released again, about 150 instructions a call).
                        launches.append(launch)
                        self.register(&launches[launches.count - 1])
                    case .failure(let error) where error.isClientError:
                        throw CompositeRejection(message: error.message)
                    case .failure(let error):
                        self.skip(index, error.message)
                    }
                }
            }
            for index in self.states.indices
            where self.states[index].phase == .running && self.route.calls[index].forEach != nil {
                if try self.fillItemSlots(index, nowMs: nowMs, launches: &launches) { changed = true }
            }
        }
        return launches
    }

    /// Numbers `launch` and counts it as running (in place: a copy of the launch cost its Strings' retains).
    mutating func register(_ launch: inout CallLaunch) {
        launch.id = self.running.count
        self.running.append((launch.call, launch.item))
    }

    mutating func skip(_ index: Int, _ reason: String) {
        self.states[index].outcome = .failed(.skipped(reason), body: nil)
        self.states[index].phase = .done
    }

    /// Renders the URL, headers and body of call `index` (for one item, when given). Mutating so that the run's
    /// values are read where they are: passed on as an argument, they were copied (their dictionaries retained
    /// and released again, about 140 instructions per call, callgrind); an item is set in them for the time of
    /// the rendering instead of in a copy of them.
    mutating func render(_ index: Int, item: JSONValue?) -> Result<CallLaunch, TemplateRenderError> {
        guard let item else { return self.renderCall(index) }
        self.values.item = item
        defer { self.values.item = nil }
        return self.renderCall(index)
    }

    private mutating func renderCall(_ index: Int) -> Result<CallLaunch, TemplateRenderError> {
        do throws(TemplateRenderError) {
            let path = try self.route.calls[index].target.render(self.values)
            let callHeaders = self.route.calls[index].headers
            var headers: [HeaderField] = []
            headers.reserveCapacity(callHeaders.count)
            for header in callHeaders {
                headers.append(
                    HeaderField(
                        name: header.name, value: String(decoding: try header.value.render(self.values), as: UTF8.self))
                )
            }
            var body: [UInt8]?
            var contentType: String?
            switch self.route.calls[index].body {
            case .forward?:
                body = self.clientBody.bytes
                contentType = self.clientBody.contentType
            case .template(let template)?:
                body = try template.render(self.values)
                contentType = "application/json"
            case nil:
                break
            }
            return .success(
                CallLaunch(
                    id: -1, call: index, item: nil, method: self.route.calls[index].method, pathAndQuery: path,
                    headers: headers,
                    body: body, contentType: contentType))
        } catch {
            return .failure(error)
        }
    }

    // MARK: - Results

    /// Turns a transfer result into the call's outcome: parsed when the answer must be a tree.
    func judge(_ index: Int, _ result: CallResult) -> CallState.Outcome {
        switch result {
        case .failed(let failure):
            return .failed(failure, body: nil)
        case .answered(let answer):
            guard (200...299).contains(answer.status) else {
                return .failed(.status(answer.status), body: self.errorBody(answer.body))
            }
            if !self.needsTree[index] {
                let member = ResponseStitcher.Member(result, maxDepth: self.maxDepth - 1)
                if case .failed(let failure) = member { return .failed(failure, body: nil) }
                return .verbatim(member, status: answer.status)
            }
            if !answer.body.isEmpty, ResponseStitcher.MediaType(contentType: answer.contentType) == .html {
                return .failed(.htmlPage, body: self.errorBody(answer.body))
            }
            guard let value = Self.tree(of: answer, maxDepth: self.maxDepth - 1) else {
                return .failed(.invalidBody, body: self.errorBody(answer.body))
            }
            return .tree(value, status: answer.status)
        }
    }

    /// The answer as a tree, by the same rules as the verbatim path (``ResponseStitcher``); nil for a body
    /// declared JSON that is not, or an HTML page.
    static func tree(of answer: UpstreamAnswer, maxDepth: Int) -> JSONValue? {
        if answer.body.isEmpty { return .null }
        switch ResponseStitcher.MediaType(contentType: answer.contentType) {
        case .json:
            return try? JSONValue(parsing: answer.body, maxDepth: maxDepth)
        case .absent:
            if let value = try? JSONValue(parsing: answer.body, maxDepth: maxDepth) { return value }
            return .string(String(decoding: answer.body, as: UTF8.self))
        case .html:
            return nil
        case .other:
            return .string(String(decoding: answer.body, as: UTF8.self))
        }
    }

    func errorBody(_ body: [UInt8]) -> (bytes: [UInt8], truncated: Bool)? {
        let limit = self.route.errorBodyBytes
        guard limit > 0, !body.isEmpty else { return nil }
        if body.count <= limit { return (body, false) }
        var end = limit
        while end > 0 && body[end] & 0xC0 == 0x80 { end -= 1 }  // cut on a UTF-8 boundary
        return (Array(body[..<end]), true)
    }

    private mutating func callFinished(_ index: Int, _ outcome: CallState.Outcome, elapsedMs: Double) {
        self.states[index].outcome = outcome
        self.states[index].elapsedMs = elapsedMs
        self.states[index].phase = .done
        if case .tree(let value, _) = outcome {
            self.values.calls[self.route.calls[index].name] = value
        }
    }
}

/// Where one call stands.
struct CallState: Sendable {
    enum Phase: Sendable, Equatable {
        case waiting
        case running
        case done
    }

    enum Outcome: Sendable {
        case verbatim(ResponseStitcher.Member, status: Int)
        case tree(JSONValue, status: Int)
        case failed(CallFailure, body: (bytes: [UInt8], truncated: Bool)?)
    }

    var phase = Phase.waiting
    var startedAtMs = 0.0
    var elapsedMs = 0.0
    /// Set when done, for a call without `for_each`, or for a `for_each` call that failed as a whole.
    var outcome: Outcome?
    /// For a `for_each` call: its items and their outcomes.
    var items: ItemsState?

    /// A failed or skipped call, or a `for_each` call that failed as a whole (its items may fail alone
    /// without making it a failed input).
    var isFailure: Bool {
        if case .failed? = self.outcome { return true }
        return false
    }
}
