/// A call started through ``CallCoalescer``: its own transfer, or a place among the waiters of a shared one.
enum CallHandle {
    case own(TransferID)
    case shared(UInt64)
}

/// Merges identical upstream calls in flight at the same time on one worker into one transfer: a burst of
/// identical composite GETs reaches the partner once per worker, not once per client request.
///
/// - Only calls given a `key` are merged (``CompositeExchange`` gives one to GET and HEAD calls without a
///   body whose upstream has `coalesce on`); the key says what makes two calls identical.
/// - The first call of a key starts the transfer; later ones wait for it. Every waiter gets the same
///   ``UpstreamResult`` (the body bytes are shared copy-on-write), with its own elapsed time.
/// - A waiter that cancels leaves; the transfer goes on for the others. When the last waiter leaves, the
///   transfer is cancelled.
/// - The transfer keeps the first call's timeout. A later waiter whose own limit (call timeout, route
///   deadline) ends before the transfer's latest end gets a timer and times out on it alone; a later waiter
///   with a longer limit still gets the transfer's outcome, a timeout included.
/// - Once a transfer finishes, its key is free again: a call started from a waiter's completion starts a
///   new transfer. Nothing is kept (no cache).
///
/// One per worker, used on its loop thread only: identical calls on different workers are not merged.
final class CallCoalescer {
    private let loop: EventLoop
    private let client: UpstreamClient
    private var groups: [String: Group] = [:]
    private var waiterGroups: [UInt64: Group] = [:]
    private var nextWaiterID: UInt64 = 1
    /// Calls that joined a transfer already in flight instead of starting one, per upstream name. Read by
    /// `Worker.metricsSnapshot()` on the loop thread.
    private(set) var coalesced: [String: UInt64] = [:]

    /// The waiters of one shared transfer.
    private final class Group {
        let key: String
        /// The latest the transfer can end: the first call's deadline (libcurl's timeout never outlives it).
        let latestEnd: UInt64
        var transfer: TransferID?
        var waiters: [UInt64: Waiter] = [:]
        /// Waiter ids in arrival order: completions run in that order.
        var order: [UInt64] = []
        var finished = false

        init(key: String, latestEnd: UInt64) {
            self.key = key
            self.latestEnd = latestEnd
        }
    }

    private struct Waiter {
        var startedAt: UInt64
        var timer: TimerID?
        var completion: (UpstreamResult) -> Void
    }

    init(loop: EventLoop, client: UpstreamClient) {
        self.loop = loop
        self.client = client
    }

    /// Transfers in flight that have waiters (for tests and debugging).
    var sharedTransfers: Int { groups.count }

    /// Starts `request`, or joins the transfer in flight for the same `key`; nil `key`: never merged.
    /// `completion` runs later on the loop thread, exactly once, unless ``cancel(_:)`` is called first (it
    /// may also run before this returns, when the transfer is refused on the spot).
    func start(_ request: UpstreamRequest, key: String?, completion: @escaping (UpstreamResult) -> Void) -> CallHandle {
        guard let key else { return .own(client.start(request, completion: completion)) }
        let id = nextWaiterID
        nextWaiterID += 1
        if let group = groups[key] {
            coalesced[request.upstreamName, default: 0] &+= 1
            var waiter = Waiter(startedAt: loop.now, timer: nil, completion: completion)
            let ownEnd = min(request.deadline, loop.now &+ UInt64(max(0, request.timeoutMs)) &* 1_000_000)
            if ownEnd < group.latestEnd {
                let delayMs = Int((ownEnd &- min(ownEnd, loop.now)) / 1_000_000)
                waiter.timer = loop.schedule(afterMilliseconds: delayMs) { [weak self] in
                    self?.waiterTimedOut(id)
                }
            }
            add(waiter, id: id, to: group)
            return .shared(id)
        }
        let group = Group(key: key, latestEnd: request.deadline)
        groups[key] = group
        add(Waiter(startedAt: loop.now, timer: nil, completion: completion), id: id, to: group)
        let transfer = client.start(request) { [weak self, group] result in
            self?.transferFinished(group, result)
        }
        if !group.finished { group.transfer = transfer }
        return .shared(id)
    }

    /// Stops a call without running its completion; a shared transfer stops with its last waiter.
    func cancel(_ handle: CallHandle) {
        switch handle {
        case .own(let transfer):
            client.cancel(transfer)
        case .shared(let id):
            guard let waiter = remove(id) else { return }
            if let timer = waiter.timer { loop.cancel(timer) }
        }
    }

    private func add(_ waiter: Waiter, id: UInt64, to group: Group) {
        group.waiters[id] = waiter
        group.order.append(id)
        waiterGroups[id] = group
    }

    /// Takes waiter `id` out of its group; cancels the transfer when no waiter is left.
    private func remove(_ id: UInt64) -> Waiter? {
        guard let group = waiterGroups.removeValue(forKey: id),
            let waiter = group.waiters.removeValue(forKey: id)
        else { return nil }
        if group.waiters.isEmpty && !group.finished {
            group.finished = true
            if groups[group.key] === group { groups[group.key] = nil }
            if let transfer = group.transfer { client.cancel(transfer) }
        }
        return waiter
    }

    private func waiterTimedOut(_ id: UInt64) {
        guard let waiter = remove(id) else { return }
        loop.refreshNow()
        let elapsedMs = Self.ms(since: waiter.startedAt, loop.now)
        waiter.completion(UpstreamResult(outcome: .failure(.timeout), elapsedMs: elapsedMs))
    }

    private func transferFinished(_ group: Group, _ result: UpstreamResult) {
        group.finished = true
        if groups[group.key] === group { groups[group.key] = nil }
        loop.refreshNow()
        let now = loop.now
        // A completion may cancel another waiter of this group (two identical calls of one request): each
        // waiter is looked up again just before its turn.
        for id in group.order {
            guard let waiter = group.waiters.removeValue(forKey: id) else { continue }
            waiterGroups[id] = nil
            if let timer = waiter.timer { loop.cancel(timer) }
            waiter.completion(UpstreamResult(outcome: result.outcome, elapsedMs: Self.ms(since: waiter.startedAt, now)))
        }
    }

    private static func ms(since start: UInt64, _ now: UInt64) -> Double {
        Double(now &- start) / 1_000_000
    }
}
