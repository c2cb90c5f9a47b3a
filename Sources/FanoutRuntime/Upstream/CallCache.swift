import FanoutCore

/// Answers calls with a ``CachePolicy`` from the worker's cache (level 1, a ``ByteLRU`` of answers by key) and
/// the shared store's (level 2, ``SharedCache``), above single-flight coalescing (``CallCoalescer``), which it
/// owns: calls it does not answer go on to the coalescer, which merges identical ones.
///
/// The cache keeps an answer with what its headers allow (``CacheFreshness``); each lookup judges the entry
/// with its own call's policy (``CacheWindows``):
///
/// - fresh: answered at once (a hit);
/// - within its stale-while-revalidate window: answered at once from the stale entry, and one background
///   transfer refreshes it: the coalescer's transfer in flight for the key if there is one (told to run on
///   when its waiters leave), else a new one with no waiter that a miss arriving meanwhile joins. A refresh is
///   admitted like any call and bounded by the call's own timeout. Its answer replaces the entry when
///   storable; a failure leaves the stale entry;
/// - within its stale-if-error window only: a miss that keeps the entry as a fallback; if the transfer fails
///   (transport failure, timeout, 5xx, breaker open, overloaded), the call is answered from it instead;
/// - past every window: the LRU has dropped it already (entries are kept for their longest window).
///
/// A transfer's answer is stored once: for a call that is not coalesced, when it completes; for a shared
/// transfer, when the coalescer reports its end (``CallCoalescer/transferEnded``), with the policies of every
/// call of the group merged (the "pending fill" of its key, kept here while the transfer runs).
///
/// One per worker, used on its loop thread only. `Below` is ``CallAttempts`` in a worker, a scripted fake in
/// tests.
final class CallCache<Below: UpstreamCalls>: UpstreamCalls {
    /// A call as this layer hands it out: passed to the coalescer (answered from the cache or not), or parked
    /// until the store answers the lookup of its key.
    enum Handle {
        case below(CallCoalescer<Below>.Handle)
        case parked(ParkID)
        /// Answered from the cache before ``start(_:completion:)`` returned: nothing to cancel.
        case answered
    }

    /// Numbers the calls that wait for the store's lookup.
    struct ParkID: Hashable {
        let raw: UInt64
    }

    private let loop: EventLoop
    /// The single-flight layer below this one.
    let coalescer: CallCoalescer<Below>
    private var cache: ByteLRU<CachedAnswer>
    /// Read by `Worker.metricsSnapshot()` on the loop thread, per upstream name: calls with a cache policy
    /// answered from a fresh entry, and not; calls answered from a stale entry while it was refreshed, and
    /// because the partner failed; background refresh transfers started.
    private(set) var counters = UpstreamCallCounters()
    /// The store's level of the cache (`store` block), nil without one: then nothing below runs.
    var shared: SharedCache?
    /// The cache policies of the calls that want the answer of the shared transfer in flight for a key stored
    /// (with its upstream's name): one per coalescer group, merged, written when it ends.
    private var pendingFills: [String: PendingFill] = [:]
    /// Calls waiting for the store's answer to a lookup, by key in arrival order, and by park id.
    private var storeWaits: [String: [ParkID]] = [:]
    private var storeWaiters: [ParkID: StoreWait] = [:]
    /// Parked calls that went on to the coalescer once the store answered: their handle there, until they
    /// complete (none while the call is being started).
    private var resumed: [ParkID: CallCoalescer<Below>.Handle?] = [:]
    private var nextParkID: UInt64 = 1
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

    /// A stale answer a call is given instead of a failure, until `until` (loop nanoseconds).
    private struct Fallback {
        var response: UpstreamResponse
        var until: UInt64
    }

    private struct PendingFill {
        var upstreamName: String
        /// The distinct policies of the group's calls that have one.
        var policies: [CachePolicy]
    }

    /// A call with a cache policy waiting for the store's lookup before it goes on as ``start`` would.
    private struct StoreWait {
        var key: String
        var request: UpstreamRequest
        var policy: CachePolicy
        var completion: CallCompletion
    }

    init(loop: EventLoop, client: Below, cacheBytes: Int) {
        self.loop = loop
        coalescer = CallCoalescer(loop: loop, client: client)
        cache = ByteLRU(capacityBytes: cacheBytes)
        coalescer.transferEnded = { [weak self] key, result in self?.sharedTransferEnded(key, result) }
    }

    /// A reload's `cache_size`: a different size starts an empty cache (entries are dropped, not moved).
    func setCacheCapacity(_ bytes: Int) {
        if bytes != cache.capacityBytes { cache = ByteLRU(capacityBytes: bytes) }
    }

    /// Bytes of cached answers held (for tests).
    var cachedBytes: Int { cache.usedBytes }

    /// Answers `request` from the cache (when it has a `cache` policy and a `key`, and the entry is fresh, or
    /// within its stale-while-revalidate window), after asking the store when this worker has no such entry;
    /// else passes it to the coalescer. `completion` runs on the loop thread, exactly once, unless
    /// ``cancel(_:timedOut:)`` is called first; it runs before this returns when answered from the cache, or
    /// when the transfer is refused on the spot.
    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> Handle {
        guard let policy = request.policy.cache, let key = request.policy.key else {
            return .below(coalescer.start(request, completion: completion))
        }
        if let shared, shared.isAvailable, !hasUsableEntry(key, policy: policy) {
            let id = ParkID(raw: nextParkID)
            nextParkID += 1
            awaitStore(
                id, StoreWait(key: key, request: request, policy: policy, completion: completion), shared: shared)
            return .parked(id)
        }
        guard let handle = begin(request, key: key, policy: policy, fromStore: false, completion: completion) else {
            return .answered
        }
        return .below(handle)
    }

    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool {
        coalescer.admitsAtOnce(slot)
    }

    /// Stops a call without running its completion. `timedOut`: the route's deadline ended it, which counts
    /// against the upstream's circuit breaker.
    func cancel(_ handle: Handle, timedOut: Bool = false) {
        stop(handle) { coalescer.cancel($0, timedOut: timedOut) }
    }

    /// Lets a call go (``UpstreamCalls/release(_:)``): one still waiting for the store has sent nothing.
    func release(_ handle: Handle) {
        stop(handle) { coalescer.release($0) }
    }

    /// What ``cancel(_:timedOut:)`` and ``release(_:)`` share: a call waiting for the store is dropped, and
    /// `stopBelow` stops one the coalescer has.
    private func stop(_ handle: Handle, below stopBelow: (CallCoalescer<Below>.Handle) -> Void) {
        switch handle {
        case .below(let below):
            stopBelow(below)
        case .parked(let id):
            if storeWaiters.removeValue(forKey: id) != nil { return }
            if let below = resumed.removeValue(forKey: id) ?? nil { stopBelow(below) }
        case .answered:
            break
        }
    }

    /// ``start`` once the store had its say (or without one): answers from the worker's entry, or passes the
    /// call to the coalescer (nil: answered). `fromStore`: the worker's entry for `key` was just filled from
    /// the store, so a hit on it is the store's.
    private func begin(
        _ request: UpstreamRequest, key: String, policy: CachePolicy, fromStore: Bool,
        completion: CallCompletion
    ) -> CallCoalescer<Below>.Handle? {
        let upstream = request.policy.upstreamName
        var fallback: Fallback?
        let now = loop.now
        if let entry = cache.value(forKey: key, now: now) {
            let windows = entry.freshness.windows(for: policy)
            let age = Int((now &- entry.storedAt) / 1_000_000)
            switch windows.state(ageMs: age) {
            case .fresh:
                if fromStore {
                    shared?.countHit(upstream: upstream)
                } else {
                    counters.cacheHits[upstream, default: 0] &+= 1
                }
                completion(
                    UpstreamResult(
                        outcome: .success(entry.response), elapsedMs: 0, cache: fromStore ? .storeHit : .hit,
                        freshness: .fresh(remainingMs: windows.freshMs - age)))
                return nil
            case .staleWhileRevalidate:
                counters.staleRevalidate[upstream, default: 0] &+= 1
                refresh(request, key: key, policy: policy, storedAtWallMs: entry.storedAtWallMs)
                completion(
                    UpstreamResult(
                        outcome: .success(entry.response), elapsedMs: 0, cache: .staleRevalidate,
                        freshness: .fresh(remainingMs: 0)))
                return nil
            case .staleIfError:
                fallback = Fallback(response: entry.response, until: entry.storedAt &+ Self.ns(windows.errorMs))
            case .expired:
                break
            }
        }
        counters.cacheMisses[upstream, default: 0] &+= 1
        // A coalesced call's answer is stored once for its group (``sharedTransferEnded``); another's, by itself.
        let storesItself = !request.policy.coalesce
        if !storesItself { note(policy, key: key, upstream: upstream) }
        return coalescer.start(request) { [weak self] result in
            guard let self else { return completion(result) }
            self.finished(
                result, key: key, upstream: upstream, policy: policy, fallback: fallback, storesItself: storesItself,
                completion: completion)
        }
    }

    /// Adds `policy` to the pending fill of `key`'s shared transfer.
    private func note(_ policy: CachePolicy, key: String, upstream: String) {
        if var fill = pendingFills[key] {
            if !fill.policies.contains(policy) { fill.policies.append(policy) }
            pendingFills[key] = fill
        } else {
            pendingFills[key] = PendingFill(upstreamName: upstream, policies: [policy])
        }
    }

    /// The coalescer's shared transfer for `key` ended: stores its answer for the group (nil: cancelled).
    private func sharedTransferEnded(_ key: String, _ result: UpstreamResult?) {
        guard let fill = pendingFills.removeValue(forKey: key), let result else { return }
        store(result.outcome, key: key, upstream: fill.upstreamName, policies: fill.policies, now: loop.now)
    }

    /// A missed call's answer: stored when the call stores itself, then given to `completion`, or its stale
    /// fallback when stale-if-error covers the outcome (``CallFailure/permitsStaleAnswer``, or a 5xx) and the
    /// fallback is still within its window.
    private func finished(
        _ result: UpstreamResult, key: String, upstream: String, policy: CachePolicy, fallback: Fallback?,
        storesItself: Bool, completion: CallCompletion
    ) {
        loop.refreshNow()
        let now = loop.now
        if storesItself { store(result.outcome, key: key, upstream: upstream, policies: [policy], now: now) }
        if let fallback, now < fallback.until {
            let failed: Bool
            switch result.outcome {
            case .success(let response): failed = response.status >= 500
            case .failure(let failure): failed = failure.permitsStaleAnswer
            }
            if failed {
                counters.staleError[upstream, default: 0] &+= 1
                var stale = result
                stale.outcome = .success(fallback.response)
                stale.cache = .staleError
                stale.freshness = .fresh(remainingMs: 0)
                completion(stale)
                return
            }
        }
        var delivered = result
        delivered.cache = .miss
        delivered.freshness = Self.freshness(of: result.outcome, for: policy)
        completion(delivered)
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
    private func awaitStore(_ id: ParkID, _ wait: StoreWait, shared: SharedCache) {
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
            resumed[id] = .some(nil)
            let completion = wait.completion
            let handle = begin(
                wait.request, key: key, policy: wait.policy, fromStore: filled,
                completion: .closure { [weak self] result in
                    self?.resumed[id] = nil
                    completion(result)
                })
            // Still there: the call did not complete while it was started.
            if let handle, resumed[id] != nil { resumed[id] = handle } else { resumed[id] = nil }
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

    /// Makes sure one transfer refreshes `key`'s entry: the coalescer's one in flight for it (now kept
    /// running even if its waiters leave), or a new one without waiters. The new one is admitted like any call
    /// (connections, rate, breaker) and bounded by the call's own timeout, not by its route's deadline (the
    /// route has its answer already). It carries the headers of the request that found the entry stale.
    ///
    /// With a store, the refresh happens once across the fleet: one round trip asks whether another replica
    /// stored a newer answer (then it fills this worker's cache) and takes the refresh lock (`SET NX PX`); a
    /// lock held elsewhere leaves the stale entry served until the newer answer is in the store.
    private func refresh(_ request: UpstreamRequest, key: String, policy: CachePolicy, storedAtWallMs: Int) {
        let upstream = request.policy.upstreamName
        if coalescer.keepRunning(key) {
            note(policy, key: key, upstream: upstream)
            return
        }
        if let shared, shared.isAvailable {
            guard claiming.insert(key).inserted else { return }
            shared.claimRefresh(key, upstream: upstream, newerThan: storedAtWallMs, lockMs: request.policy.timeoutMs) {
                [weak self] claim in
                guard let self else { return }
                self.claiming.remove(key)
                self.loop.refreshNow()
                switch claim {
                case .newer(let found): self.fill(key, from: found, policies: [policy])
                case .heldElsewhere: break
                case .claimed, .storeFailed:
                    if self.coalescer.keepRunning(key) {
                        self.note(policy, key: key, upstream: upstream)
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
        note(policy, key: key, upstream: request.policy.upstreamName)
        counters.refreshes[request.policy.upstreamName, default: 0] &+= 1
        coalescer.startUnattended(refresh, key: key)
    }

    /// Keeps a transfer's answer for as long as the longest window of `policies`. A newer answer that may not
    /// be kept (a 4xx, `no-store`, `max-age=0`) drops the older entry, so that it is not served stale after
    /// it; a failure or a 5xx leaves the entry alone (stale-if-error serves it).
    private func store(
        _ outcome: Result<UpstreamResponse, CallFailure>, key: String, upstream: String, policies: [CachePolicy],
        now: UInt64
    ) {
        guard case .success(let response) = outcome, response.status < 500 else { return }
        guard
            let freshness = CacheFreshness(
                status: response.status, headers: response.cacheHeaders, now: wallClockSeconds()),
            let keepMs = policies.map({ freshness.windows(for: $0).keepMs }).max(), keepMs > 0
        else {
            cache.removeValue(forKey: key)
            return
        }
        // What an entry holds: the body and key bytes, and a fixed allowance for the rest.
        let cost =
            response.body.count + key.utf8.count + (response.contentType?.utf8.count ?? 0) + 256
            + response.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 }
        cache.insert(
            CachedAnswer(
                response: response, storedAt: now, storedAtWallMs: wallClockMilliseconds(), freshness: freshness),
            forKey: key, cost: cost, expiresAt: now &+ Self.ns(keepMs))
        shared?.write(key, upstream: upstream, response: response, freshness: freshness, keepMs: keepMs)
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
