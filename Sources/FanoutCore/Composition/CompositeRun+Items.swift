/// The items of a `for_each` call and how far they got.
struct ItemsState: Sendable {
    enum Outcome: Sendable {
        case answered(JSONValue)
        case failed(CallFailure, body: (bytes: [UInt8], truncated: Bool)?)
        /// Not called: an earlier item has the same key (`key_by`).
        case duplicate
    }

    var elements: [JSONValue]
    /// The `key_by` value of each element, when the call collects an object.
    var keys: [String?]
    /// Element indices still to launch, in order.
    var pending: [Int] = []
    var nextPending = 0
    var inFlight = 0
    var outcomes: [Outcome?]

    init(elements: [JSONValue]) {
        self.elements = elements
        self.keys = [String?](filling: nil, count: elements.count)
        self.outcomes = [Outcome?](filling: nil, count: elements.count)
    }

    var isFinished: Bool { self.nextPending == self.pending.count && self.inFlight == 0 }
}

extension CompositeRun {
    /// Reads the list, applies `max_items` and `key_by`, and marks the call running (or done when empty).
    mutating func startItems(_ index: Int) {
        let call = self.route.calls[index]
        guard let forEach = call.forEach else { return }
        var items: ItemsState
        switch forEach.source {
        case .query:
            items = self.states[index].items ?? ItemsState(elements: [])
        case .call(let name, let path):
            let answer = self.values.calls[name]
            // Attached answers are written back by the same walk (keys and indexes, no projection).
            let list =
                forEach.attachment == .none
                ? (path.map { answer?.select($0) } ?? answer)
                : answer?.strictValue(at: path?.steps[...] ?? [])
            guard case .array(let elements)? = list else {
                let place = path.map { "'\($0)' in the answer of '\(name)'" } ?? "the answer of '\(name)'"
                self.skip(index, list == nil ? "\(place) is missing" : "\(place) is not an array")
                return
            }
            if elements.count > self.route.maxItems {
                self.states[index].outcome = .failed(
                    .tooManyItems(count: elements.count, limit: self.route.maxItems), body: nil)
                self.states[index].phase = .done
                return
            }
            items = ItemsState(elements: elements)
        }
        var seen = Set<String>()
        for (position, element) in items.elements.enumerated() {
            if case .object(let keyPath) = forEach.collect {
                let keyValue = keyPath.map { element.select($0) } ?? element
                guard let key = keyValue?.scalarText else {
                    let field = keyPath.map { "item.\($0)" } ?? "item"
                    items.outcomes[position] = .failed(
                        .skipped("'\(field)' is not a string, number or boolean"), body: nil)
                    continue
                }
                items.keys[position] = key
                if !seen.insert(key).inserted {
                    items.outcomes[position] = .duplicate
                    continue
                }
            }
            items.pending.append(position)
        }
        self.states[index].items = items
        self.states[index].phase = .running
    }

    /// Launches items while slots are free; marks the call done when every item has finished.
    /// - Returns: whether the call finished.
    mutating func fillItemSlots(_ index: Int, nowMs: Double, launches: inout [CallLaunch]) throws(CompositeRejection)
        -> Bool
    {
        guard var items = self.states[index].items else { return false }
        self.states[index].items = nil  // taken out: an item that fails to render writes `outcomes` (see itemFinished)
        while items.inFlight < self.route.maxConcurrency && items.nextPending < items.pending.count {
            let position = items.pending[items.nextPending]
            items.nextPending += 1
            switch self.render(index, item: items.elements[position]) {
            case .success(var launch):
                launch.item = position
                self.register(&launch)
                launches.append(launch)
                items.inFlight += 1
            case .failure(let error) where error.isClientError:
                self.states[index].items = items
                throw CompositeRejection(message: error.message)
            case .failure(let error):
                items.outcomes[position] = .failed(.skipped(error.message), body: nil)
            }
        }
        self.states[index].items = items
        guard items.isFinished else { return false }
        self.states[index].elapsedMs = nowMs - self.states[index].startedAtMs
        self.states[index].phase = .done
        self.values.calls[self.route.calls[index].name] = self.collected(index, shaped: false)
        return true
    }

    mutating func itemFinished(_ index: Int, _ position: Int, _ result: CallResult) {
        guard self.states[index].items != nil else { return }
        let outcome: ItemsState.Outcome
        switch self.judge(index, result) {
        case .tree(let value, _): outcome = .answered(value)
        case .verbatim: preconditionFailure("for_each answers are always parsed")
        case .failed(let failure, let body): outcome = .failed(failure, body: body)
        }
        // Written in place: a copy taken out (`var items = …`) shared `outcomes` with the stored state, so the
        // write copied the whole array, once per item (a wide fan-out of 1,000 items: about 400k instructions
        // per item, callgrind).
        self.states[index].items!.inFlight -= 1
        self.states[index].items!.outcomes[position] = outcome
    }

    /// The item answers as the call's value: an array in item order, or an object by key (failed items
    /// `null`, duplicates left out).
    func collected(_ index: Int, shaped: Bool) -> JSONValue {
        guard let items = self.states[index].items else { return .null }
        let shape = self.route.calls[index].shape
        func value(_ position: Int) -> JSONValue {
            guard case .answered(let answer)? = items.outcomes[position] else { return .null }
            return shaped ? shape.apply(to: answer) : answer
        }
        if case .object = self.route.calls[index].forEach?.collect {
            var members: [JSONMember] = []
            for position in items.elements.indices {
                guard let key = items.keys[position] else { continue }
                if case .duplicate? = items.outcomes[position] { continue }
                members.append(JSONMember(key: key, value: value(position)))
            }
            return .object(members)
        }
        return .array(items.elements.indices.map(value))
    }
}
