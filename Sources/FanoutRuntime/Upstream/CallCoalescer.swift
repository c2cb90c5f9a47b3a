import FanoutCore

/// Merges identical upstream calls in flight at the same time on one worker into one transfer (single-flight):
/// a burst of identical composite GETs reaches the partner once per worker, not once per client request.
///
/// - Only calls whose policy has a `key` and `coalesce` are merged (``CompositeExchange`` gives a key,
///   ``CallKey``, to GET and HEAD calls without a body whose upstream has `coalesce on`, or that have a cache
///   policy); the key says what makes two calls identical. Other calls go below unchanged.
/// - The first call of a key starts the transfer; later ones wait for it. Every waiter gets the same
///   ``UpstreamResult`` (the body bytes are shared copy-on-write), with its own elapsed time.
/// - A waiter that cancels leaves; the transfer goes on for the others. When the last waiter leaves, the
///   transfer is cancelled, unless it was told to run on (``keepRunning(_:)``, ``startUnattended(_:key:)``:
///   the cache's refreshes).
/// - The transfer keeps the first call's timeout. A later waiter whose own limit (call timeout, route
///   deadline) ends before the transfer's latest end gets a timer and times out on it alone; a later waiter
///   with a longer limit still gets the transfer's outcome, a timeout included.
/// - Once a transfer finishes, its key is free again: a call started from a waiter's completion starts a
///   new transfer.
/// - Each shared transfer that ends is reported once to ``transferEnded`` (the cache above stores its answer
///   there, once per group, before any waiter's completion runs).
///
/// One per worker, used on its loop thread only: identical calls on different workers are not merged.
/// Transfers still running when the worker stops are aborted by `UpstreamClient.close()` with their
/// completions, which hold their group strongly and this coalescer weakly. `Below` is ``CallAttempts`` in a
/// worker, a scripted fake in tests; ``CallCache`` sits above it.
final class CallCoalescer<Below: UpstreamCalls>: UpstreamCalls {
    /// A call as this layer hands it out: passed to the layer below unchanged (no key, or `coalesce off`), or
    /// a place among the waiters of a shared transfer.
    enum Handle {
        case below(Below.Handle)
        case waiter(WaiterID)
    }

    /// Numbers the calls that wait on a shared transfer.
    struct WaiterID: Hashable {
        let raw: UInt64
    }

    private let loop: EventLoop
    private let client: Below
    private var groups: [String: Group] = [:]
    private var waiterGroups: [WaiterID: Group] = [:]
    private var nextWaiterID: UInt64 = 1
    /// Read by `Worker.metricsSnapshot()` on the loop thread, per upstream name: calls that joined a transfer
    /// already in flight instead of starting one.
    private(set) var counters = UpstreamCallCounters()
    /// Runs once for each shared transfer that ends, with its key: with its result just before its waiters'
    /// completions (the key is free again by then), or with nil when it was cancelled because its last waiter
    /// left.
    var transferEnded: ((_ key: String, _ result: UpstreamResult?) -> Void)?

    /// The waiters of one shared transfer.
    private final class Group {
        let key: String
        let upstreamName: String
        /// The latest the transfer can end: the first call's deadline (libcurl's timeout never outlives it).
        let latestEnd: UInt64
        /// The transfer runs on when its waiters leave (it refreshes the cache).
        var keepsRunning = false
        var transfer: Below.Handle?
        var waiters: [WaiterID: Waiter] = [:]
        /// Waiter ids in arrival order: completions run in that order.
        var order: [WaiterID] = []
        var finished = false

        init(key: String, upstreamName: String, latestEnd: UInt64) {
            self.key = key
            self.upstreamName = upstreamName
            self.latestEnd = latestEnd
        }
    }

    private struct Waiter {
        var startedAt: UInt64
        var timer: TimerID?
        var completion: CallCompletion
    }

    init(loop: EventLoop, client: Below) {
        self.loop = loop
        self.client = client
    }

    /// Transfers in flight that have waiters or run on for the cache (for tests and debugging).
    var sharedTransfers: Int { groups.count }

    /// Joins the transfer in flight for the same `key` (when `coalesce`), or starts one. A nil `key` or
    /// `coalesce off`: the call goes below unchanged. `completion` runs on the loop thread, exactly once,
    /// unless ``cancel(_:timedOut:)`` is called first; it runs before this returns when the transfer is
    /// refused on the spot.
    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> Handle {
        // `coalesce` first: binding the key before it copied the key of every call that is only cached.
        guard request.policy.coalesce, let key = request.policy.key else {
            return .below(client.start(request, completion: completion))
        }
        let id = WaiterID(raw: nextWaiterID)
        nextWaiterID += 1
        let now = loop.now
        var waiter = Waiter(startedAt: now, timer: nil, completion: completion)
        if let group = groups[key] {
            counters.coalesced[request.policy.upstreamName, default: 0] &+= 1
            let ownEnd = min(request.policy.deadline, now &+ Self.ns(request.policy.timeoutMs))
            if ownEnd < group.latestEnd {
                let delayMs = Int((ownEnd &- min(ownEnd, now)) / 1_000_000)
                waiter.timer = loop.schedule(afterMilliseconds: delayMs) { [weak self] in
                    self?.waiterTimedOut(id)
                }
            }
            add(waiter, id: id, to: group)
            return .waiter(id)
        }
        let group = Group(key: key, upstreamName: request.policy.upstreamName, latestEnd: request.policy.deadline)
        groups[key] = group
        add(waiter, id: id, to: group)
        launch(group, request)
        return .waiter(id)
    }

    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool {
        client.admitsAtOnce(slot)
    }

    /// Makes the transfer in flight for `key` run on when its waiters leave; false when there is none.
    func keepRunning(_ key: String) -> Bool {
        guard let group = groups[key] else { return false }
        group.keepsRunning = true
        return true
    }

    /// Starts a shared transfer for `key` with no waiter, that runs to its end: calls with the same key
    /// started meanwhile (with `coalesce`) join it. The caller makes sure none is in flight for `key`.
    func startUnattended(_ request: UpstreamRequest, key: String) {
        let group = Group(key: key, upstreamName: request.policy.upstreamName, latestEnd: request.policy.deadline)
        group.keepsRunning = true
        groups[key] = group
        launch(group, request)
    }

    private func launch(_ group: Group, _ request: UpstreamRequest) {
        let transfer = client.start(request) { [weak self, group] result in
            self?.transferFinished(group, result)
        }
        if !group.finished { group.transfer = transfer }
    }

    /// Stops a call without running its completion; a shared transfer stops with its last waiter (unless it
    /// runs on). `timedOut`: the route's deadline ended it, which counts against the upstream's circuit
    /// breaker.
    func cancel(_ handle: Handle, timedOut: Bool = false) {
        stop(handle) { client.cancel($0, timedOut: timedOut) }
    }

    /// Lets a call go (``UpstreamCalls/release(_:)``): a shared transfer left without a waiter is let go below.
    func release(_ handle: Handle) {
        stop(handle) { client.release($0) }
    }

    /// What ``cancel(_:timedOut:)`` and ``release(_:)`` share: the call leaves, and `stopBelow` stops its own
    /// transfer, or a shared one it leaves without a waiter.
    private func stop(_ handle: Handle, below stopBelow: (Below.Handle) -> Void) {
        switch handle {
        case .below(let below):
            stopBelow(below)
        case .waiter(let id):
            guard let (waiter, _) = remove(id, stoppingTransfer: stopBelow) else { return }
            if let timer = waiter.timer { loop.cancel(timer) }
        }
    }

    private func add(_ waiter: Waiter, id: WaiterID, to group: Group) {
        group.waiters[id] = waiter
        group.order.append(id)
        waiterGroups[id] = group
    }

    /// Takes waiter `id` out of its group; stops the transfer (`stopTransfer`) when no waiter is left and it
    /// does not run on.
    private func remove(_ id: WaiterID, stoppingTransfer stopTransfer: (Below.Handle) -> Void) -> (Waiter, Group)? {
        guard let group = waiterGroups.removeValue(forKey: id),
            let waiter = group.waiters.removeValue(forKey: id)
        else { return nil }
        if group.waiters.isEmpty && !group.finished && !group.keepsRunning {
            group.finished = true
            if groups[group.key] === group { groups[group.key] = nil }
            if let transfer = group.transfer { stopTransfer(transfer) }
            transferEnded?(group.key, nil)
        }
        return (waiter, group)
    }

    private func waiterTimedOut(_ id: WaiterID) {
        guard let (waiter, _) = remove(id, stoppingTransfer: { client.cancel($0, timedOut: false) }) else { return }
        loop.refreshNow()
        deliver(UpstreamResult(outcome: .failure(.timeout), elapsedMs: 0), to: waiter, now: loop.now)
    }

    private func transferFinished(_ group: Group, _ result: UpstreamResult) {
        group.finished = true
        if groups[group.key] === group { groups[group.key] = nil }
        loop.refreshNow()
        let now = loop.now
        transferEnded?(group.key, result)
        // A completion may cancel another waiter of this group (two identical calls of one request): each
        // waiter is looked up again just before its turn.
        for id in group.order {
            guard let waiter = group.waiters.removeValue(forKey: id) else { continue }
            waiterGroups[id] = nil
            if let timer = waiter.timer { loop.cancel(timer) }
            deliver(result, to: waiter, now: now)
        }
    }

    /// Runs a waiter's completion with `result`, with the waiter's own elapsed time.
    private func deliver(_ result: UpstreamResult, to waiter: Waiter, now: UInt64) {
        var delivered = result
        delivered.elapsedMs = Double(now &- waiter.startedAt) / 1_000_000
        waiter.completion(delivered)
    }

    /// Milliseconds as loop nanoseconds; 0 for a negative value.
    private static func ns(_ milliseconds: Int) -> UInt64 {
        UInt64(max(0, milliseconds)) &* 1_000_000
    }
}
