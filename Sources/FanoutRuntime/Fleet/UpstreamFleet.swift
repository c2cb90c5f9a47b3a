import FanoutCore

/// Counters of one worker's fleet-wide quotas and breakers, read by `Worker.metricsSnapshot()` on the loop
/// thread.
struct FleetCounters {
    /// Tokens the store granted, per upstream name.
    var tokensLeased: [String: UInt64] = [:]
    /// Renewals that came back short (the fleet was at its rate), per upstream name.
    var quotaWaits: [String: UInt64] = [:]
    /// Renewals that got no answer: the local limit decided for a while, per upstream name.
    var quotaFallbacks: [String: UInt64] = [:]
    /// Breakers opened here because another replica opened them, per upstream name.
    var breakerOpensLearned: [String: UInt64] = [:]
}

/// One worker's side of the fleet-wide `rate … shared` quotas and breakers (docs/operations/fleet.md): it
/// carries out what ``QuotaLease`` and ``FleetBreaker`` decide, with the worker's ``StoreRouter``. Owned by
/// the worker's ``UpstreamClient``, whose ``AdmissionController`` asks it (through ``AdmissionFleetHooks``) before
/// spending a `rate` token and before a half-open probe, and tells it when a breaker opens or a probe ends. Every store command has a budget; a store that is down
/// or slow leaves the decision to the local limit and the local breaker, as without a store.
final class UpstreamFleet {
    private let loop: EventLoop
    /// The worker's store connection (the worker owns and closes it).
    private let store: StoreRouter
    private let prefix: String
    /// Called with a slot when queued calls may be admitted again (tokens came, or the store gave up).
    var wake: (Int) -> Void = { _ in }
    /// Applies a change to a slot's breaker (the breakers live in the ``UpstreamClient``'s admission
    /// controller).
    var adjustBreaker: (Int, (inout CircuitBreaker, UInt64) -> Void) -> Void = { _, _ in }

    private struct Slot {
        var name: String
        var lease: QuotaLease?
        var breaker: FleetBreaker?
        /// How long the probe lock is held at most: the upstream's timeout and a second.
        var probeTtlMs: Int
        var renewTimer: TimerID?
        var quotaKey: String
        var openKey: String
        var probeKey: String
    }

    private var slots: [Int: Slot] = [:]
    private var scriptSHA: String?
    private var pollTimer: TimerID?
    private var closed = false
    private(set) var counters = FleetCounters()
    /// The budget of a renewal or a lock: longer than a cache lookup's, since calls wait in the queue anyway.
    private let budget: Duration

    init(loop: EventLoop, store: StoreRouter, prefix: String, commandTimeoutMs: Int) {
        self.loop = loop
        self.store = store
        self.prefix = prefix
        self.budget = .milliseconds(max(commandTimeoutMs, 50))
    }

    /// Installs a configuration's shared rate (the fleet's whole rate, nil: none) and breaker of a slot.
    func configure(slot: Int, name: String, sharedRate: Double?, breaker: Bool, timeoutMs: Int) {
        let keys = FleetKeys(prefix: prefix, upstream: name)
        var entry =
            slots[slot]
            ?? Slot(
                name: name, probeTtlMs: timeoutMs + 1_000, quotaKey: keys.quota, openKey: keys.breakerOpen,
                probeKey: keys.breakerProbe)
        entry.probeTtlMs = timeoutMs + 1_000
        if let sharedRate {
            if entry.lease == nil {
                entry.lease = QuotaLease(ratePerSecond: sharedRate, now: loop.now)
            } else {
                entry.lease?.reconfigure(ratePerSecond: sharedRate)
            }
        } else {
            entry.lease = nil
        }
        if breaker {
            if entry.breaker == nil { entry.breaker = FleetBreaker() }
        } else {
            entry.breaker = nil
        }
        slots[slot] = entry
        if pollTimer == nil, slots.values.contains(where: { $0.breaker != nil }) { schedulePoll() }
    }

    // MARK: - Quotas

    /// Whether the lease decides `slot`'s rate now: a shared rate, the store ready, no recent failed renewal.
    /// Otherwise the local `rate` bucket (set to the replica's fallback share) decides.
    func managesRate(slot: Int) -> Bool {
        guard !closed, store.isAvailable, let lease = slots[slot]?.lease else { return false }
        return lease.usesStore(now: loop.now)
    }

    /// Spends a leased token of `slot`, asking for a renewal when one is due; nil when the lease does not
    /// decide (see ``managesRate(slot:)``). A false answer: the call waits; ``wake`` runs when tokens come.
    func takeToken(slot: Int) -> Bool? {
        guard managesRate(slot: slot), var lease = slots[slot]?.lease else { return nil }
        let taken = lease.take(now: loop.now)
        slots[slot]?.lease = lease
        renewIfDue(slot: slot)
        return taken
    }

    /// Whether a leased token is there (for a hedge, which never waits); nil when the lease does not decide.
    func hasToken(slot: Int) -> Bool? {
        guard managesRate(slot: slot), let lease = slots[slot]?.lease else { return nil }
        return lease.hasToken(now: loop.now)
    }

    private func renewIfDue(slot: Int) {
        guard let entry = slots[slot], let lease = entry.lease, entry.renewTimer == nil else { return }
        guard let count = lease.renewal(now: loop.now) else {
            let wait = lease.nanosecondsUntilRenewal(now: loop.now)
            if wait > 0 {
                slots[slot]?.renewTimer = loop.schedule(afterMilliseconds: Int((wait + 999_999) / 1_000_000)) {
                    [weak self] in
                    guard let self, !self.closed else { return }
                    self.slots[slot]?.renewTimer = nil
                    self.loop.refreshNow()
                    self.renewIfDue(slot: slot)
                    self.wake(slot)
                }
            }
            return
        }
        slots[slot]?.lease?.renewalSent()
        let arguments = FleetQuotaScript.arguments(lease, asking: count)
        let command: [String]
        if let scriptSHA {
            command = ["EVALSHA", scriptSHA, "1", entry.quotaKey] + arguments
        } else {
            command = ["EVAL", FleetQuotaScript.source, "1", entry.quotaKey] + arguments
            loadScript()
        }
        store.send(command, budget: budget) { [weak self] result in
            // Runs before `send` returns when the store is not ready: answer on a later turn, never re-entering
            // the admission loop that asked.
            self?.loop.schedule(afterMilliseconds: 0) { self?.renewed(slot: slot, asked: count, result) }
        }
    }

    private func renewed(slot: Int, asked: Int, _ result: Result<RESPValue, StoreFailure>) {
        guard !closed, var lease = slots[slot]?.lease else { return }
        loop.refreshNow()
        let name = slots[slot]?.name ?? ""
        if case .success(.array(let values)) = result, values.count == 2, case .integer(let granted) = values[0],
            case .integer(let waitMs) = values[1]
        {
            lease.granted(granted, asked: asked, retryAfterMs: waitMs, now: loop.now)
            counters.tokensLeased[name, default: 0] &+= UInt64(max(0, granted))
            if granted < asked { counters.quotaWaits[name, default: 0] &+= 1 }
        } else if case .failure(.errorReply(let text)) = result, text.hasPrefix("NOSCRIPT") {
            scriptSHA = nil  // the store restarted: EVAL again (it loads the script) and ask at once
            lease.renewalFailed(now: 0)
        } else {
            lease.renewalFailed(now: loop.now)
            counters.quotaFallbacks[name, default: 0] &+= 1
        }
        slots[slot]?.lease = lease
        wake(slot)
    }

    private func loadScript() {
        store.send(["SCRIPT", "LOAD", FleetQuotaScript.source], budget: budget) { [weak self] result in
            if case .success(.bulkString(let bytes)) = result {
                self?.scriptSHA = String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    // MARK: - Breakers

    /// Whether a call allowed by the local breaker must fail fast all the same: it would be the half-open
    /// probe, and this worker does not hold the fleet's probe lock (asked for now, if not yet).
    func holdsBackProbe(slot: Int, breaker: CircuitBreaker) -> Bool {
        guard !closed, store.isAvailable, var fleet = slots[slot]?.breaker,
            fleet.needsProbeLock(breaker, now: loop.now)
        else { return false }
        guard let probeKey = slots[slot]?.probeKey, let ttl = slots[slot]?.probeTtlMs,
            case .acquireProbe(let ttlMs)? = fleet.probeLockCommand(ttlMs: ttl)
        else {
            slots[slot]?.breaker = fleet
            return true
        }
        slots[slot]?.breaker = fleet
        store.send(["SET", probeKey, "1", "NX", "PX", String(ttlMs)], budget: budget) { [weak self] result in
            self?.loop.schedule(afterMilliseconds: 0) { self?.probeLockAnswered(slot: slot, result) }
        }
        return true
    }

    private func probeLockAnswered(slot: Int, _ result: Result<RESPValue, StoreFailure>) {
        guard !closed, var fleet = slots[slot]?.breaker else { return }
        loop.refreshNow()
        switch result {
        case .success(.simpleString), .success(.null):
            var granted = false
            if case .success(.simpleString) = result { granted = true }
            adjustBreaker(slot) { breaker, now in fleet.probeLockAnswered(granted: granted, breaker: &breaker, now: now)
            }
        default:
            fleet.probeLockUnanswered()
        }
        slots[slot]?.breaker = fleet
    }

    /// The local breaker of `slot` opened: tell the fleet.
    func breakerOpened(slot: Int, cooldownMs: Int) {
        guard !closed, store.isAvailable, let entry = slots[slot], let fleet = entry.breaker else { return }
        guard case .publishOpen(let ms) = fleet.localOpened(cooldownMs: cooldownMs) else { return }
        store.send(["SET", entry.openKey, "1", "PX", String(ms)], budget: budget) { _ in }
    }

    /// A probe of `slot` ended (after its outcome was recorded): release the fleet's lock if this worker held it.
    func probeEnded(slot: Int) {
        guard let probeKey = slots[slot]?.probeKey, var fleet = slots[slot]?.breaker else { return }
        let command = fleet.probeFinished()
        slots[slot]?.breaker = fleet
        guard command == .releaseProbe, !closed, store.isAvailable else { return }
        store.send(["DEL", probeKey], budget: budget) { _ in }
    }

    private func schedulePoll() {
        pollTimer = loop.schedule(afterMilliseconds: FleetBreaker.pollIntervalMs) { [weak self] in
            guard let self, !self.closed else { return }
            self.pollTimer = nil
            self.poll()
            if self.slots.values.contains(where: { $0.breaker != nil }) { self.schedulePoll() }
        }
    }

    /// One `PTTL open` and one `EXISTS probe` per upstream with a breaker, pipelined.
    private func poll() {
        guard store.isAvailable else {
            for slot in Array(slots.keys) where slots[slot]?.breaker != nil { slots[slot]?.breaker?.storeLost() }
            return
        }
        for (slot, entry) in slots where entry.breaker != nil {
            var remaining: Int??
            store.send(["PTTL", entry.openKey], budget: budget) { result in
                if case .success(.integer(let ms)) = result { remaining = .some(ms > 0 ? ms : nil) }
            }
            store.send(["EXISTS", entry.probeKey], budget: budget) { [weak self] result in
                guard let self, !self.closed, case .some(let openMs) = remaining,
                    case .success(.integer(let exists)) = result, var fleet = self.slots[slot]?.breaker
                else { return }
                self.loop.refreshNow()
                var learned = false
                self.adjustBreaker(slot) { breaker, now in
                    let wasClosed: Bool
                    if case .closed = breaker.state { wasClosed = true } else { wasClosed = false }
                    fleet.polled(openRemainingMs: openMs, probeHeld: exists > 0, breaker: &breaker, now: now)
                    if wasClosed, case .open = breaker.state { learned = true }
                }
                self.slots[slot]?.breaker = fleet
                if learned { self.counters.breakerOpensLearned[entry.name, default: 0] &+= 1 }
            }
        }
    }

    /// Stops the timers. Call on the loop thread when the worker stops.
    func close() {
        closed = true
        if let pollTimer { loop.cancel(pollTimer) }
        pollTimer = nil
        for (slot, entry) in slots {
            if let timer = entry.renewTimer { loop.cancel(timer) }
            slots[slot]?.renewTimer = nil
        }
    }
}

/// The client's fleet as its ``AdmissionController`` sees it: without one (nil), every answer is ``NoFleet``'s.
/// A concrete type, so the controller's questions cost a direct call each (see ``AdmissionFleet``).
struct AdmissionFleetHooks: AdmissionFleet {
    let fleet: UpstreamFleet?

    func takeToken(slot: Int) -> Bool? { fleet?.takeToken(slot: slot) }
    func hasToken(slot: Int) -> Bool? { fleet?.hasToken(slot: slot) }
    func managesRate(slot: Int) -> Bool { fleet?.managesRate(slot: slot) ?? false }
    func holdsBackProbe(slot: Int, breaker: CircuitBreaker) -> Bool {
        fleet?.holdsBackProbe(slot: slot, breaker: breaker) ?? false
    }
    func breakerOpened(slot: Int, cooldownMs: Int) { fleet?.breakerOpened(slot: slot, cooldownMs: cooldownMs) }
    func probeEnded(slot: Int) { fleet?.probeEnded(slot: slot) }
}
