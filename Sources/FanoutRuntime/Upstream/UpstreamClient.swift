import CCurl
import CFanoutLinux
import FanoutCore
import Glibc

/// Identifies an upstream call so it can be cancelled or resumed.
struct TransferID: Hashable {
    /// Who holds the call: the client itself (admission and libcurl), or ``OAuth2Calls``, which gets the call
    /// its token first and hands it to the client then.
    enum Owner: Hashable {
        case client
        case oauth2
    }

    var owner: Owner = .client
    /// From 1 up, per owner.
    let raw: UInt64
}

/// A worker's upstream HTTP client: libcurl multi handles driven by the worker's `EventLoop` through
/// `curl_multi_socket_action` (the ephiperfifo pattern, without its shortcuts; see
/// `docs/design/libcurl-and-epoll.md`). One multi handle (``CurlLane``) up to ``laneCapacity`` transfers in
/// flight, more above, so that libcurl's walk for a free connection stays short.
///
/// - The socket and timer callbacks only record state (epoll interest, one loop timer); they never call libcurl.
/// - Easy handles are pooled and reused; options that never change are set once.
/// - Admission control is ours (libcurl 7.88.1's own pending queue is expensive,
///   docs/design/libcurl-and-epoll.md "Admission control"), decided by an ``AdmissionController`` per worker
///   in the pure core: limits per admission slot (one per upstream identity, see ``AdmissionSlots``), FIFO
///   queues, `max_queue`, breakers and `rate` buckets. This client keeps the queued calls and carries out its
///   answers: start a transfer, fail a call, arm a slot's rate timer. Slots are stable across reloads, so a
///   reload only changes limits (``setLimits(_:)``); counts, queues and breakers carry over.
/// - Completions run after `curl_multi_info_read` is drained, never inside a libcurl callback, so a
///   completion may start or cancel other transfers.
/// - After a burst, pooled easy handles and idle connections beyond the recent peak of transfers are let go
///   (``PoolTrim``, one loop timer armed only while there is something to trim; see
///   `UpstreamClient+IdleConnections.swift`).
final class UpstreamClient: EventHandler {
    let loop: EventLoop
    /// The multi handles (``CurlLane``), lane 0 first; more are made as transfers in flight pass
    /// ``laneCapacity`` per lane, up to ``maxLanes``.
    private var lanes: [CurlLane] = []
    /// Transfers in flight per lane before the next lane is used (see ``CurlLane``).
    static let laneCapacity = 128
    static let maxLanes = 8
    /// CURLMOPT_MAXCONNECTS of every lane (``setLimits(_:)``).
    private var maxConnects = 0
    private var free: [CurlTransfer] = []
    /// The transfers in libcurl, by id (``IDTable``: no hashing).
    private var active = IDTable<CurlTransfer>()
    /// What decides which calls go to libcurl, wait or fail (per admission slot, `AdmissionSlot.raw`).
    private var admission = AdmissionController()
    /// The calls the controller holds in its queues, by id, until it starts or fails them.
    private var queued: [UInt64: QueuedCall] = [:]
    /// The armed `rate` timers, by slot (at most one each).
    private var rateTimers: [Int: TimerID] = [:]
    private var nextID: UInt64 = 1
    private var closed = false
    /// What of the pool to keep after a burst, and the timer that trims the rest (nil: nothing to trim).
    private var poolTrim: PoolTrim
    private var trimTimer: TimerID?
    /// The trim's interval: a burst's handles and connections go one to two intervals after it ended.
    static let defaultTrimIntervalMs = 10_000
    /// Easy handles and idle connections kept however quiet the worker is.
    static let trimFloor = 8
    /// Prebuilt URLs (CURLU) of the fixed URLs called so far, by ``FixedURL/number`` (nil: not called yet, or
    /// its URL could not be parsed), numbers below ``maxURLHandles`` only; freed by ``close()`` after the easy
    /// handles that may point at them. A reload's new URLs get new numbers; an unchanged URL keeps its handle.
    private var urlHandles: [OpaquePointer?] = []
    /// Fixed URLs come from configuration, so few; past this (many reloads), URLs go to libcurl as strings.
    static let maxURLHandles = 1024
    /// What this client knows of each libcurl socket, by descriptor number (see
    /// `UpstreamClient+IdleConnections.swift`).
    var socketStates: [LibcurlSocket] = []
    /// The lane (``CurlLane/index``) whose libcurl last asked for each socket's events, by descriptor number.
    private var socketLanes: [UInt8] = []
    /// Which opening of its descriptor number each connection socket is (from 1 up, over all connections: a
    /// number libcurl closed and reused is another opening), by descriptor number; see
    /// ``completedConnectionSocket(of:)``.
    var socketOpenings: [UInt64] = []
    var connectionOpenings: UInt64 = 0
    /// Completions whose connection was asked of libcurl (CURLINFO_ACTIVESOCKET) because the socket callback
    /// had not named it (for the tests).
    var activeSocketLookups = 0
    /// Connections opened and reused, per upstream name, over finished transfers (cancelled ones are not
    /// counted). Read by `Worker.metricsSnapshot()` on the loop thread.
    var connectionUse: [String: ServerMetrics.ConnectionUse] {
        var uses = connectionUseByName
        for counted in connectionUseBySlot where counted.recorded {
            uses[counted.upstreamName, default: ServerMetrics.ConnectionUse()].opened &+= counted.use.opened
            uses[counted.upstreamName, default: ServerMetrics.ConnectionUse()].reused &+= counted.use.reused
        }
        return uses
    }
    /// ``connectionUse`` as it is counted: by the transfer's admission slot, in an array (a slot's transfers
    /// carry its upstream's name), so a completion neither hashes a name nor allocates.
    private var connectionUseBySlot: [SlotConnectionUse] = []
    /// The transfers whose name is not the one their slot's first transfer carried (none from a
    /// configuration: a slot is one upstream identity), counted by name.
    private var connectionUseByName: [String: ServerMetrics.ConnectionUse] = [:]
    /// The finished transfers of one ``completeFinishedTransfers(_:)`` pass, kept between passes for its
    /// capacity (empty between them).
    private var finishedBuffer: [(CurlTransfer, id: UInt64, CURLcode, overran: Bool)] = []
    /// Times a breaker opened, per upstream name (`fanout_upstream_breaker_opens_total`).
    var breakerOpens: [String: UInt64] { admission.breakerOpens }
    /// Fleet-wide quotas and breakers (a `store` block): nil without one. See ``attachFleet(_:)``.
    private(set) var fleet: UpstreamFleet?
    /// `fleet` as the admission controller asks it.
    private var fleetHooks: AdmissionFleetHooks { AdmissionFleetHooks(fleet: fleet) }
    /// Gives calls to upstreams with `oauth2` their token before admission (set by the worker).
    var oauth2: OAuth2Calls?

    /// What a configuration sets for one admission slot on this worker.
    struct SlotLimits {
        var slot: AdmissionSlot
        var upstreamName: String
        /// Calls inside libcurl at once.
        var limit: Int
        /// Calls waiting for one of those places; nil: unbounded.
        var queueLimit: Int?
        /// nil: no breaker.
        var breaker: BreakerSettings?
        /// Calls started per second; nil: no limit. With a shared rate: this worker's share of the replica's
        /// fallback rate (``SharedRate/fallbackRate(_:)``), used while the store cannot be asked.
        var ratePerSecond: Double? = nil
        /// `rate … shared`: the whole fleet's rate; nil: not shared.
        var sharedRatePerSecond: Double? = nil
        /// The upstream's `timeout` (how long the fleet's probe lock is held at most).
        var timeoutMs: Int = 10_000
    }

    /// One slot's part of ``connectionUse``.
    private struct SlotConnectionUse {
        var upstreamName = ""
        var use = ServerMetrics.ConnectionUse()
        /// A finished transfer was counted here (and `upstreamName` is its name).
        var recorded = false
    }

    /// A call waiting in the controller's queue.
    private struct QueuedCall {
        var request: UpstreamRequest
        var startedAt: UInt64
        var completion: CallCompletion
        /// Cancelled after the controller had already decided to start or fail it (while its decisions were
        /// being carried out): it is dropped, and a place counted for it is given back.
        var cancelled = false
    }

    /// Call ``setLimits(_:)`` before starting calls. `trimIntervalMs`: see ``defaultTrimIntervalMs``.
    init?(loop: EventLoop, trimIntervalMs: Int = UpstreamClient.defaultTrimIntervalMs) {
        self.loop = loop
        poolTrim = PoolTrim(intervalMilliseconds: trimIntervalMs, floor: Self.trimFloor, now: loop.now)
        guard let first = CurlLane(index: 0, client: self) else { return nil }
        lanes = [first]
    }

    /// The lane a new transfer goes to: the first with room, else a new one, else the least busy.
    private func laneForLaunch() -> CurlLane {
        for lane in lanes where lane.inFlight < Self.laneCapacity { return lane }
        if lanes.count < Self.maxLanes, let lane = CurlLane(index: lanes.count, client: self) {
            if maxConnects > 0 { _ = ccurl_multi_setopt_long(lane.multi, CURLMOPT_MAXCONNECTS, maxConnects) }
            lanes.append(lane)
            return lane
        }
        return lanes.min { $0.inFlight < $1.inFlight } ?? lanes[0]
    }

    /// Lanes in use (for the tests).
    var laneCount: Int { lanes.count }

    /// Installs a configuration's admission limits: for each slot, how many transfers may be in libcurl at
    /// once on this worker, how many may wait, and its breaker. Slots not named keep their last limits (an
    /// upstream a reload removed: its queued calls still drain). A raised limit admits queued calls at once;
    /// a lowered one lets running calls finish and holds new ones back (calls already queued stay queued
    /// even beyond a lowered `max_queue`). A breaker keeps its state when its settings change, and is
    /// dropped when the configuration removes it. Call on the loop thread.
    func setLimits(_ slotLimits: [SlotLimits]) {
        guard !closed else { return }
        for settings in slotLimits {
            fleet?.configure(
                slot: settings.slot.raw, name: settings.upstreamName, sharedRate: settings.sharedRatePerSecond,
                breaker: settings.breaker != nil, timeoutMs: settings.timeoutMs)
        }
        // An explicit idle-pool size: the default (4 × handles currently added) collapses after a burst.
        // libcurl's connection cache is kept across reloads: warm connections to unchanged origins stay.
        let total = slotLimits.reduce(0) { $0 + $1.limit }
        maxConnects = max(16, min(4096, total))
        for lane in lanes { _ = ccurl_multi_setopt_long(lane.multi, CURLMOPT_MAXCONNECTS, maxConnects) }
        let settings = slotLimits.map {
            AdmissionController.SlotSettings(
                slot: $0.slot.raw, upstreamName: $0.upstreamName, limit: $0.limit, queueLimit: $0.queueLimit,
                breaker: $0.breaker, ratePerSecond: $0.ratePerSecond)
        }
        carryOut(admission.setLimits(settings, now: loop.now, fleet: fleetHooks))
    }

    /// Calls in libcurl and queued, and breaker states, per upstream name, now (the status page's gauges):
    /// the slots of the latest configuration, and the slots a reload left behind while they still hold calls
    /// (their calls only: an upstream whose URL changed keeps its name, and has one breaker per worker).
    /// Call on the loop thread.
    var load: [String: ServerMetrics.UpstreamLoad] { admission.load }

    /// Shares `rate … shared` quotas and breakers with the fleet through `fleet` (created by the worker when
    /// the configuration has a `store`; nil: none, all local again). Replaces and closes an earlier one; call
    /// ``setLimits(_:)`` after it, on the loop thread.
    func attachFleet(_ fleet: UpstreamFleet?) {
        self.fleet?.close()
        self.fleet = fleet
        guard let fleet else { return }
        fleet.wake = { [weak self] slot in
            guard let self, !self.closed, slot < self.admission.slots.count else { return }
            self.carryOut(self.admission.admitWaiting(slot: slot, now: self.loop.now, fleet: self.fleetHooks))
        }
        fleet.adjustBreaker = { [weak self] slot, change in
            guard let self else { return }
            let now = self.loop.now
            self.admission.adjustBreaker(slot: slot) { change(&$0, now) }
        }
    }

    // MARK: - Starting and cancelling

    /// Starts `request`; `completion` runs later on the loop thread, exactly once, unless `cancel` is called first.
    /// A call to an upstream with `oauth2` gets its token first (``OAuth2Calls``).
    @discardableResult
    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> TransferID {
        if let oauth2, let id = oauth2.start(request, completion: completion) { return id }
        return admit(request, completion: completion)
    }

    /// Starts `request` as it is, through its slot's admission.
    @discardableResult
    func admit(_ request: consuming UpstreamRequest, completion: CallCompletion) -> TransferID {
        let id = nextID
        nextID += 1
        guard !closed else {
            failSoon(completion, .connection("worker is shutting down"))
            return TransferID(raw: id)
        }
        let slot = request.policy.slot.raw
        let deadline = request.policy.deadline
        let startedAt = loop.now
        // A ``QueuedCall`` is made only for a call that waits: made and destroyed for every call started at once,
        // it retained and released the whole request (about 350 instructions per call, callgrind).
        switch admission.request(slot: slot, id: id, now: startedAt, deadline: deadline, fleet: fleetHooks) {
        case .start(let isProbe):
            launch(request, startedAt: startedAt, completion: completion, id: id, isProbe: isProbe)
        case .queued(let actions):
            queued[id] = QueuedCall(request: request, startedAt: startedAt, completion: completion)
            carryOut(actions)
        case .fail(.timeout):
            finish(completion, .failure(.timeout), startedAt: startedAt)
        case .fail(let failure):
            failSoon(completion, failure)
        }
        return TransferID(raw: id)
    }

    /// Whether a call to `slot` started now would go to libcurl at once: its breaker lets it through, a
    /// connection place is free with no call waiting, and a `rate` token is there. A hedge is only sent then
    /// (``CallAttempts``): it never waits in the queue nor fails on admission.
    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool {
        !closed && admission.admitsAtOnce(slot: slot.raw, now: loop.now, fleet: fleetHooks)
    }

    /// Fails a call on a later loop turn, without it having been made (elapsed 0).
    private func failSoon(_ completion: CallCompletion, _ failure: CallFailure) {
        loop.schedule(afterMilliseconds: 0) {
            completion(UpstreamResult(outcome: .failure(failure), elapsedMs: 0))
        }
    }

    /// Stops a call without running its completion. A started HTTP/1.1 connection is closed by libcurl,
    /// not reused. `timedOut`: the caller gave up on a silent upstream (a proxy route's idle timeout), which
    /// counts against its breaker like a libcurl timeout; otherwise the call's outcome is unknown.
    func cancel(_ transferID: TransferID, timedOut: Bool = false) {
        if transferID.owner == .oauth2 {
            oauth2?.cancel(transferID, timedOut: timedOut)
            return
        }
        if queued[transferID.raw] != nil {
            // Skipped when it reaches the queue's head; or, when its start or failure is being carried out, dropped.
            if admission.cancelled(id: transferID.raw) {
                queued[transferID.raw] = nil
            } else {
                queued[transferID.raw]?.cancelled = true
            }
            return
        }
        guard let transfer = active.removeValue(forKey: transferID.raw) else { return }
        let lane = lanes[transfer.lane]
        curl_multi_remove_handle(lane.multi, transfer.easy)
        lane.inFlight -= 1
        admission.finished(
            slot: transfer.slot, wasProbe: transfer.isProbe, outcome: timedOut ? .failed : .abandoned, now: loop.now,
            fleet: fleetHooks)
        recycle(transfer)
        carryOut(admission.admitWaiting(slot: transfer.slot, now: loop.now, fleet: fleetHooks))
    }

    /// Lets a call go (``UpstreamCalls/release(_:)``). One still queued has sent nothing and is cancelled; so
    /// is a streamed transfer (a proxy's: its answer may be large) and one whose upstream has no `abort_grace`.
    /// Any other runs on with a completion that drops its answer, for at most its `abort_grace`: when it ends in
    /// time, admission counts it as usual and libcurl keeps its connection (a client that leaves no longer
    /// costs its partners a reconnect); after that it is cancelled.
    func release(_ transferID: TransferID) {
        if transferID.owner == .oauth2 {
            oauth2?.release(transferID)
            return
        }
        guard let transfer = active[transferID.raw], transfer.abortGraceMs > 0, transfer.receiver == nil,
            transfer.bodySource == nil
        else {
            cancel(transferID)
            return
        }
        transfer.completion = .closure { _ in }
        loop.schedule(afterMilliseconds: transfer.abortGraceMs) { [weak self] in
            self?.cancel(transferID)  // nothing when it has ended: its id is no longer active
        }
    }

    /// Lets a paused streamed transfer go on: receiving (the client took the answer's bytes) or sending (the
    /// client sent more body). Never call from inside a libcurl callback.
    func resume(_ transferID: TransferID, receiving: Bool) {
        if transferID.owner == .oauth2 {
            if let inner = oauth2?.transfer(of: transferID) { resume(inner, receiving: receiving) }
            return
        }
        guard let transfer = active[transferID.raw],
            transfer.paused.remove(receiving ? .receive : .send) != nil
        else { return }
        // The other direction stays as it is. May call the write callback at once with the bytes held back
        // (which may pause again).
        _ = curl_easy_pause(transfer.easy, transfer.paused.rawValue)
        // 7.88.1 does not always re-check the connection after unpausing (curl PR #4001): ask it to.
        var running: Int32 = 0
        let lane = lanes[transfer.lane]
        _ = curl_multi_socket_action(lane.multi, CURL_SOCKET_TIMEOUT, 0, &running)
        completeFinishedTransfers(lane)
    }

    /// Starts a call the controller admitted (its place is counted): a libcurl transfer, or a failure that
    /// gives the place back.
    private func launch(
        _ request: UpstreamRequest, startedAt: UInt64, completion: CallCompletion, id: UInt64,
        isProbe: Bool
    ) {
        let slot = request.policy.slot.raw
        // The controller saw a millisecond or more left; a completion run since may have moved the clock.
        let remainingMs =
            request.policy.deadline > loop.now ? Int((request.policy.deadline - loop.now) / 1_000_000) : 0
        guard remainingMs > 0, let transfer = free.popLast() ?? makeTransfer() else {
            admission.finished(slot: slot, wasProbe: isProbe, outcome: .abandoned, now: loop.now, fleet: fleetHooks)
            let failure: CallFailure =
                remainingMs > 0 ? .connection("could not create a libcurl handle") : .timeout
            finish(completion, .failure(failure), startedAt: startedAt)
            return
        }
        transfer.id = id
        transfer.slot = slot
        transfer.upstreamName = request.policy.upstreamName
        transfer.startedAt = startedAt
        transfer.completion = completion
        transfer.isProbe = isProbe
        transfer.abortGraceMs = request.policy.abortGraceMs
        transfer.prepare(
            request, timeoutMs: min(request.policy.timeoutMs, remainingMs), urlHandle: urlHandle(for: request))
        active.insert(transfer, for: id)
        poolTrim.noteInUse(active.count)
        if trimTimer == nil { armTrimTimer() }
        let lane = laneForLaunch()
        transfer.lane = lane.index
        let code = curl_multi_add_handle(lane.multi, transfer.easy)
        if code == CURLM_OK {
            lane.inFlight += 1
        } else {
            active.removeValue(forKey: id)
            transfer.completion = nil
            transfer.bodySource = nil
            transfer.receiver = nil
            free.append(transfer)
            admission.finished(slot: slot, wasProbe: isProbe, outcome: .abandoned, now: loop.now, fleet: fleetHooks)
            finish(
                completion, .failure(.connection(String(cString: curl_multi_strerror(code)))), startedAt: startedAt)
        }
    }

    /// Carries out what the controller decided for queued calls, in order, then arms the rate timers it asked
    /// for. A completion run here may start or cancel calls (re-entering the controller, which is consistent
    /// between calls).
    private func carryOut(_ actions: AdmissionActions) {
        if actions.isEmpty { return }
        for step in actions.steps {
            switch step {
            case .start(let id, let isProbe):
                guard let call = queued.removeValue(forKey: id) else { continue }
                if call.cancelled {
                    let slot = call.request.policy.slot.raw
                    admission.finished(
                        slot: slot, wasProbe: isProbe, outcome: .abandoned, now: loop.now, fleet: fleetHooks)
                    carryOut(admission.admitWaiting(slot: slot, now: loop.now, fleet: fleetHooks))
                } else {
                    launch(
                        call.request, startedAt: call.startedAt, completion: call.completion, id: id, isProbe: isProbe)
                }
            case .fail(let id, let failure):
                guard let call = queued.removeValue(forKey: id), !call.cancelled else { continue }
                finish(call.completion, .failure(failure), startedAt: call.startedAt)
            }
        }
        for timer in actions.rateTimers { armRateTimer(timer) }
    }

    /// Asks the controller again when a slot's next `rate` token is due.
    private func armRateTimer(_ timer: AdmissionActions.RateTimer) {
        guard !closed else { return }
        let waitNs = timer.deadline > loop.now ? timer.deadline - loop.now : 0
        let slot = timer.slot
        rateTimers[slot] = loop.schedule(afterMilliseconds: max(1, Int((waitNs + 999_999) / 1_000_000))) {
            [weak self] in
            guard let self, !self.closed else { return }
            self.rateTimers[slot] = nil
            self.loop.refreshNow()
            self.carryOut(self.admission.timerFired(slot: slot, now: self.loop.now, fleet: self.fleetHooks))
        }
    }

    /// The prebuilt URL of a request whose URL is fixed, made on its first call. Not for a request that may
    /// follow redirects: libcurl 7.88.1 parses a followed `Location` into the transfer's copy of the URL, and
    /// its connect step copies the CURLOPT_CURLU one again.
    private func urlHandle(for request: UpstreamRequest) -> OpaquePointer? {
        guard let number = request.message.fixedURLNumber, number >= 0, number < Self.maxURLHandles,
            request.policy.maxRedirects == 0
        else { return nil }
        if number < urlHandles.count, let handle = urlHandles[number] { return handle }
        guard let handle = curl_url() else { return nil }
        guard curl_url_set(handle, CURLUPART_URL, request.message.url, 0) == CURLUE_OK else {
            curl_url_cleanup(handle)
            return nil
        }
        if number >= urlHandles.count { urlHandles += repeatElement(nil, count: number + 1 - urlHandles.count) }
        urlHandles[number] = handle
        return handle
    }

    /// Counts a finished transfer's connection use under its slot (``connectionUseBySlot``).
    private func recordConnectionUse(of transfer: CurlTransfer, opened: Int, answered: Bool) {
        let slot = transfer.slot
        guard slot >= 0 else {
            connectionUseByName[transfer.upstreamName, default: ServerMetrics.ConnectionUse()].record(
                opened: opened, answered: answered)
            return
        }
        if slot >= connectionUseBySlot.count {
            connectionUseBySlot += repeatElement(SlotConnectionUse(), count: slot + 1 - connectionUseBySlot.count)
        }
        if !connectionUseBySlot[slot].recorded {
            connectionUseBySlot[slot].upstreamName = transfer.upstreamName
            connectionUseBySlot[slot].recorded = true
        } else if connectionUseBySlot[slot].upstreamName != transfer.upstreamName {
            connectionUseByName[transfer.upstreamName, default: ServerMetrics.ConnectionUse()].record(
                opened: opened, answered: answered)
            return
        }
        connectionUseBySlot[slot].use.record(opened: opened, answered: answered)
    }

    /// Puts a transfer that left libcurl back in the pool (its place was given back to the controller).
    private func recycle(_ transfer: CurlTransfer) {
        transfer.completion = nil
        transfer.body = []
        transfer.bodySource = nil
        transfer.receiver = nil
        free.append(transfer)
    }

    /// Pooled easy handles, spare ones included (for tests and the trim).
    var pooledHandleCount: Int { free.count + active.count }

    /// Arms the trim timer if it is not: something (a connection shut down) waits for the next trim.
    func trimSoon() {
        if trimTimer == nil, !closed { armTrimTimer() }
    }

    private func armTrimTimer() {
        trimTimer = loop.schedule(afterMilliseconds: Int(poolTrim.intervalNanoseconds / 1_000_000)) { [weak self] in
            guard let self else { return }
            self.trimTimer = nil
            self.trimPool()
        }
    }

    /// Frees the spare easy handles beyond the recent peak of transfers (the least recently used first: the
    /// pool hands out its last one), and lets the idle connections beyond it go
    /// (``closeIdleConnections(keeping:)``). Re-arms itself while anything is left above the floor.
    private func trimPool() {
        guard !closed else { return }
        loop.refreshNow()
        let spare = max(0, poolTrim.keep(inUseNow: active.count, now: loop.now) - active.count)
        let excess = max(0, free.count - spare)
        if excess > 0 {
            for transfer in free[..<excess] { transfer.destroy() }
            free.removeFirst(excess)
        }
        let idleLeft = closeIdleConnections(keeping: spare)
        releaseSpareCapacity()
        let shutDown = shutDownConnectionCount
        if shutDown > 0 {
            startPruneTransfers()  // gives the memory back when libcurl has closed them
        } else if excess > 0 {
            giveBackMemory()
        }
        if !active.isEmpty || free.count > poolTrim.floor || idleLeft > poolTrim.floor || shutDown > 0 {
            armTrimTimer()
        }
    }

    /// A burst's queue leaves its tables at their peak capacity (a Dictionary never shrinks as entries go):
    /// 30,000 queued calls held about 12 MiB after they were all done. Once the queue is empty, they are
    /// replaced by empty ones, so the memory goes back with ``giveBackMemory()``.
    private func releaseSpareCapacity() {
        if queued.isEmpty, queued.capacity > Self.spareQueueCapacity { queued = [:] }
        admission.releaseSpareCapacity(above: Self.spareQueueCapacity)
    }

    /// Queue capacity kept after a burst (entries).
    static let spareQueueCapacity = 256

    /// glibc keeps what was freed in its arenas (a burst's handles and connections: megabytes, not at the top of
    /// the heap): after a trim it goes back to the kernel, so RSS falls back too. Once per trim that freed
    /// something; it takes each arena's lock briefly.
    private func giveBackMemory() {
        _ = cfanout_malloc_trim()
    }

    /// libcurl 7.88.1 discards dead connections only when a transfer looks for one (at most once a second),
    /// so an idle worker would keep the descriptors and records of the connections the trim shut down. This
    /// transfer makes it look: HTTP over the Unix socket path `/dev/null`, which is no socket, so its connect
    /// fails at once and no byte leaves the process; on the way libcurl finds the shut-down connections at
    /// EOF and closes them. If it ran within a second of libcurl's last look, the next trim tries again. One
    /// per lane: each has its own connections.
    private func startPruneTransfers() {
        for lane in lanes where lane.pruneTransfer == nil {
            guard let transfer = makeTransfer() else { return }
            _ = ccurl_easy_setopt_string(transfer.easy, CURLOPT_URL, "http://localhost/")
            _ = ccurl_easy_setopt_string(transfer.easy, CURLOPT_UNIX_SOCKET_PATH, "/dev/null")
            transfer.lane = lane.index
            guard curl_multi_add_handle(lane.multi, transfer.easy) == CURLM_OK else {
                transfer.destroy()
                return
            }
            lane.pruneTransfer = transfer
        }
    }

    private func finish(
        _ completion: CallCompletion, _ outcome: Result<UpstreamResponse, CallFailure>, startedAt: UInt64
    ) {
        loop.refreshNow()
        completion(UpstreamResult(outcome: outcome, elapsedMs: Double(loop.now &- startedAt) / 1_000_000))
    }

    // MARK: - Loop integration

    func handleEvent(fd: Int32, events: UInt32) {
        let state = socketState(fd)
        if state.contains(.idle) {
            idleConnectionStirred(fd)
            return
        }
        if !state.contains(.wanted) {
            // A connection socket left registered at libcurl's REMOVE, now stirring while no transfer wants
            // it (a paused transfer, a pooled HTTP/2 connection): it stops being watched.
            loop.deregister(fd: fd)
            return
        }
        var bits: Int32 = 0
        if events & (Interest.read.rawValue | Interest.hangup.rawValue | Interest.error.rawValue) != 0 {
            bits |= CURL_CSELECT_IN
        }
        if events & Interest.write.rawValue != 0 { bits |= CURL_CSELECT_OUT }
        if events & Interest.error.rawValue != 0 { bits |= CURL_CSELECT_ERR }
        var running: Int32 = 0
        let lane = lanes[Int(fd) < socketLanes.count ? Int(socketLanes[Int(fd)]) : 0]
        _ = curl_multi_socket_action(lane.multi, fd, bits, &running)
        completeFinishedTransfers(lane)
    }

    func socketChanged(lane: CurlLane, easy: UnsafeMutableRawPointer?, fd: Int32, what: Int32) {
        if fd >= 0 {
            socketLanes.growToHold(Int(fd), filler: 0)
            socketLanes[Int(fd)] = UInt8(lane.index)
        }
        var state = socketState(fd)
        switch what {
        case CURL_POLL_REMOVE:
            state.remove(.wanted)
            // Lazy deregistration: a connection socket stays in epoll (libcurl closes it through
            // ``socketClosing(_:)``, which drops it), so a keep-alive transfer costs no epoll_ctl. Other
            // sockets (the resolver's) are closed without telling us: they leave now. So does a connection
            // socket whose connect never completed (its transfer cancelled or timed out while connecting,
            // a happy-eyeballs loser): libcurl 7.88.1 closes it right after this REMOVE without
            // CURLOPT_CLOSESOCKETFUNCTION, and a registration left behind would outlive the descriptor, so
            // that the next socket with its number would never be added to epoll.
            if !state.contains(.connection) {
                loop.deregister(fd: fd)
            } else if !state.contains(.connected) {
                loop.deregister(fd: fd)
                state = []
            }
        default:
            state.remove(.idle)  // reused: libcurl's again
            state.insert(.wanted)
            // libcurl asks to read only once the connect completed (while connecting it waits to write).
            if what & CURL_POLL_IN != 0 {
                state.insert(.connected)
                if state.contains(.connection), let easy { noteConnectionRead(fd, by: easy) }
            }
            // Reading includes RDHUP, as the idle watch does: going from one to the other changes nothing.
            var interest: Interest = []
            if what & CURL_POLL_IN != 0 { interest.formUnion(Self.readInterest) }
            if what & CURL_POLL_OUT != 0 { interest.insert(.write) }
            if loop.isRegistered(fd: fd) {
                loop.setInterest(fd: fd, interest)
            } else {
                loop.register(fd: fd, interest: interest, handler: self)
            }
        }
        setSocketState(fd, state)
    }

    func timerChanged(lane: CurlLane, milliseconds: Int) {
        // libcurl moves its timer several times per transfer: the loop timer is moved with it, not remade.
        if let timer = lane.timer, milliseconds >= 0, loop.reschedule(timer, afterMilliseconds: milliseconds) { return }
        if let timer = lane.timer { loop.cancel(timer) }
        lane.timer = nil
        guard milliseconds >= 0 else { return }
        lane.timer = loop.schedule(afterMilliseconds: milliseconds, lane.timerAction)
    }

    /// `lane`'s libcurl timer is due (its loop timer's action, ``CurlLane/timerAction``).
    func timerFired(_ lane: CurlLane) {
        guard !closed else { return }
        lane.timer = nil
        var running: Int32 = 0
        _ = curl_multi_socket_action(lane.multi, CURL_SOCKET_TIMEOUT, 0, &running)
        completeFinishedTransfers(lane)
    }

    /// Runs the completions of `lane`'s finished transfers, after a call into its multi handle (only such a
    /// call finishes transfers, so the other lanes have none waiting).
    private func completeFinishedTransfers(_ lane: CurlLane) {
        var queued: Int32 = 0
        // The buffer is taken, not shared: a completion below may run another pass (``resume(_:receiving:)``).
        var finished: [(CurlTransfer, id: UInt64, CURLcode, overran: Bool)] = []
        swap(&finished, &finishedBuffer)
        drainFinished(lane, into: &finished, queued: &queued)
        // Back for the next pass, empty; a nested pass may have left a buffer there: the larger one is kept.
        defer {
            finished.removeAll(keepingCapacity: true)
            if finishedBuffer.capacity < finished.capacity { swap(&finished, &finishedBuffer) }
        }
        // A streamed answer that arrived whole reaches its client before the completions' bookkeeping: at low
        // load that bookkeeping (about 5,000 instructions per proxied call) was on the client's critical path.
        for (transfer, _, code, overran) in finished where code == CURLE_OK && !overran {
            transfer.receiver?.upstreamArrived()
        }
        completeDrained(finished)
    }

    /// Takes one lane's finished transfers out of libcurl (their connection noted, their handle removed).
    private func drainFinished(
        _ lane: CurlLane, into finished: inout [(CurlTransfer, id: UInt64, CURLcode, overran: Bool)],
        queued: inout Int32
    ) {
        let multi = lane.multi
        while true {
            let message = ccurl_multi_info_read_done(multi, &queued)
            guard message.done != 0, let easy = message.easy else { break }
            guard let transfer = CurlTransfer.owning(easy) else { continue }
            if transfer === lane.pruneTransfer {
                curl_multi_remove_handle(multi, easy)
                transfer.destroy()
                lane.pruneTransfer = nil
                if lanes.allSatisfy({ $0.pruneTransfer == nil }) { giveBackMemory() }
                continue
            }
            // Asked while the handle is still in the multi handle (see CurlTransfer+Framing.swift).
            var socket = CURL_SOCKET_BAD
            if message.result == CURLE_OK {
                transfer.noteAnswerVersion()
                socket = completedConnectionSocket(of: transfer)
            }
            let overran = message.result == CURLE_OK && transfer.answerOverranContentLength(activeSocket: socket)
            let kept = message.result == CURLE_OK && !overran ? transfer.keptHTTP1Connection(activeSocket: socket) : nil
            // CURLINFO_NUM_CONNECTS: connections this transfer had to open (0: it reused a pooled one).
            var connects = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
            var status = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            transfer.status = status
            recordConnectionUse(of: transfer, opened: connects, answered: status > 0)
            curl_multi_remove_handle(multi, easy)
            lane.inFlight -= 1
            if let kept { watchIdleConnection(kept) }
            finished.append((transfer, transfer.id, message.result, overran))
        }
    }

    /// Runs the completions of the transfers one pass drained.
    private func completeDrained(_ finished: [(CurlTransfer, id: UInt64, CURLcode, overran: Bool)]) {
        // The id is taken at drain time: a completion may cancel a transfer later in this batch (a hedge's
        // loser), and its recycled handle may already carry a queued call admitted in its place.
        for (transfer, id, code, overran) in finished {
            // One lookup, not two (`active[id] === transfer`, then the removal). Ids are never reused, so the entry
            // found is this transfer's; checked anyway.
            guard let removed = active.removeValue(forKey: id) else { continue }
            guard removed === transfer else {
                active.insert(removed, for: id)
                continue
            }
            guard let completion = transfer.completion else { continue }
            let outcome = result(of: transfer, code: code, overran: overran)
            let startedAt = transfer.startedAt
            let slot = transfer.slot
            admission.finished(
                slot: slot, wasProbe: transfer.isProbe,
                outcome: Self.countsAgainstBreaker(outcome) ? .failed : .succeeded, now: loop.now, fleet: fleetHooks)
            recycle(transfer)
            finish(completion, outcome, startedAt: startedAt)
            carryOut(admission.admitWaiting(slot: slot, now: loop.now, fleet: fleetHooks))
        }
    }

    /// Transport failures and 5xx answers count against the upstream's breaker; see
    /// ``CallFailure/countsAgainstBreaker``.
    private static func countsAgainstBreaker(_ outcome: Result<UpstreamResponse, CallFailure>) -> Bool {
        switch outcome {
        case .success(let answer): return CallFailure.status(answer.status).countsAgainstBreaker
        case .failure(let failure): return failure.countsAgainstBreaker
        }
    }

    private func result(
        of transfer: CurlTransfer, code: CURLcode, overran: Bool
    ) -> Result<UpstreamResponse, CallFailure> {
        if code == CURLE_OK && overran {
            let declared = transfer.partnerFraming.contentLengthText ?? "?"
            return .failure(.connection("response longer than its Content-Length of \(declared) bytes"))
        }
        if code == CURLE_OK {
            return .success(
                UpstreamResponse(
                    status: transfer.status, contentType: transfer.contentType, headers: transfer.headers,
                    body: transfer.body,
                    // Filled only for a call with a key: else an empty value is made, not copied (about 140
                    // instructions per call).
                    cacheHeaders: transfer.captureCacheHeaders ? transfer.cacheHeaders : CacheHeaders(),
                    httpVersion: transfer.answerHTTPVersion(),
                    declaredLength: transfer.partnerFraming.declaredLength(decodedByLibcurl: transfer.decodesContent),
                    passedLines: transfer.passedLines))
        }
        if let reason = transfer.abortReason {
            switch reason {
            case .bodyTooLarge: return .failure(.tooLarge)
            case .headersTooLarge:
                return .failure(.connection("response headers over \(CurlTransfer.maxHeaderBytes) bytes"))
            case .tooManyHeaderFields:
                return .failure(.connection("response has more than \(CurlTransfer.maxHeaderFields) header fields"))
            case .ambiguousFraming(let fault): return .failure(.connection("\(fault)"))
            }
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(.timeout)
        case CURLE_COULDNT_CONNECT:
            return .failure(.refused)
        case CURLE_COULDNT_RESOLVE_HOST:
            return .failure(.unreachable(transfer.errorText(code)))
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE,
            CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_ENGINE_NOTFOUND,
            CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_SHUTDOWN_FAILED:
            return .failure(.tls(transfer.errorText(code)))
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            // With TLS 1.3 the client's handshake is over before the partner checks its certificate: a partner
            // refusing ours (or missing one) sends its alert in place of the answer, so the failure is a read
            // (OpenSSL's text then names the alert: "tlsv13 alert certificate required").
            let text = transfer.errorText(code)
            return .failure(text.contains("SSL routines") && text.contains(" alert ") ? .tls(text) : .connection(text))
        default:
            return .failure(.connection(transfer.errorText(code)))
        }
    }

    // MARK: - Shutdown

    /// Drops queued calls and aborts running ones without running their completions (the worker is stopping;
    /// its connections are closed with it), and frees every libcurl handle. Call on the loop thread while the
    /// loop still exists (never from a deinit: libcurl calls back into this object during cleanup).
    func close() {
        guard !closed else { return }
        closed = true
        if let timer = trimTimer { loop.cancel(timer) }
        trimTimer = nil
        for lane in lanes {
            if let timer = lane.timer { loop.cancel(timer) }
            lane.timer = nil
            if let transfer = lane.pruneTransfer {
                curl_multi_remove_handle(lane.multi, transfer.easy)
                transfer.destroy()
                lane.pruneTransfer = nil
            }
        }
        fleet?.close()
        for timer in rateTimers.values { loop.cancel(timer) }
        rateTimers.removeAll()
        for transfer in active.values {
            curl_multi_remove_handle(lanes[transfer.lane].multi, transfer.easy)
            transfer.destroy()
        }
        active.removeAll()
        for transfer in free { transfer.destroy() }
        free.removeAll()
        queued.removeAll()
        for lane in lanes {
            lane.inFlight = 0
            curl_multi_cleanup(lane.multi)
        }
        for case let handle? in urlHandles { curl_url_cleanup(handle) }
        urlHandles.removeAll()
    }
}
