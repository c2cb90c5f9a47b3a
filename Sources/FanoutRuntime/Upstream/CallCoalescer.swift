import FanoutCore

/// Merges identical upstream calls in flight at the same time on one worker into one transfer, and answers
/// calls with a ``CachePolicy`` from the worker's cache: a burst of identical composite GETs reaches the partner
/// once per worker, not once per client request.
///
/// - Only calls whose policy has a `key` are merged (``CompositeExchange`` gives one, ``CallKey``, to GET and
///   HEAD calls without a body whose upstream has `coalesce on`, or that have a cache policy); the key says
///   what makes two calls identical.
/// - The first call of a key starts the transfer; later ones wait for it. Every waiter gets the same
///   ``UpstreamResult`` (the body bytes are shared copy-on-write), with its own elapsed time.
/// - A waiter that cancels leaves; the transfer goes on for the others. When the last waiter leaves, the
///   transfer is cancelled (unless it refreshes the cache, below).
/// - The transfer keeps the first call's timeout. A later waiter whose own limit (call timeout, route
///   deadline) ends before the transfer's latest end gets a timer and times out on it alone; a later waiter
///   with a longer limit still gets the transfer's outcome, a timeout included.
/// - Once a transfer finishes, its key is free again: a call started from a waiter's completion starts a
///   new transfer.
///
/// The cache (a ``ByteLRU`` of answers by key) keeps an answer with what its headers allow
/// (``CacheFreshness``); each lookup judges the entry with its own call's policy (``CacheWindows``):
///
/// - fresh: answered at once (a hit);
/// - within its stale-while-revalidate window: answered at once from the stale entry, and one background
///   transfer refreshes it: the group of a transfer in flight for the key if there is one, else a new group
///   with no waiter that a miss arriving meanwhile joins. A refreshing group is not cancelled when its
///   waiters leave; it is admitted like any call and bounded by the call's own timeout. Its answer replaces
///   the entry when storable; a failure leaves the stale entry;
/// - within its stale-if-error window only: a miss that keeps the entry as a fallback; if the transfer fails
///   (transport failure, timeout, 5xx, breaker open, overloaded), the call is answered from it instead;
/// - past every window: the LRU has dropped it already (entries are kept for their longest window).
///
/// One per worker, used on its loop thread only: identical calls on different workers are not merged and do
/// not share a cache. Transfers still running when the worker stops are aborted by `UpstreamClient.close()`
/// with their completions, which hold their group strongly and this coalescer weakly. `Below` is
/// ``CallAttempts`` in a worker, a scripted fake in tests.
final class CallCoalescer<Below: UpstreamCalls>: UpstreamCalls {
    /// A call as this layer hands it out: passed to the layer below unchanged (no key), or a place among the
    /// waiters of a shared transfer (or of the store's lookup).
    enum Handle {
        case below(Below.Handle)
        case waiter(WaiterID)
    }

    /// Numbers the calls that wait on a shared transfer or on the store.
    struct WaiterID: Hashable {
        let raw: UInt64
    }

    private let loop: EventLoop
    private let client: Below
    private var groups: [String: Group] = [:]
    private var waiterGroups: [WaiterID: Group] = [:]
    private var nextWaiterID: UInt64 = 1
    private var cache: ByteLRU<CachedAnswer>
    /// Read by `Worker.metricsSnapshot()` on the loop thread, per upstream name: calls that joined a transfer
    /// already in flight instead of starting one; calls with a cache policy answered from a fresh entry, and
    /// not; calls answered from a stale entry while it was refreshed, and because the partner failed;
    /// background refresh transfers started.
    private(set) var counters = UpstreamCallCounters()
    /// The store's level of the cache (`store` block), nil without one: then nothing below runs.
    var shared: SharedCache?
    /// Calls waiting for the store's answer to a lookup, by key in arrival order, and by waiter id.
    private var storeWaits: [String: [WaiterID]] = [:]
    private var storeWaiters: [WaiterID: StoreWait] = [:]
    /// Keys whose refresh is being claimed in the store (one claim at a time per key).
    private var claiming: Set<String> = []

    private struct CachedAnswer {
        var response: UpstreamResponse
        /// Loop time the answer arrived.
        var storedAt: UInt64
        /// Wall-clock milliseconds the answer arrived (from whichever replica asked the partner).
        var storedAtWallMs: Int
        var freshness: CacheFreshness
    }

    /// A stale answer a waiter is given instead of a failure, until `until` (loop nanoseconds).
    private struct Fallback {
        var response: UpstreamResponse
        var until: UInt64
    }

    /// The waiters of one shared transfer.
    private final class Group {
        let key: String
        let upstreamName: String
        /// The latest the transfer can end: the first call's deadline (libcurl's timeout never outlives it).
        let latestEnd: UInt64
        /// The distinct cache policies of the calls that want the answer stored; empty: it is not stored.
        var policies: [CachePolicy] = []
        /// A call was answered stale on the promise of this transfer: it runs on when its waiters leave (a
        /// background refresh starts with none).
        var refreshesCache = false
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

        func note(_ policy: CachePolicy?) {
            if let policy, !policies.contains(policy) { policies.append(policy) }
        }
    }

    /// A call with a cache policy waiting for the store's lookup before it goes on as ``start`` would.
    private struct StoreWait {
        var key: String
        var request: UpstreamRequest
        var policy: CachePolicy
        var completion: (UpstreamResult) -> Void
    }

    private struct Waiter {
        var startedAt: UInt64
        var timer: TimerID?
        /// `.miss` for a call with a cache policy, nil for one without.
        var cacheUse: CacheUse?
        var policy: CachePolicy?
        var fallback: Fallback?
        var completion: (UpstreamResult) -> Void
    }

    init(loop: EventLoop, client: Below, cacheBytes: Int) {
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

    /// Transfers in flight that have waiters or refresh the cache (for tests and debugging).
    var sharedTransfers: Int { groups.count }

    /// Answers `request` from the cache (when its policy has a `cache` policy and the entry is fresh, or
    /// within its stale-while-revalidate window), or joins the transfer in flight for the same `key` (when
    /// `coalesce`), or starts one. A nil `key`: the call is neither merged nor cached. `completion` runs on the
    /// loop thread, exactly once, unless ``cancel(_:timedOut:)`` is called first; it runs before this returns
    /// when answered from the cache, or when the transfer is refused on the spot.
    func start(_ request: UpstreamRequest, completion: @escaping (UpstreamResult) -> Void) -> Handle {
        let policy = request.policy.cache
        guard let key = request.policy.key, request.policy.coalesce || policy != nil else {
            return .below(client.start(request, completion: completion))
        }
        let id = WaiterID(raw: nextWaiterID)
        nextWaiterID += 1
        if let policy, let shared, shared.isAvailable, !hasUsableEntry(key, policy: policy) {
            awaitStore(
                id, StoreWait(key: key, request: request, policy: policy, completion: completion), shared: shared)
            return .waiter(id)
        }
        begin(id, request, key: key, policy: policy, fromStore: false, completion: completion)
        return .waiter(id)
    }

    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool {
        client.admitsAtOnce(slot)
    }

    /// ``start`` once the store had its say (or without one). `fromStore`: the worker's entry for `key` was
    /// just filled from the store, so a hit on it is the store's.
    private func begin(
        _ id: WaiterID, _ request: UpstreamRequest, key: String, policy: CachePolicy?, fromStore: Bool,
        completion: @escaping (UpstreamResult) -> Void
    ) {
        let coalesce = request.policy.coalesce
        var fallback: Fallback?
        if let policy {
            let now = loop.now
            if let entry = cache.value(forKey: key, now: now) {
                let windows = entry.freshness.windows(for: policy)
                switch windows.state(ageMs: Int((now &- entry.storedAt) / 1_000_000)) {
                case .fresh:
                    if fromStore {
                        shared?.countHit(upstream: request.policy.upstreamName)
                    } else {
                        counters.cacheHits[request.policy.upstreamName, default: 0] &+= 1
                    }
                    let age = Int((now &- entry.storedAt) / 1_000_000)
                    completion(
                        UpstreamResult(
                            outcome: .success(entry.response), elapsedMs: 0, cache: fromStore ? .storeHit : .hit,
                            freshness: .fresh(remainingMs: windows.freshMs - age)))
                    return
                case .staleWhileRevalidate:
                    counters.staleRevalidate[request.policy.upstreamName, default: 0] &+= 1
                    refresh(request, key: key, policy: policy, storedAtWallMs: entry.storedAtWallMs)
                    completion(
                        UpstreamResult(
                            outcome: .success(entry.response), elapsedMs: 0, cache: .staleRevalidate,
                            freshness: .fresh(remainingMs: 0)))
                    return
                case .staleIfError:
                    fallback = Fallback(response: entry.response, until: entry.storedAt &+ Self.ns(windows.errorMs))
                case .expired:
                    break
                }
            }
            counters.cacheMisses[request.policy.upstreamName, default: 0] &+= 1
        }
        var waiter = Waiter(
            startedAt: loop.now, timer: nil, cacheUse: policy == nil ? nil : .miss, policy: policy,
            fallback: fallback, completion: completion)
        if coalesce, let group = groups[key] {
            group.note(policy)
            counters.coalesced[request.policy.upstreamName, default: 0] &+= 1
            let ownEnd = min(request.policy.deadline, loop.now &+ Self.ns(request.policy.timeoutMs))
            if ownEnd < group.latestEnd {
                let delayMs = Int((ownEnd &- min(ownEnd, loop.now)) / 1_000_000)
                waiter.timer = loop.schedule(afterMilliseconds: delayMs) { [weak self] in
                    self?.waiterTimedOut(id)
                }
            }
            add(waiter, id: id, to: group)
            return
        }
        let group = Group(key: key, upstreamName: request.policy.upstreamName, latestEnd: request.policy.deadline)
        group.note(policy)
        if coalesce { groups[key] = group }
        add(waiter, id: id, to: group)
        let transfer = client.start(request) { [weak self, group] result in
            self?.transferFinished(group, result)
        }
        if !group.finished { group.transfer = transfer }
    }

    // MARK: - The store's level

    /// Whether the worker's entry for `key` answers a call at once (fresh, or within stale-while-revalidate).
    private func hasUsableEntry(_ key: String, policy: CachePolicy) -> Bool {
        let now = loop.now
        guard let entry = cache.value(forKey: key, now: now) else { return false }
        switch entry.freshness.windows(for: policy).state(ageMs: Int((now &- entry.storedAt) / 1_000_000)) {
        case .fresh, .staleWhileRevalidate: return true
        case .staleIfError, .expired: return false
        }
    }

    /// Parks a call until the store answers the lookup of its key (one lookup per key at a time; at most the
    /// store's `command_timeout`).
    private func awaitStore(_ id: WaiterID, _ wait: StoreWait, shared: SharedCache) {
        let first = storeWaits[wait.key] == nil
        storeWaits[wait.key, default: []].append(id)
        storeWaiters[id] = wait
        guard first else { return }
        shared.lookUp(wait.key, upstream: wait.request.policy.upstreamName) { [weak self] found in
            self?.storeAnswered(wait.key, found)
        }
    }

    /// Fills the worker's entry from what the store found, then lets every parked call go on as ``start``.
    private func storeAnswered(_ key: String, _ found: SharedCache.Found?) {
        let ids = storeWaits.removeValue(forKey: key) ?? []
        let waits = ids.compactMap { id in storeWaiters.removeValue(forKey: id).map { (id, $0) } }
        loop.refreshNow()
        var filled = false
        if let found, !waits.isEmpty { filled = fill(key, from: found, policies: waits.map(\.1.policy)) }
        for (id, wait) in waits {
            begin(id, wait.request, key: key, policy: wait.policy, fromStore: filled, completion: wait.completion)
        }
    }

    /// Puts a store entry into the worker's cache with its age; false when it is past every window.
    @discardableResult
    private func fill(_ key: String, from found: SharedCache.Found, policies: [CachePolicy]) -> Bool {
        let freshness = found.entry.freshness
        guard let keepMs = policies.map({ freshness.windows(for: $0).keepMs }).max(), keepMs > found.ageMs else {
            return false
        }
        let now = loop.now
        let storedAt = now &- min(now, UInt64(found.ageMs) &* 1_000_000)
        let response = found.entry.response
        let cost = response.body.count + key.utf8.count + (response.contentType?.utf8.count ?? 0) + 256
        cache.insert(
            CachedAnswer(
                response: response, storedAt: storedAt, storedAtWallMs: found.entry.storedAtMs, freshness: freshness),
            forKey: key, cost: cost, expiresAt: storedAt &+ Self.ns(keepMs))
        return true
    }

    /// Stops a call without running its completion; a shared transfer stops with its last waiter (unless it
    /// refreshes the cache). `timedOut`: the route's deadline ended it, which counts against the upstream's
    /// circuit breaker.
    func cancel(_ handle: Handle, timedOut: Bool = false) {
        switch handle {
        case .below(let below):
            client.cancel(below, timedOut: timedOut)
        case .waiter(let id):
            if storeWaiters.removeValue(forKey: id) != nil { return }
            guard let (waiter, _) = remove(id, timedOut: timedOut) else { return }
            if let timer = waiter.timer { loop.cancel(timer) }
        }
    }

    /// Makes sure one transfer refreshes `key`'s entry: the one in flight for it (now kept running even if
    /// its waiters leave), or a new one without waiters. The new one is admitted like any call (connections,
    /// rate, breaker) and bounded by the call's own timeout, not by its route's deadline (the route has its
    /// answer already). It carries the headers of the request that found the entry stale.
    ///
    /// With a store, the refresh happens once across the fleet: one round trip asks whether another replica
    /// stored a newer answer (then it fills this worker's cache) and takes the refresh lock (`SET NX PX`); a
    /// lock held elsewhere leaves the stale entry served until the newer answer is in the store.
    private func refresh(_ request: UpstreamRequest, key: String, policy: CachePolicy, storedAtWallMs: Int) {
        if let group = groups[key] {
            group.note(policy)
            group.refreshesCache = true
            return
        }
        if let shared, shared.isAvailable {
            guard claiming.insert(key).inserted else { return }
            shared.claimRefresh(
                key, upstream: request.policy.upstreamName, newerThan: storedAtWallMs, lockMs: request.policy.timeoutMs
            ) { [weak self] claim in
                guard let self else { return }
                self.claiming.remove(key)
                self.loop.refreshNow()
                switch claim {
                case .newer(let found): self.fill(key, from: found, policies: [policy])
                case .heldElsewhere: break
                case .claimed, .storeFailed:
                    if let group = self.groups[key] {
                        group.note(policy)
                        group.refreshesCache = true
                    } else {
                        self.startRefresh(request, key: key, policy: policy)
                    }
                }
            }
            return
        }
        startRefresh(request, key: key, policy: policy)
    }

    private func startRefresh(_ request: UpstreamRequest, key: String, policy: CachePolicy) {
        var refresh = request
        refresh.policy.deadline = loop.now &+ Self.ns(request.policy.timeoutMs)
        let group = Group(key: key, upstreamName: request.policy.upstreamName, latestEnd: refresh.policy.deadline)
        group.note(policy)
        group.refreshesCache = true
        groups[key] = group
        counters.refreshes[request.policy.upstreamName, default: 0] &+= 1
        let transfer = client.start(refresh) { [weak self, group] result in
            self?.transferFinished(group, result)
        }
        if !group.finished { group.transfer = transfer }
    }

    private func add(_ waiter: Waiter, id: WaiterID, to group: Group) {
        group.waiters[id] = waiter
        group.order.append(id)
        waiterGroups[id] = group
    }

    /// Takes waiter `id` out of its group; cancels the transfer when no waiter is left and it does not
    /// refresh the cache.
    private func remove(_ id: WaiterID, timedOut: Bool = false) -> (Waiter, Group)? {
        guard let group = waiterGroups.removeValue(forKey: id),
            let waiter = group.waiters.removeValue(forKey: id)
        else { return nil }
        if group.waiters.isEmpty && !group.finished && !group.refreshesCache {
            group.finished = true
            if groups[group.key] === group { groups[group.key] = nil }
            if let transfer = group.transfer { client.cancel(transfer, timedOut: timedOut) }
        }
        return (waiter, group)
    }

    private func waiterTimedOut(_ id: WaiterID) {
        guard let (waiter, group) = remove(id) else { return }
        loop.refreshNow()
        deliver(
            UpstreamResult(outcome: .failure(.timeout), elapsedMs: 0), to: waiter, upstream: group.upstreamName,
            now: loop.now)
    }

    private func transferFinished(_ group: Group, _ result: UpstreamResult) {
        group.finished = true
        if groups[group.key] === group { groups[group.key] = nil }
        loop.refreshNow()
        let now = loop.now
        if !group.policies.isEmpty { store(result.outcome, for: group, now: now) }
        // A completion may cancel another waiter of this group (two identical calls of one request): each
        // waiter is looked up again just before its turn.
        for id in group.order {
            guard let waiter = group.waiters.removeValue(forKey: id) else { continue }
            waiterGroups[id] = nil
            if let timer = waiter.timer { loop.cancel(timer) }
            deliver(result, to: waiter, upstream: group.upstreamName, now: now)
        }
    }

    /// Keeps a transfer's answer for as long as the longest window of the group's policies. A newer answer
    /// that may not be kept (a 4xx, `no-store`, `max-age=0`) drops the older entry, so that it is not served
    /// stale after it; a failure or a 5xx leaves the entry alone (stale-if-error serves it).
    private func store(_ outcome: Result<UpstreamResponse, CallFailure>, for group: Group, now: UInt64) {
        guard case .success(let response) = outcome, response.status < 500 else { return }
        guard
            let freshness = CacheFreshness(
                status: response.status, headers: response.cacheHeaders, now: wallClockSeconds()),
            let keepMs = group.policies.map({ freshness.windows(for: $0).keepMs }).max(), keepMs > 0
        else {
            cache.removeValue(forKey: group.key)
            return
        }
        // What an entry holds: the body and key bytes, and a fixed allowance for the rest.
        let cost =
            response.body.count + group.key.utf8.count + (response.contentType?.utf8.count ?? 0) + 256
            + response.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 }
        cache.insert(
            CachedAnswer(
                response: response, storedAt: now, storedAtWallMs: wallClockMilliseconds(), freshness: freshness),
            forKey: group.key, cost: cost, expiresAt: now &+ Self.ns(keepMs))
        shared?.write(group.key, upstream: group.upstreamName, response: response, freshness: freshness, keepMs: keepMs)
    }

    /// Runs a waiter's completion with `result` (with the waiter's own elapsed time), or with its stale fallback
    /// when stale-if-error covers the outcome (``CallFailure/permitsStaleAnswer``, or a 5xx) and the fallback is still within its window.
    private func deliver(_ result: UpstreamResult, to waiter: Waiter, upstream: String, now: UInt64) {
        let elapsedMs = Double(now &- waiter.startedAt) / 1_000_000
        if let fallback = waiter.fallback, now < fallback.until {
            let failed: Bool
            switch result.outcome {
            case .success(let response): failed = response.status >= 500
            case .failure(let failure): failed = failure.permitsStaleAnswer
            }
            if failed {
                counters.staleError[upstream, default: 0] &+= 1
                var stale = result
                stale.outcome = .success(fallback.response)
                stale.elapsedMs = elapsedMs
                stale.cache = .staleError
                stale.freshness = .fresh(remainingMs: 0)
                waiter.completion(stale)
                return
            }
        }
        var delivered = result
        delivered.elapsedMs = elapsedMs
        delivered.cache = waiter.cacheUse
        if let policy = waiter.policy { delivered.freshness = Self.freshness(of: result.outcome, for: policy) }
        waiter.completion(delivered)
    }

    /// How long a transfer's answer is fresh for `policy`, as the cache would judge it just stored.
    private static func freshness(of outcome: Result<UpstreamResponse, CallFailure>, for policy: CachePolicy)
        -> CallFreshness
    {
        guard case .success(let response) = outcome,
            let freshness = CacheFreshness(
                status: response.status, headers: response.cacheHeaders, now: wallClockSeconds())
        else { return .uncacheable }
        if policy.lifetime == .upstream, freshness.explicitFreshMs == nil { return .uncacheable }
        return .fresh(remainingMs: max(0, freshness.windows(for: policy).freshMs))
    }

    /// Milliseconds as loop nanoseconds; 0 for a negative value.
    private static func ns(_ milliseconds: Int) -> UInt64 {
        UInt64(max(0, milliseconds)) &* 1_000_000
    }
}
