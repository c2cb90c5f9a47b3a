extension CompositeRun {
    /// The combined response, once ``isComplete`` (after ``expire(nowMs:)`` at the latest).
    public func response() -> StitchedResponse {
        var calls: [StitchedCall] = []
        calls.reserveCapacity(self.route.calls.count)
        for index in self.route.calls.indices {
            calls.append(self.stitchedCall(index))
        }
        var successStatus = 200
        if self.route.passStatus, let outcome = self.states.first?.outcome {
            switch outcome {
            case .verbatim(_, let status), .tree(_, let status): successStatus = status
            case .failed: break
            }
        }
        return ResponseStitcher.assemble(
            calls, combine: self.route.combine, staticFields: self.route.staticFields, successStatus: successStatus,
            passedStatus: self.route.passStatus, minSuccess: self.route.minSuccess)
    }

    /// One access-log entry per call, in the route's order: its identity (call and upstream index), status (for a
    /// call with one request), duration and first failure.
    public var accessLogCalls: [AccessLogLine.Call] {
        // Appended in place, each entry built in the array: a `map` whose closure built the entry and then set its
        // start offset copied every entry once more, and so did returning a built entry from a function (its
        // Strings retained and released again), about 250 instructions per call each time (callgrind).
        var calls: [AccessLogLine.Call] = []
        calls.reserveCapacity(self.route.calls.count)
        for index in self.route.calls.indices {
            let (status, failure) = self.logStatusAndFailure(index)
            calls.append(
                AccessLogLine.Call(
                    name: self.route.calls[index].name,
                    identity: AccessLogLine.Call.Identity(call: index, upstream: self.route.calls[index].upstream),
                    status: status, durationMs: self.states[index].elapsedMs, failure: failure,
                    startOffsetMs: self.states[index].startedAtMs))
        }
        return calls
    }

    /// What the metrics count of the calls of a completed run (``CallCount``): ``accessLogCalls`` without the
    /// names and details only a log line or a span reads, and without the calls never made (`skipped`).
    public var callCounts: [CallCount] {
        var counts: [CallCount] = []
        counts.reserveCapacity(self.route.calls.count)
        for index in self.route.calls.indices {
            let failure = self.logStatusAndFailure(index).failure
            if failure == "skipped" { continue }
            counts.append(
                CallCount(
                    identity: AccessLogLine.Call.Identity(call: index, upstream: self.route.calls[index].upstream),
                    durationMs: self.states[index].elapsedMs, failure: failure))
        }
        return counts
    }

    /// What the access log says of call `index`: the status of its one request, and its first failure. Reads
    /// the call's state in place rather than copying its `CallState`, which holds the call's answer.
    private func logStatusAndFailure(_ index: Int) -> (status: Int?, failure: String?) {
        switch self.states[index].outcome {
        case .verbatim(_, let code)?, .tree(_, let code)?:
            return (code, nil)
        case .failed(let callFailure, _)?:
            if case .status(let code) = callFailure { return (code, callFailure.kind) }
            return (nil, callFailure.kind)
        case nil:
            let failure = self.states[index].items?.outcomes.lazy.compactMap { outcome -> String? in
                if case .failed(let failure, _)? = outcome { return failure.kind }
                return nil
            }.first
            return (nil, failure)
        }
    }

    /// ``accessLogCalls`` for a request whose client went away at `nowMs`: every call not done is marked
    /// cancelled, a running one with the time it had run.
    public func abandonedAccessLogCalls(nowMs: Double) -> [AccessLogLine.Call] {
        var calls = self.accessLogCalls
        for index in calls.indices where self.states[index].phase != .done {
            calls[index].cancelled = true
            if self.states[index].phase == .running {
                calls[index].durationMs = nowMs - self.states[index].startedAtMs
            }
        }
        return calls
    }

    private func stitchedCall(_ index: Int) -> StitchedCall {
        // `CallConfig` fields read in place, not copied whole (about 450 instructions per call), and so is the
        // call's `CallState` (a copy retained its answer).
        let elapsedMs = self.states[index].elapsedMs
        var visible = !self.route.calls[index].hidden
        var errors: [CallError] = []
        let value: StitchedValue
        switch self.states[index].outcome {
        case .verbatim(let member, _)?:
            value = .verbatim(member)
        case .tree(let answer, _)?:
            value = .json(self.route.calls[index].shape.apply(to: self.attaching(into: answer, of: index)))
        case .failed(let failure, let body)?:
            errors.append(
                CallError(
                    call: self.route.calls[index].name, item: nil, failure: failure, elapsedMs: elapsedMs, body: body))
            value = .failed
        case nil:
            if let forEach = self.route.calls[index].forEach, forEach.attachment != .none { visible = false }
            errors = self.itemErrors(index)
            value = .json(self.collected(index, shaped: true))
        }
        return StitchedCall(
            name: self.route.calls[index].name, required: self.route.calls[index].required, visible: visible,
            elapsedMs: elapsedMs, value: value, errors: errors)
    }

    private func itemErrors(_ index: Int) -> [CallError] {
        guard let items = self.states[index].items else { return [] }
        let call = self.route.calls[index]
        let keyed: Bool
        if case .object = call.forEach?.collect { keyed = true } else { keyed = false }
        var errors: [CallError] = []
        for (position, outcome) in items.outcomes.enumerated() {
            guard case .failed(let failure, let body)? = outcome else { continue }
            let item: CallError.Item = keyed ? .key(items.keys[position] ?? "") : .index(position)
            errors.append(
                CallError(
                    call: call.name, item: item, failure: failure, elapsedMs: self.states[index].elapsedMs, body: body))
        }
        return errors
    }

    /// The answer of call `index` with the item answers of the `for_each` calls that attach into it.
    private func attaching(into answer: JSONValue, of index: Int) -> JSONValue {
        var answer = answer
        for attacher in self.attachedBy[index] {
            guard let forEach = self.route.calls[attacher].forEach, let items = self.states[attacher].items else {
                continue
            }
            let shape = self.route.calls[attacher].shape
            answer = answer.updatingArray(at: forEach.sourcePath?.steps[...] ?? []) { elements in
                for position in elements.indices where position < items.outcomes.count {
                    var itemAnswer: JSONValue?
                    if case .answered(let value)? = items.outcomes[position] { itemAnswer = shape.apply(to: value) }
                    switch forEach.attachment {
                    case .member(let name):
                        guard case .object(var members) = elements[position] else { continue }
                        members.removeAll { $0.key == name }
                        members.append(JSONMember(key: name, value: itemAnswer ?? .null))
                        elements[position] = .object(members)
                    case .merge:
                        if let itemAnswer {
                            elements[position] = elements[position].merging(itemAnswer, arrays: .concat)
                        }
                    case .none:
                        break
                    }
                }
            }
        }
        return answer
    }
}

extension ForEachConfig {
    /// The path of the source array inside the source call's answer (nil: the answer itself).
    var sourcePath: JSONPath? {
        if case .call(_, let path) = self.source { return path }
        return nil
    }
}

extension JSONValue {
    /// The value at `steps` following keys and indexes only (no projection over arrays).
    func strictValue(at steps: ArraySlice<JSONPath.Step>) -> JSONValue? {
        switch steps.first {
        case nil: return self
        case .key(let key)?: return self[key]?.strictValue(at: steps.dropFirst())
        case .index(let index)?: return self[index]?.strictValue(at: steps.dropFirst())
        case .each?: return nil
        }
    }

    /// Applies `update` to the array at `steps` (keys and indexes), if there is one.
    func updatingArray(at steps: ArraySlice<JSONPath.Step>, _ update: (inout [JSONValue]) -> Void) -> JSONValue {
        guard let step = steps.first else {
            guard case .array(var elements) = self else { return self }
            update(&elements)
            return .array(elements)
        }
        switch (step, self) {
        case (.key(let key), .object(var members)):
            guard let position = members.lastIndex(where: { $0.key == key }) else { return self }
            members[position].value = members[position].value.updatingArray(at: steps.dropFirst(), update)
            return .object(members)
        case (.index(let index), .array(var elements)) where elements.indices.contains(index):
            elements[index] = elements[index].updatingArray(at: steps.dropFirst(), update)
            return .array(elements)
        default:
            return self
        }
    }
}
