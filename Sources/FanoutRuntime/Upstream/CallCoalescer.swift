import FanoutCore

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
///   new transfer.
/// - Calls with a cache lifetime (`cache=`) are first looked up in the worker's cache (a ``ByteLRU`` of
///   answers by key). A transfer any of whose waiters asked for caching stores its answer when
///   ``CacheFreshness`` allows (2xx, no `no-store`…), for the longest lifetime asked; a lookup only takes an
///   entry younger than its own call's lifetime.
///
/// One per worker, used on its loop thread only: identical calls on different workers are not merged and do
/// not share a cache.
final class CallCoalescer {
    private let loop: EventLoop
    private let client: CallAttempts
    private var groups: [String: Group] = [:]
    private var waiterGroups: [UInt64: Group] = [:]
    private var nextWaiterID: UInt64 = 1
    private var cache: ByteLRU<CachedAnswer>
    /// Per upstream name, read by `Worker.metricsSnapshot()` on the loop thread: calls that joined a transfer
    /// already in flight instead of starting one; calls with a cache lifetime answered from the cache, and
    /// not.
    private(set) var coalesced: [String: UInt64] = [:]
    private(set) var cacheHits: [String: UInt64] = [:]
    private(set) var cacheMisses: [String: UInt64] = [:]

    private struct CachedAnswer {
        var response: UpstreamResponse
        var storedAt: UInt64
    }

    /// The waiters of one shared transfer.
    private final class Group {
        let key: String
        /// The latest the transfer can end: the first call's deadline (libcurl's timeout never outlives it).
        let latestEnd: UInt64
        /// The longest cache lifetime a waiter asked for; 0: the answer is not stored.
        var cacheMs = 0
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

    init(loop: EventLoop, client: CallAttempts, cacheBytes: Int) {
        self.loop = loop
        self.client = client
        cache = ByteLRU(capacityBytes: cacheBytes)
    }

    /// A reload's `cache_size`: a different size starts an empty cache (entries are dropped, not moved).
    func setCacheCapacity(_ bytes: Int) {
        if bytes != cache.capacityBytes { cache = ByteLRU(capacityBytes: bytes) }
    }

    /// Bytes of cached answers held (for tests).
    var cachedBytes: Int { cache.usedBytes }

    /// Transfers in flight that have waiters (for tests and debugging).
    var sharedTransfers: Int { groups.count }

    /// Answers `request` from the cache (when `cacheMs` is set and a young enough entry exists), or joins
    /// the transfer in flight for the same `key` (when `coalesce`), or starts one. A nil `key`: the call is
    /// neither merged nor cached. `completion` runs on the loop thread, exactly once, unless ``cancel(_:)``
    /// is called first; it runs before this returns on a cache hit, or when the transfer is refused on the spot.
    func start(
        _ request: UpstreamRequest, key: String?, coalesce: Bool, cacheMs: Int?,
        completion: @escaping (UpstreamResult) -> Void
    ) -> CallHandle {
        guard let key, coalesce || cacheMs != nil else { return .own(client.start(request, completion: completion)) }
        let id = nextWaiterID
        nextWaiterID += 1
        if let cacheMs {
            if let hit = cache.value(forKey: key, now: loop.now),
                loop.now &- hit.storedAt < UInt64(cacheMs) &* 1_000_000
            {
                cacheHits[request.upstreamName, default: 0] &+= 1
                completion(UpstreamResult(outcome: .success(hit.response), elapsedMs: 0))
                return .shared(id)
            }
            cacheMisses[request.upstreamName, default: 0] &+= 1
        }
        if coalesce, let group = groups[key] {
            group.cacheMs = max(group.cacheMs, cacheMs ?? 0)
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
        group.cacheMs = cacheMs ?? 0
        if coalesce { groups[key] = group }
        add(Waiter(startedAt: loop.now, timer: nil, completion: completion), id: id, to: group)
        let transfer = client.start(request) { [weak self, group] result in
            self?.transferFinished(group, result)
        }
        if !group.finished { group.transfer = transfer }
        return .shared(id)
    }

    /// Stops a call without running its completion; a shared transfer stops with its last waiter.
    /// `timedOut`: the route's deadline ended it, which counts against the upstream's circuit breaker.
    func cancel(_ handle: CallHandle, timedOut: Bool = false) {
        switch handle {
        case .own(let transfer):
            client.cancel(transfer, timedOut: timedOut)
        case .shared(let id):
            guard let waiter = remove(id, timedOut: timedOut) else { return }
            if let timer = waiter.timer { loop.cancel(timer) }
        }
    }

    private func add(_ waiter: Waiter, id: UInt64, to group: Group) {
        group.waiters[id] = waiter
        group.order.append(id)
        waiterGroups[id] = group
    }

    /// Takes waiter `id` out of its group; cancels the transfer when no waiter is left.
    private func remove(_ id: UInt64, timedOut: Bool = false) -> Waiter? {
        guard let group = waiterGroups.removeValue(forKey: id),
            let waiter = group.waiters.removeValue(forKey: id)
        else { return nil }
        if group.waiters.isEmpty && !group.finished {
            group.finished = true
            if groups[group.key] === group { groups[group.key] = nil }
            if let transfer = group.transfer { client.cancel(transfer, timedOut: timedOut) }
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
        if group.cacheMs > 0, case .success(let response) = result.outcome,
            let lifetimeMs = CacheFreshness.lifetimeMs(
                configuredMs: group.cacheMs, status: response.status, cacheControl: response.cacheControl,
                vary: response.vary)
        {
            // What an entry holds: the body and key bytes, and a fixed allowance for the rest.
            let cost = response.body.count + group.key.utf8.count + (response.contentType?.utf8.count ?? 0) + 256
            cache.insert(
                CachedAnswer(response: response, storedAt: now), forKey: group.key, cost: cost,
                expiresAt: now &+ UInt64(lifetimeMs) &* 1_000_000)
        }
        // A completion may cancel another waiter of this group (two identical calls of one request): each
        // waiter is looked up again just before its turn.
        for id in group.order {
            guard let waiter = group.waiters.removeValue(forKey: id) else { continue }
            waiterGroups[id] = nil
            if let timer = waiter.timer { loop.cancel(timer) }
            waiter.completion(result.withElapsedMs(Self.ms(since: waiter.startedAt, now)))
        }
    }

    private static func ms(since start: UInt64, _ now: UInt64) -> Double {
        Double(now &- start) / 1_000_000
    }
}
