/// Admission control of one worker's upstream calls: a pure state machine, driven by events and an injected
/// monotonic clock (nanoseconds), that returns what to do. The runtime (`UpstreamClient`) owns one, keeps the
/// calls themselves (the controller only knows their ids) and carries out its answers: start a transfer, fail
/// a call, arm a timer.
///
/// One ``SlotState`` per admission slot (one per upstream identity, stable across reloads):
/// - At most `limit` calls are in flight at once; the others wait in a FIFO queue, up to `queueLimit`
///   (`max_queue`; past it a call fails at once with `overloaded`).
/// - An open ``CircuitBreaker`` (`breaker`) fails a call at once with `circuitOpen`, before it is started or
///   queued; a queued call is checked again when it reaches the head of the queue.
/// - A `rate` limit (a ``TokenBucket``) holds calls in the queue until their token is there: the controller
///   then asks for the slot's one rate timer (``AdmissionActions/RateTimer``).
/// - A fleet (``AdmissionFleet``) may decide the rate (leased tokens) and hold back a half-open probe.
///
/// Reloads (``setLimits(_:now:fleet:)``) only change limits: counts, queues, buckets and breakers carry over.
public struct AdmissionController: Sendable {
    /// What a configuration sets for one admission slot on this worker.
    public struct SlotSettings: Sendable, Equatable {
        public var slot: Int
        /// The upstream's name (metrics).
        public var upstreamName: String
        /// Calls in flight at once.
        public var limit: Int
        /// Calls waiting for one of those places; nil: unbounded.
        public var queueLimit: Int?
        /// nil: no breaker.
        public var breaker: BreakerSettings?
        /// Calls started per second; nil: no limit.
        public var ratePerSecond: Double?

        public init(
            slot: Int, upstreamName: String, limit: Int, queueLimit: Int? = nil, breaker: BreakerSettings? = nil,
            ratePerSecond: Double? = nil
        ) {
            self.slot = slot
            self.upstreamName = upstreamName
            self.limit = limit
            self.queueLimit = queueLimit
            self.breaker = breaker
            self.ratePerSecond = ratePerSecond
        }
    }

    /// One slot's state.
    public struct SlotState: Sendable, Equatable {
        /// The upstream name of the latest configuration that named the slot.
        public fileprivate(set) var upstreamName = ""
        public fileprivate(set) var limit = 1
        public fileprivate(set) var queueLimit: Int?
        /// Calls started and not finished.
        public fileprivate(set) var inFlight = 0
        /// Calls queued and not cancelled.
        public fileprivate(set) var waiting = 0
        /// nil: no breaker.
        public fileprivate(set) var breaker: CircuitBreaker?
        /// nil: no `rate`.
        public fileprivate(set) var bucket: TokenBucket?
        /// The slot's rate timer is armed (one at a time).
        public fileprivate(set) var rateTimerArmed = false
        /// Named by the latest configuration.
        public fileprivate(set) var isCurrent = false
        /// Queued calls from `head` on; cancelled ones stay until they reach the head.
        fileprivate var queue: [QueuedCall] = []
        fileprivate var head = 0
    }

    fileprivate struct QueuedCall: Sendable, Equatable {
        var id: UInt64
        var deadline: UInt64
    }

    /// Indexed by slot number.
    public private(set) var slots: [SlotState] = []
    /// Queued call id → its slot (cancelled calls removed).
    private var queuedSlots: [UInt64: Int] = [:]
    /// Times a breaker opened, per upstream name (`fanout_upstream_breaker_opens_total`).
    public private(set) var breakerOpens: [String: UInt64] = [:]

    public init() {}

    /// Entries' room held by the call index and the slot queues (what ``releaseSpareCapacity(above:)`` gives up).
    var queueCapacity: Int {
        slots.reduce(queuedSlots.capacity) { $0 + $1.queue.capacity }
    }

    /// Gives up the storage a burst left behind: the call index and every empty slot queue holding more than
    /// `capacity` entries' room are replaced by empty ones (their capacity never shrinks by itself).
    public mutating func releaseSpareCapacity(above capacity: Int) {
        if queuedSlots.isEmpty, queuedSlots.capacity > capacity { queuedSlots = [:] }
        for slot in slots.indices where slots[slot].head >= slots[slot].queue.count {
            guard slots[slot].queue.capacity > capacity else { continue }
            slots[slot].queue = []
            slots[slot].head = 0
        }
    }

    // MARK: - Configuration

    /// Installs a configuration's limits. Slots not named keep their last limits (an upstream a reload removed:
    /// its queued calls still drain). A raised limit admits queued calls at once (the actions returned); a
    /// lowered one lets calls in flight finish and holds new ones back (calls already queued stay queued even
    /// beyond a lowered `max_queue`). A breaker keeps its state when its settings change and is dropped when
    /// the configuration removes it; a bucket keeps its tokens (up to its new burst).
    public mutating func setLimits(
        _ settings: [SlotSettings], now: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) -> AdmissionActions {
        for index in slots.indices { slots[index].isCurrent = false }
        for entry in settings {
            while slots.count <= entry.slot { slots.append(SlotState()) }
            var state = slots[entry.slot]
            state.isCurrent = true
            state.limit = entry.limit
            state.queueLimit = entry.queueLimit
            state.upstreamName = entry.upstreamName
            if let breaker = entry.breaker {
                if state.breaker == nil { state.breaker = CircuitBreaker(settings: breaker) }
                state.breaker?.settings = breaker
            } else {
                state.breaker = nil
            }
            // A bucket holds one second of the rate (at least one call): the burst a quiet upstream may get.
            if let rate = entry.ratePerSecond {
                if state.bucket == nil {
                    state.bucket = TokenBucket(ratePerSecond: rate, capacity: rate, now: now)
                } else {
                    state.bucket?.reconfigure(ratePerSecond: rate, capacity: rate, now: now)
                }
            } else {
                state.bucket = nil
            }
            slots[entry.slot] = state
        }
        var actions = AdmissionActions()
        for entry in settings { admitWaiting(slot: entry.slot, now: now, fleet: fleet, into: &actions) }
        return actions
    }

    // MARK: - Events

    /// A new call `id` to `slot` (named by ``setLimits(_:now:fleet:)`` before), which counts as timed out at
    /// `deadline`. Ids are the caller's and unique among calls not finished.
    public mutating func request(
        slot: Int, id: UInt64, now: UInt64, deadline: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) -> Admission {
        if let breaker = slots[slot].breaker {
            if !breaker.allows(now: now) || fleet.holdsBackProbe(slot: slot, breaker: breaker) {
                return .fail(.circuitOpen)
            }
        }
        let placeFree = slots[slot].inFlight < slots[slot].limit
        if placeFree, slots[slot].waiting == 0, takeToken(slot: slot, now: now, fleet: fleet) {
            // A token spent on a call that then times out is not given back (as a started call's is not).
            guard Self.hasTimeLeft(deadline: deadline, now: now) else { return .fail(.timeout) }
            return .start(isProbe: begin(slot: slot, now: now))
        }
        if let queueLimit = slots[slot].queueLimit, slots[slot].waiting >= queueLimit {
            return .fail(.overloaded(queueLimit: queueLimit))
        }
        slots[slot].queue.append(QueuedCall(id: id, deadline: deadline))
        slots[slot].waiting += 1
        queuedSlots[id] = slot
        var actions = AdmissionActions()
        // Held back by `rate` rather than by `limit`: admit in order when a token is due.
        if placeFree { admitWaiting(slot: slot, now: now, fleet: fleet, into: &actions) }
        return .queued(actions)
    }

    /// A call ``request(slot:id:now:deadline:fleet:)`` or ``admitWaiting(slot:now:fleet:)`` started has ended:
    /// its outcome goes to the breaker and its place is free. Queued calls are not admitted here: call
    /// ``admitWaiting(slot:now:fleet:)`` after the call's completion has run (it may start or cancel calls, and
    /// a retry it starts must see the breaker this outcome left).
    public mutating func finished(
        slot: Int, wasProbe: Bool, outcome: AdmissionOutcome, now: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) {
        slots[slot].inFlight -= 1
        guard var breaker = slots[slot].breaker else { return }
        let opensBefore = breaker.opens
        switch outcome {
        case .succeeded: breaker.callSucceeded(wasProbe: wasProbe)
        case .failed: breaker.callFailed(wasProbe: wasProbe, now: now)
        case .abandoned: breaker.callAbandoned(wasProbe: wasProbe)
        }
        slots[slot].breaker = breaker
        if outcome == .abandoned { return }
        if breaker.opens != opensBefore {
            breakerOpens[slots[slot].upstreamName, default: 0] &+= breaker.opens &- opensBefore
            fleet.breakerOpened(slot: slot, cooldownMs: breaker.settings.cooldownMs)
        }
        if wasProbe { fleet.probeEnded(slot: slot) }
    }

    /// Queued call `id` is cancelled: it no longer counts as waiting, and is skipped when it reaches the head
    /// of its queue. False when it is not queued (started, finished or unknown).
    @discardableResult
    public mutating func cancelled(id: UInt64) -> Bool {
        guard let slot = queuedSlots.removeValue(forKey: id) else { return false }
        slots[slot].waiting -= 1
        return true
    }

    /// The rate timer of `slot` fired: admits the queued calls whose tokens are there.
    public mutating func timerFired(slot: Int, now: UInt64, fleet: some AdmissionFleet = NoFleet()) -> AdmissionActions
    {
        slots[slot].rateTimerArmed = false
        return admitWaiting(slot: slot, now: now, fleet: fleet)
    }

    /// Admits queued calls of `slot` in order while places (and `rate` tokens) allow: after a call finished, or
    /// when the fleet has tokens again.
    public mutating func admitWaiting(
        slot: Int, now: UInt64, fleet: some AdmissionFleet = NoFleet()
    ) -> AdmissionActions {
        var actions = AdmissionActions()
        guard slots[slot].head < slots[slot].queue.count else { return actions }  // the common case: no queue
        admitWaiting(slot: slot, now: now, fleet: fleet, into: &actions)
        return actions
    }

    /// Lets `change` adjust the breaker of `slot` (the fleet learned that it opened, or was given the probe);
    /// nothing when the slot has none.
    public mutating func adjustBreaker(slot: Int, _ change: (inout CircuitBreaker) -> Void) {
        guard slot < slots.count, var breaker = slots[slot].breaker else { return }
        change(&breaker)
        slots[slot].breaker = breaker
    }

    // MARK: - Questions

    /// Whether a call to `slot` requested now would start at once: its breaker lets it through, a place is free
    /// with no call waiting, and a `rate` token is there (spending nothing). False for a slot never named.
    public func admitsAtOnce(slot: Int, now: UInt64, fleet: some AdmissionFleet = NoFleet()) -> Bool {
        guard slot < slots.count else { return false }
        if let breaker = slots[slot].breaker, !breaker.allows(now: now) { return false }
        if let leased = fleet.hasToken(slot: slot) {
            if !leased { return false }
        } else if let bucket = slots[slot].bucket, bucket.nanosecondsUntilToken(now: now) > 0 {
            return false
        }
        return slots[slot].inFlight < slots[slot].limit && slots[slot].waiting == 0
    }

    /// Calls in flight and queued, and breaker states, per upstream name: the slots of the latest
    /// configuration, and the slots a reload left behind while they still hold calls (their calls only).
    public var load: [String: ServerMetrics.UpstreamLoad] {
        var loads: [String: ServerMetrics.UpstreamLoad] = [:]
        for state in slots {
            guard state.isCurrent || state.inFlight > 0 || state.waiting > 0 else { continue }
            var load = ServerMetrics.UpstreamLoad(inFlight: state.inFlight, queued: state.waiting)
            if state.isCurrent, let breaker = state.breaker { load.addBreaker(breaker.state) }
            loads[state.upstreamName, default: ServerMetrics.UpstreamLoad()].add(load)
        }
        return loads
    }

    // MARK: - Inside

    private mutating func admitWaiting(
        slot: Int, now: UInt64, fleet: some AdmissionFleet, into actions: inout AdmissionActions
    ) {
        while slots[slot].inFlight < slots[slot].limit, slots[slot].head < slots[slot].queue.count {
            let call = slots[slot].queue[slots[slot].head]
            let live = queuedSlots[call.id] != nil
            if live, !takeToken(slot: slot, now: now, fleet: fleet) {
                armRateTimer(slot: slot, now: now, fleet: fleet, into: &actions)
                return
            }
            slots[slot].head += 1
            if slots[slot].head == slots[slot].queue.count {
                slots[slot].queue.removeAll(keepingCapacity: true)
                slots[slot].head = 0
            }
            guard live else { continue }  // cancelled while queued
            queuedSlots[call.id] = nil
            slots[slot].waiting -= 1
            if !Self.hasTimeLeft(deadline: call.deadline, now: now) {
                actions.steps.append(.fail(id: call.id, .timeout))
            } else if let breaker = slots[slot].breaker,
                !breaker.allows(now: now) || fleet.holdsBackProbe(slot: slot, breaker: breaker)
            {
                // Checked again for a call that waited: the breaker may have opened meanwhile.
                actions.steps.append(.fail(id: call.id, .circuitOpen))
            } else {
                actions.steps.append(.start(id: call.id, isProbe: begin(slot: slot, now: now)))
            }
        }
    }

    /// Counts a call as started; true when it is the breaker's half-open probe.
    private mutating func begin(slot: Int, now: UInt64) -> Bool {
        slots[slot].inFlight += 1
        guard slots[slot].breaker != nil else { return false }
        return slots[slot].breaker?.callStarted(now: now) ?? false
    }

    /// Takes a `rate` token of `slot` (true when the slot has no rate limit): a leased one while the fleet
    /// decides the rate, else one of the local bucket.
    private mutating func takeToken(slot: Int, now: UInt64, fleet: some AdmissionFleet) -> Bool {
        if let leased = fleet.takeToken(slot: slot) { return leased }
        // Checked before the in-place mutation: most slots have no `rate`.
        guard slots[slot].bucket != nil else { return true }
        return slots[slot].bucket?.take(now: now) ?? true
    }

    /// Asks for the slot's rate timer at the time its next token is due, unless one is armed or the fleet's
    /// lease decides the rate (it wakes the slot itself when tokens come, or when the store gives up).
    private mutating func armRateTimer(
        slot: Int, now: UInt64, fleet: some AdmissionFleet, into actions: inout AdmissionActions
    ) {
        guard !fleet.managesRate(slot: slot), !slots[slot].rateTimerArmed, let bucket = slots[slot].bucket else {
            return
        }
        slots[slot].rateTimerArmed = true
        actions.rateTimers.append(.init(slot: slot, deadline: now &+ bucket.nanosecondsUntilToken(now: now)))
    }

    /// A call may start only with a millisecond or more left before its deadline.
    private static func hasTimeLeft(deadline: UInt64, now: UInt64) -> Bool {
        deadline > now && deadline - now >= 1_000_000
    }
}
